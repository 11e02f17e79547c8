"""The words on the kiosk screens, per language, and the config's own texts in their place."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.config import KioskConfig


@dataclass(frozen=True)
class KioskTexts:
    """The words on the kiosk screens, in one language."""

    attract: str
    approach: str
    greeting: str  # "{name}" is replaced by the person's name
    unknown: str
    lower_mask: str
    unavailable: str
    unavailable_detail: str


_TEXTS: dict[str, KioskTexts] = {
    "en": KioskTexts(
        "Please look at the camera\nmasks are fine",
        "Please look at the camera",
        "Welcome, {name}!",
        "Welcome!\nPlease see the receptionist.",
        "Please lower your mask for a moment",
        "The camera is temporarily unavailable",
        "Please see the receptionist. We will be back shortly.",
    ),
    "de": KioskTexts(
        "Bitte schauen Sie in die Kamera\nMasken sind kein Problem",
        "Bitte schauen Sie in die Kamera",
        "Willkommen, {name}!",
        "Willkommen!\nBitte melden Sie sich am Empfang.",
        "Bitte nehmen Sie die Maske kurz ab",
        "Die Kamera ist vorübergehend nicht verfügbar",
        "Bitte melden Sie sich am Empfang. Wir sind gleich zurück.",
    ),
    "fr": KioskTexts(
        "Regardez la caméra, s'il vous plaît\nle masque ne gêne pas",
        "Regardez la caméra, s'il vous plaît",
        "Bienvenue, {name} !",
        "Bienvenue !\nVeuillez vous adresser à l'accueil.",
        "Baissez votre masque un instant, s'il vous plaît",
        "La caméra est momentanément indisponible",
        "Veuillez vous adresser à l'accueil. Nous revenons bientôt.",
    ),
    "es": KioskTexts(
        "Mire a la cámara, por favor\nla mascarilla no es problema",
        "Mire a la cámara, por favor",
        "¡Bienvenido/a, {name}!",
        "¡Bienvenido/a!\nPor favor, diríjase a recepción.",
        "Por favor, bájese la mascarilla un momento",
        "La cámara no está disponible en este momento",
        "Por favor, diríjase a recepción. Volvemos enseguida.",
    ),
    "nl": KioskTexts(
        "Kijk alstublieft in de camera\neen mondkapje is geen probleem",
        "Kijk alstublieft in de camera",
        "Welkom, {name}!",
        "Welkom!\nMeld u alstublieft bij de receptie.",
        "Doe uw mondkapje even omlaag, alstublieft",
        "De camera is tijdelijk niet beschikbaar",
        "Meld u alstublieft bij de receptie. We zijn zo terug.",
    ),
}


def texts_for(config: KioskConfig) -> KioskTexts:
    """The language's wording with the config's own texts (where set) in their place."""
    base = _TEXTS.get(config.language, _TEXTS["en"])
    return KioskTexts(
        attract=config.attract_text or base.attract,
        approach=base.approach,
        greeting=config.greeting_text or base.greeting,
        unknown=config.unknown_text or base.unknown,
        lower_mask=config.lower_mask_text or base.lower_mask,
        unavailable=config.unavailable_text or base.unavailable,
        unavailable_detail=base.unavailable_detail,
    )


def greeting_for(template: str, name: str) -> str:
    """The greeting with the name in it ("{name}" only: a name is never a format string)."""
    return template.replace("{name}", name)
