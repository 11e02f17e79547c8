"""The on-screen keyboard's layouts, per language (the widget is ui.kiosk_mode.keyboard).

Each layout is the language's usual typewriter order (QWERTZ, AZERTY, QWERTY) with the letters
its names need on the rows, and a second page of accented letters that names from elsewhere
need (Zoë, Łukasz, Søren, Çelik): the kiosk never refuses a visitor's own spelling. The
special keys are drawn as symbols, so the keyboard has no words to translate."""

from __future__ import annotations

from dataclasses import dataclass

SHIFT = "⇧"
BACKSPACE = "⌫"
SPACE = " "
ACCENTS = "àé"  # the key that shows the accents page (and "abc" goes back)
LETTERS = "abc"


@dataclass(frozen=True)
class Layout:
    """Rows of keys (lower case; the shift key gives upper case)."""

    rows: tuple[tuple[str, ...], ...]


def _rows(*rows: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(row) for row in rows)


_PUNCTUATION = ("-", "'", ".", "@", "&")

LAYOUTS: dict[str, Layout] = {
    "en": Layout(_rows("qwertyuiop", "asdfghjkl", "zxcvbnm")),
    "de": Layout(_rows("qwertzuiopü", "asdfghjklöä", "yxcvbnmß")),
    "fr": Layout(_rows("azertyuiop", "qsdfghjklm", "wxcvbnéèàç")),
    "es": Layout(_rows("qwertyuiop", "asdfghjklñ", "zxcvbnmáéíóú")),
    "nl": Layout(_rows("qwertyuiop", "asdfghjkl", "zxcvbnmëéï")),
}
#: The accents page: letters of names from any Latin-script language.
ACCENTS_PAGE = Layout(_rows("àáâãäåæçčć", "èéêëęěìíîïı", "łñńňòóôõöøœ", "śšşßùúûüůýÿžźż"))


def layout_for(language: str) -> Layout:
    """The letters page of `language` (English's for a language without one)."""
    return LAYOUTS.get(language, LAYOUTS["en"])


def punctuation() -> tuple[str, ...]:
    """The keys beside the space bar (names and companies have hyphens, apostrophes, dots)."""
    return _PUNCTUATION


def apply_key(text: str, key: str, shifted: bool) -> str:
    """`text` after a key press (a letter is upper case when `shifted`)."""
    if key == BACKSPACE:
        return text[:-1]
    if key == SPACE:
        return text + " " if text and not text.endswith(" ") else text
    return text + (key.upper() if shifted and key != "ß" else key)


def auto_shift(text: str) -> bool:
    """True where a name's next letter is a capital: at the start and after a space or hyphen."""
    return not text or text[-1] in " -"
