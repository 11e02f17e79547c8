"""The words on the kiosk's recognition screens, in the visitor's language (kiosk.i18n), with
the config's own texts in their place in the kiosk's configured language."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.config import KioskConfig
from kiosk.i18n import N_, translator
from kiosk.i18n.reserved import LIVENESS_BLINK, LIVENESS_REFUSED, LIVENESS_TURN_HEAD

ATTRACT = N_("Please look at the camera\nmasks are fine")  # i18n: two lines, very large
APPROACH = N_("Please look at the camera")  # i18n: one line under the live picture
GREETING = N_("Welcome, {name}!")  # i18n: {name} is the visitor's name; very large
UNKNOWN = N_("Welcome!\nPlease see the receptionist.")  # i18n: two lines, a large card
LOWER_MASK = N_("Please lower your mask for a moment")  # i18n: one line under the live picture
UNAVAILABLE = N_("The camera is temporarily unavailable")
UNAVAILABLE_DETAIL = N_("Please see the receptionist. We will be back shortly.")


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
    refused: str = ""  # the liveness check refused the face: the same polite card as for a stranger
    turn_head: str = ""  # the active liveness check's prompts
    blink: str = ""

    def challenge(self, kind: str | None) -> str:
        """The prompt for an active liveness challenge ("turn" or "blink")."""
        return self.blink if kind == "blink" else self.turn_head


def texts_for(config: KioskConfig, language: str | None = None) -> KioskTexts:
    """The wording of `language` (default: the kiosk's). The config's own texts (where set) are
    in the kiosk's language, so they replace the catalog's only there: a visitor who picked
    another language reads that language's wording."""
    language = language or config.language
    t = translator(language)
    own = language == config.language
    return KioskTexts(
        attract=(own and config.attract_text) or t(ATTRACT),
        approach=t(APPROACH),
        greeting=(own and config.greeting_text) or t(GREETING),
        unknown=(own and config.unknown_text) or t(UNKNOWN),
        lower_mask=(own and config.lower_mask_text) or t(LOWER_MASK),
        unavailable=(own and config.unavailable_text) or t(UNAVAILABLE),
        unavailable_detail=t(UNAVAILABLE_DETAIL),
        # The refusal card reads as the stranger's (the site's own words included): an attacker
        # learns nothing from it.
        refused=(own and config.unknown_text) or t(LIVENESS_REFUSED),
        turn_head=t(LIVENESS_TURN_HEAD),
        blink=t(LIVENESS_BLINK),
    )


def greeting_for(template: str, name: str) -> str:
    """The greeting with the name in it ("{name}" only: a name is never a format string)."""
    return template.replace("{name}", name)
