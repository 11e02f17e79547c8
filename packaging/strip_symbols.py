"""Strip the symbol tables and debug info from a built app's shared libraries, keeping only
what still loads.

    python packaging/strip_symbols.py dist/face-kiosk/_internal

The dynamic symbols (what other libraries and Python link against) stay; `.symtab`, `.strtab`
and the debug sections go (15 MB over the app: LiteRT 4 MB, cryptography 3 MB, ...). Some
wheels' libraries were rewritten by auditwheel's patchelf, and binutils' `strip` can break those
("ELF load command address/offset not page-aligned": numpy's OpenBLAS). So each library is
stripped into a copy beside it (same folder, so `$ORIGIN` resolves the same), the copy is loaded
in a fresh process, and it replaces the original only if it loads.
Linux only; build.sh runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

LOAD = "import ctypes, sys; ctypes.CDLL(sys.argv[1])"


def _loads(path: Path) -> bool:
    # Loading runs a library's constructors: onnxruntime's (no longer bundled, but a bundle built
    # from an older tree or a changed spec could hold it) would start its telemetry without this
    # switch (kiosk/security/telemetry.py), and nothing may write to the builder's home.
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ORT_DISABLE_TELEMETRY": "1", "HOME": home}
        return subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True, timeout=120,
                              env=env).returncode == 0


def strip_one(path: Path) -> int:
    """Strip `path` in place if the stripped copy still loads; returns the bytes saved."""
    copy = path.with_name(path.name + ".stripped")
    try:
        if subprocess.run(["strip", "--strip-unneeded", "-o", str(copy), str(path)],
                          capture_output=True).returncode != 0:
            return 0
        saved = path.stat().st_size - copy.stat().st_size
        if saved <= 0 or not _loads(copy):
            return 0
        os.chmod(copy, path.stat().st_mode)
        os.replace(copy, path)
        return saved
    finally:
        copy.unlink(missing_ok=True)


def main() -> int:
    """Strip every shared library under the folder given."""
    root = Path(sys.argv[1])
    total, unchanged = 0, []
    for path in sorted(root.rglob("*.so*")):
        if path.is_symlink() or not path.is_file() or path.suffix == ".stripped":
            continue
        saved = strip_one(path)
        total += saved
        if saved == 0:
            unchanged.append(path.relative_to(root).as_posix())
    print(f"symbols stripped: {total / 1e6:.1f} MB saved; {len(unchanged)} libraries unchanged "
          "(nothing to strip, or the stripped copy did not load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
