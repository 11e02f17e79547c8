"""The visitor's languages (kiosk.i18n): every visitor-facing text of the code is in the
template, and every shipped language translates all of it, with the same {placeholders}."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kiosk.checkin.texts import texts_for
from kiosk.config import Config, KioskConfig
from kiosk.i18n import N_, SOURCE_LANGUAGE, fill, language_name, languages, translator
from kiosk.i18n.catalog import NAME_HEADER, catalog_dir, placeholders, read_po
from kiosk.i18n.extract import collect, messages_in_source
from kiosk.i18n.reserved import LIVENESS_BLINK, LIVENESS_REFUSED, LIVENESS_TURN_HEAD

ROOT = Path(__file__).resolve().parent.parent
#: The languages the kiosk ships complete (issue 22: English and at least two more).
SHIPPED = ("en", "de", "fr", "es", "nl")
#: A translation may equal its English source only when the translator says so in a comment.
SAME_OK = "same as English"


def _source_messages():
    return {(m.context, m.msgid) for m in collect(ROOT)}


def test_the_shipped_languages():
    assert set(languages()) == set(SHIPPED)
    assert languages()[0] == SOURCE_LANGUAGE
    names = {code: language_name(code) for code in SHIPPED}
    # Each language is named in that language (never a flag).
    assert names == {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español", "nl": "Nederlands"}


def test_the_template_holds_every_visitor_facing_text_of_the_code():
    pot = read_po(catalog_dir() / "messages.pot")
    in_pot = {(e.msgctxt or "", e.msgid) for e in pot}
    in_code = _source_messages()
    assert in_code - in_pot == set(), "texts not in messages.pot: run tools/i18n_update.py"
    assert in_pot - in_code == set(), "messages.pot has texts the code no longer uses: run tools/i18n_update.py"
    assert len(in_code) >= 60


@pytest.mark.parametrize("language", [c for c in SHIPPED if c != SOURCE_LANGUAGE])
def test_every_text_is_translated_with_the_same_placeholders(language):
    po = read_po(catalog_dir() / f"{language}.po")
    assert po.metadata.get("Language") == language
    assert po.metadata.get(NAME_HEADER)
    entries = {(e.msgctxt or "", e.msgid): e for e in po if not e.obsolete}
    missing = sorted(m for _, m in _source_messages() - set(entries))
    assert missing == [], f"{language}.po lacks {missing}: run tools/i18n_update.py and translate"
    problems = []
    for (_, msgid), entry in entries.items():
        if not entry.msgstr.strip():
            problems.append(f"untranslated: {msgid!r}")
        elif "fuzzy" in entry.flags:
            problems.append(f"fuzzy (needs review): {msgid!r}")
        elif placeholders(entry.msgstr) != placeholders(msgid):
            problems.append(f"placeholders {sorted(placeholders(entry.msgstr))} != {sorted(placeholders(msgid))}: "
                            f"{msgid!r}")
        elif entry.msgstr == msgid and SAME_OK not in entry.tcomment:
            problems.append(f"same as English (say '# {SAME_OK}' if right): {msgid!r}")
        elif msgid.count("\n") != entry.msgstr.count("\n"):
            problems.append(f"line breaks differ: {msgid!r}")
    obsolete = [e.msgid for e in po.obsolete_entries()]
    assert problems == [] and obsolete == []


def test_translation_fills_placeholders_and_falls_back_to_english():
    de = translator("de")
    assert de("Welcome, {name}!", name="Ada") == "Willkommen, Ada!"
    # A name is never a format string.
    assert de("Welcome, {name}!", name="{0.__class__} {name}") == "Willkommen, {0.__class__} {name}!"
    # A text a catalog does not have (a site's own) is shown as written.
    assert de("Our own words") == "Our own words"
    assert de.has("Please blink") and not de.has("Our own words")
    assert translator("en")("Welcome, {name}!", name="Ada") == "Welcome, Ada!"
    assert fill("{days} days, {days}", {"days": 90}) == "90 days, 90"
    with pytest.raises(KeyError):
        translator("xx")


def test_the_liveness_texts_exist_in_every_language():
    for code in SHIPPED:
        t = translator(code)
        for msgid in (LIVENESS_TURN_HEAD, LIVENESS_BLINK, LIVENESS_REFUSED):
            assert t.has(msgid)
    assert translator("fr")(LIVENESS_BLINK) == "Clignez des yeux, s'il vous plaît"


def test_kiosk_texts_follow_the_visitor_language_and_the_site_wording_its_own():
    config = KioskConfig(language="de", greeting_text="Servus, {name}!")
    assert texts_for(config).greeting == "Servus, {name}!"  # the site's own words, in its language
    assert texts_for(config, "fr").greeting == "Bienvenue, {name} !"  # a French visitor reads French
    assert texts_for(config, "en").attract.startswith("Please look at the camera")
    assert texts_for(KioskConfig(language="nl")).unknown.startswith("Welkom!")


def test_the_config_accepts_only_shipped_languages():
    assert KioskConfig(language="es").language == "es"
    with pytest.raises(ValidationError, match="no catalog for language 'xx'"):
        KioskConfig(language="xx")
    with pytest.raises(ValidationError, match="no catalog for xx"):
        KioskConfig(languages=["en", "xx"])
    assert KioskConfig(language="de", languages=["en", "fr"]).offered_languages() == ["de", "en", "fr"]
    assert KioskConfig().offered_languages() == ["en", "de", "es", "fr", "nl"]  # English, then by code
    assert KioskConfig(languages=[]).offered_languages() == []
    assert Config.model_validate({"kiosk": {"language": "fr"}}).kiosk.language == "fr"


def test_extraction_reads_marks_literals_context_and_translator_notes():
    source = '\n'.join([
        'from kiosk.i18n import N_',
        'A = N_("Hello")  # i18n: a greeting',
        '# i18n: a button',
        'B = _("Next", context="wizard")',
        'C = _(variable)  # a variable: marked where it was defined',
        'D = other("Not marked")',
    ])
    found = list(messages_in_source(source, "x.py"))
    assert [(m.msgid, m.context, m.comments) for m in found] == [
        ("Hello", "", ["a greeting"]), ("Next", "wizard", ["a button"])]
    assert N_("x") == "x"
