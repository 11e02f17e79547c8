"""The visitor's language: gettext catalogs (`resources/i18n/<code>.po`) read at run time.

English is the source language: the code holds the English text, marked `_("...")` where it
is shown or `N_("...")` where it is only defined, and each other language is one `.po` file,
the format every translation tool (Poedit, Weblate, Lokalize, a text editor) reads. Adding a
text or a language: docs/i18n.md.

    t = translator("de")
    t("Welcome, {name}!", name="Ada")     # "Willkommen, Ada!"; {name} is filled in safely

Catalogs are parsed once per process (polib; a few milliseconds). A text missing from a
catalog falls back to the English source, so a catalog behind the code never shows a blank
(the test suite fails on it instead: tests/test_i18n.py).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polib

from kiosk.resources import resource_path

log = logging.getLogger(__name__)

SOURCE_LANGUAGE = "en"
SOURCE_LANGUAGE_NAME = "English"
#: The header field of a `.po` file that names its language in that language ("Deutsch").
NAME_HEADER = "X-Language-Name"
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_CODE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")


def N_(text: str) -> str:  # noqa: N802 - gettext's name for "mark, translate later"
    """Mark `text` as visitor-facing without translating it here (it is translated where shown)."""
    return text


def catalog_dir() -> Path:
    """The folder of the shipped catalogs (`resources/i18n`)."""
    return resource_path("i18n")


def fill(text: str, values: Mapping[str, object]) -> str:
    """`text` with each `{key}` of `values` replaced (only those: a name is never a format string)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def placeholders(text: str) -> set[str]:
    """The `{placeholders}` a text has."""
    return set(PLACEHOLDER.findall(text))


@dataclass(frozen=True)
class Translator:
    """The texts of one language. Call it with the English source text (and its values)."""

    language: str
    name: str  # the language's own name, for the language button ("Deutsch")
    messages: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (context, msgid) -> msgstr

    def __call__(self, msgid: str, /, *, context: str = "", **values: object) -> str:
        """The translation of `msgid` (the English source if it has none), `{placeholders}` filled."""
        return fill(self.messages.get((context, msgid)) or msgid, values)

    def has(self, msgid: str, context: str = "") -> bool:
        """True when this language has its own text for `msgid` (English always has)."""
        return self.language == SOURCE_LANGUAGE or bool(self.messages.get((context, msgid)))


def read_po(path: Path) -> polib.POFile:
    """A catalog file, parsed (polib raises OSError / ValueError for a bad one)."""
    return polib.pofile(str(path), encoding="utf-8", wrapwidth=100)


@functools.cache
def _shipped() -> dict[str, Path]:
    found = {}
    folder = catalog_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.po")):
            if _CODE.match(path.stem):
                found[path.stem] = path
    return found


def languages() -> tuple[str, ...]:
    """The codes of every language shipped, English first."""
    return (SOURCE_LANGUAGE, *(code for code in _shipped() if code != SOURCE_LANGUAGE))


@functools.cache
def translator(language: str) -> Translator:
    """The translator of a shipped language (English for the source language).

    KeyError for a language that is not shipped (the config refuses those before)."""
    if language == SOURCE_LANGUAGE:
        return Translator(SOURCE_LANGUAGE, SOURCE_LANGUAGE_NAME)
    path = _shipped()[language]
    po = read_po(path)
    messages = {(entry.msgctxt or "", entry.msgid): entry.msgstr
                for entry in po if entry.msgstr and not entry.obsolete and "fuzzy" not in entry.flags}
    name = po.metadata.get(NAME_HEADER, "").strip() or language
    return Translator(language, name, messages)


def language_name(language: str) -> str:
    """A language's name in that language, for the language button ("Français")."""
    return translator(language).name
