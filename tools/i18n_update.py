"""Bring the catalogs up to date with the code (docs/i18n.md).

    .venv/bin/python tools/i18n_update.py            # messages.pot from the code, merged into each .po
    .venv/bin/python tools/i18n_update.py --new it Italiano   # start a new language

Texts new in the code arrive in each `.po` untranslated (msgstr ""); texts gone from the code
are dropped. Then translate the empty entries (any PO editor) and run the tests
(tests/test_i18n.py fails on anything left empty, fuzzy, or with different {placeholders}).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.i18n.catalog import NAME_HEADER, catalog_dir, read_po  # noqa: E402
from kiosk.i18n.extract import collect, template  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Write messages.pot and merge it into every catalog; report what is left to translate."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new", nargs=2, metavar=("CODE", "NAME"), help="start a catalog for a new language")
    args = parser.parse_args(argv)
    folder = catalog_dir()
    pot = template(collect(ROOT))
    pot.save(str(folder / "messages.pot"))
    if args.new:
        code, name = args.new
        path = folder / f"{code}.po"
        if path.exists():
            parser.error(f"{path} exists already")
        po = polib.POFile(wrapwidth=100)
        po.metadata = dict(pot.metadata, Language=code, **{NAME_HEADER: name})
        po.save(str(path))
    for path in sorted(folder.glob("*.po")):
        po = read_po(path)
        po.merge(pot)
        for entry in po.obsolete_entries():
            po.remove(entry)
        po.save(str(path))
        todo = [e for e in po if not e.msgstr or "fuzzy" in e.flags]
        print(f"{path.name}: {len(po)} texts, {len(todo)} to translate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
