"""Replace Qt's 32 MB ICU data library in a built app with one that holds what the app uses.

    python packaging/trim_icu.py dist/face-kiosk/_internal/PySide6/Qt/lib/libicudata.so.73

Qt links ICU for collation (sorting names in lists), case mapping and time-zone names; it
formats dates and numbers from its own CLDR tables. The data library carries every locale's
names of languages, regions, currencies and units, the transliterators, number spell-out rules,
character names and the legacy code pages: none of which Qt asks ICU for. What stays (see
`bundle.icu_item_dropped`): the Unicode properties and normalisation, the break rules and
dictionaries, the collation of every language (a Swedish desk sorts names the Swedish way),
the time-zone data, and the locale data of the languages the app speaks.

ICU's own tools do the work: `icupkg` removes the items from the data package, `genccode` turns
it back into assembly with the same entry point (`icudt73_dat`), and the C compiler links it
into a library with the same soname. Linux only (build.sh runs it when the tools are there:
`apt install icu-devtools gcc`). Prints the sizes before and after.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _bundle():  # by path, as the spec does: a `packaging` package would shadow the PyPI one
    spec = importlib.util.spec_from_file_location("face_kiosk_bundle", HERE / "bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*cmd: str, cwd: Path | None = None) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=cwd).stdout


def extract_data(lib: Path) -> tuple[str, bytes]:
    """The entry point's name (`icudt73`) and the data package the library carries."""
    symbols = [line.split() for line in _run("nm", "-D", "-S", "--defined-only", str(lib)).splitlines()]
    entry = next(s for s in symbols if len(s) == 4 and re.fullmatch(r"icudt\d+_dat", s[3]))
    address, size = int(entry[0], 16), int(entry[1], 16)
    # Map the symbol's address to a file offset through the section that holds it.
    for line in _run("readelf", "-SW", str(lib)).splitlines():
        fields = line.split("]", 1)[-1].split()
        if len(fields) > 4 and fields[1] == "PROGBITS":
            start, offset, length = int(fields[2], 16), int(fields[3], 16), int(fields[4], 16)
            if start <= address < start + length:
                blob = lib.read_bytes()[offset + address - start: offset + address - start + size]
                return entry[3][: -len("_dat")], blob
    raise ValueError(f"{lib}: no section holds {entry[3]}")


def trim(lib: Path) -> tuple[int, int]:
    """Rewrite `lib` in place; returns its size before and after."""
    bundle = _bundle()
    entry, blob = extract_data(lib)
    package = f"{entry}l"  # the item prefix inside the data: icudt73l/coll/de.res
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / f"{package}.dat").write_bytes(blob)
        items = _run("icupkg", "-l", f"{package}.dat", cwd=work).split()
        dropped = [item for item in items if bundle.icu_item_dropped(item)]
        (work / "drop.txt").write_text("\n".join(dropped) + "\n", encoding="utf-8")
        (work / "out").mkdir()
        # The output keeps the package's name: ICU finds its items by that prefix.
        _run("icupkg", "-r", "drop.txt", f"{package}.dat", f"out/{package}.dat", cwd=work)
        _run("genccode", "-a", "gcc", "-e", entry, f"{package}.dat", cwd=work / "out")
        soname = next(line.split("[")[1].rstrip("]") for line in _run("readelf", "-d", str(lib)).splitlines()
                      if "(SONAME)" in line)
        _run("cc", "-shared", "-nostdlib", f"-Wl,-soname,{soname}", "-o", "lib.so", f"{package}_dat.S",
             cwd=work / "out")
        before = lib.stat().st_size
        shutil.copyfile(work / "out" / "lib.so", lib)
    return before, lib.stat().st_size


def main() -> int:
    """Trim each library named on the command line."""
    for name in sys.argv[1:]:
        before, after = trim(Path(name))
        print(f"ICU data: {name} {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
