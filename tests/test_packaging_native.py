"""The build's native post-processing (issue 23): packaging/strip_symbols.py and
packaging/trim_icu.py, run on real libraries. Linux, with binutils, ICU's tools and a C compiler;
skipped with the reason where they are missing."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGING = Path(__file__).resolve().parent.parent / "packaging"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the build strips and trims on Linux only")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def test_symbols_are_stripped_only_where_the_library_still_loads(tmp_path):
    _need("cc", "strip", "nm")
    strip_symbols = _load("strip_symbols")
    source = tmp_path / "answer.c"
    source.write_text("static int helper(void) { return 42; }\nint answer(void) { return helper(); }\n")
    lib = tmp_path / "libanswer.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-g", "-o", str(lib), str(source)], check=True)
    before = lib.stat().st_size
    assert "helper" in subprocess.run(["nm", str(lib)], capture_output=True, text=True).stdout

    assert strip_symbols.strip_one(lib) == before - lib.stat().st_size > 0
    assert "helper" not in subprocess.run(["nm", str(lib)], capture_output=True, text=True).stdout
    assert "answer" in subprocess.run(["nm", "-D", str(lib)], capture_output=True, text=True).stdout  # still exported
    import ctypes

    assert ctypes.CDLL(str(lib)).answer() == 42
    assert not list(tmp_path.glob("*.stripped"))

    broken = tmp_path / "libbroken.so"
    broken.write_bytes(b"not an ELF file")
    assert strip_symbols.strip_one(broken) == 0 and broken.read_bytes() == b"not an ELF file"


QT_ICU_PROBE = textwrap.dedent("""
    from PySide6.QtCore import QCollator, QDate, QDateTime, QLocale, QTime, QTimeZone
    words = ["Äpfel", "Zebra", "apfel", "Ölberg", "ñandú", "nube", "Éclair", "eclair", "IJsland", "Straße", "Strasse"]
    moment = QDateTime(QDate(2026, 12, 7), QTime(21, 8))
    for name in ["de_DE", "es_ES", "fr_FR", "nl_NL", "en_GB", "sv_SE", "ja_JP"]:
        locale = QLocale(name)
        print(name, sorted(words, key=QCollator(locale).sortKey), locale.toUpper("straße"),
              locale.toString(moment, "dddd d MMMM yyyy"))
    zone = QTimeZone(b"Europe/Amsterdam")
    print(zone.displayName(moment, QTimeZone.NameType.LongName, QLocale("de_DE")))
    maps = open("/proc/self/maps").read().split()
    print("icudata:", sorted({word for word in maps if "libicudata" in word}))
""")


def test_trimmed_icu_data_gives_qt_the_same_answers(tmp_path):
    """Sorting (also in a language whose other locale data went), case mapping, dates and a
    time-zone name come out the same with the trimmed ICU data as with Qt's own."""
    _need("icupkg", "genccode", "cc", "nm", "readelf")
    import PySide6

    original = next((Path(PySide6.__file__).parent / "Qt" / "lib").glob("libicudata.so.*"))
    trimmed = tmp_path / original.name
    shutil.copyfile(original, trimmed)
    before, after = _load("trim_icu").trim(trimmed)
    assert before == original.stat().st_size and after < before / 2

    def probe(library_path: str | None) -> str:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        if library_path:
            env["LD_LIBRARY_PATH"] = library_path  # searched before the libraries' $ORIGIN runpath
        return subprocess.run([sys.executable, "-c", QT_ICU_PROBE], capture_output=True, text=True, env=env,
                              check=True, timeout=120).stdout

    full, icu = probe(None).split("icudata:")
    assert "Mitteleuropäische" in full and "Montag 7 Dezember 2026" in full and str(original) in icu
    with_trimmed, icu = probe(str(tmp_path)).split("icudata:")
    assert str(trimmed) in icu  # the probe really ran on the trimmed data
    assert with_trimmed == full
