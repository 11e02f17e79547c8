#!/usr/bin/env bash
# Build the double-click app into dist/face-kiosk/ (PyInstaller, one folder), check it with
# `face-kiosk self-test`, and pack it as dist/face-kiosk-VERSION-OS-ARCH.tar.gz.
#
#   packaging/build.sh            # from the repo root or anywhere; makes .venv if missing
#   packaging/build.sh --clean    # also drop PyInstaller's cache (a full rebuild)
#   SKIP_SELF_TEST=1 packaging/build.sh
#
# Works on Linux and macOS (on macOS the app is dist/Face Kiosk.app). Windows: build.ps1.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
CLEAN=()
[[ "${1:-}" == "--clean" ]] && CLEAN=(--clean)

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
# The app itself plus PyInstaller (pinned to the major version the spec is written for).
if ! "$VENV/bin/python" -c "import kiosk, ui, PyInstaller" 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet -e . 'pyinstaller>=6.5,<7'
fi

version=$("$VENV/bin/python" -c "import kiosk; print(kiosk.__version__)")
os=$(uname -s | tr '[:upper:]' '[:lower:]')
arch=$(uname -m)
start=$(date +%s)

# A build takes both cores for several minutes: stay polite to whatever else runs here.
nice -n "${NICE:-10}" "$VENV/bin/python" -m PyInstaller --noconfirm "${CLEAN[@]}" \
    --distpath dist --workpath build/pyinstaller packaging/face-kiosk.spec

if [[ "$os" == "darwin" ]]; then
    app="dist/Face Kiosk.app"
    exe="$app/Contents/MacOS/face-kiosk"
    out="$app"
else
    out=dist/face-kiosk
    exe="$out/face-kiosk"
    # What a receptionist's admin needs next to the app: the menu entry and its installer.
    cp packaging/face-kiosk.desktop packaging/install-linux.sh packaging/face-kiosk-watch.service "$out/"
    chmod +x "$out/install-linux.sh"
fi
if [[ "$os" == "linux" ]] && command -v strip >/dev/null && command -v readelf >/dev/null; then
    # Debug sections help no receptionist (libpython alone carries 17 MB of them). Safe on every
    # library; `strip --strip-unneeded` is not (it breaks some that auditwheel patched, numpy's
    # OpenBLAS: "ELF load command address/offset not page-aligned"), so strip_symbols.py checks.
    while IFS= read -r -d '' lib; do
        if readelf -S "$lib" 2>/dev/null | grep -q '\.debug_info'; then
            strip --strip-debug "$lib"
        fi
    done < <(find "$out/_internal" -type f \( -name '*.so' -o -name '*.so.*' \) -print0)
    # Then the symbol tables too, for each library whose stripped copy still loads (15 MB).
    "$VENV/bin/python" packaging/strip_symbols.py "$out/_internal"
fi
if [[ "$os" == "linux" ]]; then
    # Qt's ICU data without what Qt never asks ICU for (32 MB -> 10 MB; packaging/trim_icu.py).
    if command -v icupkg >/dev/null && command -v genccode >/dev/null && command -v cc >/dev/null; then
        for lib in "$out"/_internal/PySide6/Qt/lib/libicudata.so.*; do
            "$VENV/bin/python" packaging/trim_icu.py "$lib"
        done
    else
        echo "note: ICU data not trimmed (22 MB more): apt install icu-devtools gcc" >&2
    fi
fi
echo "built $out in $(( $(date +%s) - start )) s"

if [[ -z "${SKIP_SELF_TEST:-}" ]]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # A throw-away database and config: the build machine's own gallery is never touched.
    QT_QPA_PLATFORM=offscreen "$exe" self-test --db "$tmp/gallery.db" --config "$tmp/none.json"
fi

archive="dist/face-kiosk-$version-$os-$arch.tar.gz"
tar -C "$(dirname "$out")" -czf "$archive" "$(basename "$out")"
echo "size: $(du -sh "$out" | cut -f1) on disk, $(du -h "$archive" | cut -f1) as $archive"
