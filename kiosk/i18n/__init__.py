"""What visitors read, in their language: the catalogs (catalog.py), the extraction of every
visitor-facing text from the code (extract.py), and texts reserved for features to come
(reserved.py). Qt-free and a leaf: any room may translate. How to add a text or a language:
docs/i18n.md.
"""

from kiosk.i18n.catalog import (
    N_,
    SOURCE_LANGUAGE,
    Translator,
    fill,
    language_name,
    languages,
    translator,
)

__all__ = ["N_", "SOURCE_LANGUAGE", "Translator", "fill", "language_name", "languages", "translator"]
