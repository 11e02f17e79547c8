#!/usr/bin/env bash
# Start the built app on a clip under a virtual X server and measure, from the launch:
#   window   - the face-kiosk window is mapped (xdotool, checked between screenshots)
#   frame    - the first video frame is on screen (screenshot with many colours)
#   face box - the first face box is drawn (screenshot with the box's red or green)
# Keeps every screenshot in build/smoke-gui/ and copies the last one to build/smoke-gui.png.
#
#   packaging/smoke-gui.sh [CLIP] [SECONDS] [APP ARGS...]
#       (default: a clip from ../shared/data/video, 20 s; e.g. `... 20 --db gallery.db`)
#
# Needs (Debian/Ubuntu): xvfb x11-apps x11-utils xdotool imagemagick, the Qt xcb libraries
# (see packaging/README.md), and .venv's Python for the pixel checks.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
clip=${1:-$root/../shared/data/video/head-pose-face-detection-female.gif}
seconds=${2:-20}
app=${APP:-$root/dist/face-kiosk/face-kiosk}

if [[ -z "${DISPLAY:-}" ]]; then
    exec xvfb-run -a -s "-screen 0 1280x800x24" "$0" "$clip" "$seconds" "${@:3}"
fi
[[ -x "$app" ]] || { echo "smoke-gui: $app not built (packaging/build.sh)" >&2; exit 1; }

shots="$root/build/smoke-gui"
rm -rf "$shots"
mkdir -p "$shots"
# A throw-away home: the run must not read or write anyone's gallery or config.
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT

now() { date +%s.%N; }
t0=$(now)
HOME="$home" XDG_DATA_HOME="$home/data" XDG_CONFIG_HOME="$home/config" \
    "$app" gui --source "$clip" -v "${@:3}" > "$shots/app.log" 2>&1 &
pid=$!

# xwd is a raw dump (fast); the pictures are converted after the run.
while (( $(echo "$(now) - $t0 < $seconds" | bc) )); do
    t=$(echo "$(now) - $t0" | bc)
    xwd -root -silent > "$shots/$(printf '%08.3f' "$t").xwd"
    if [[ ! -e "$shots/window.s" ]] && xdotool search --onlyvisible --class face-kiosk > /dev/null 2>&1; then
        echo "$t" > "$shots/window.s"
    fi
    kill -0 "$pid" 2>/dev/null || break
done
status=running
if kill -0 "$pid" 2>/dev/null; then
    wid=$(xdotool search --onlyvisible --class face-kiosk 2>/dev/null | head -1)
    [[ -n "$wid" ]] && xprop -id "$wid" WM_CLASS | cut -d= -f2 > "$shots/wm_class.txt"
    kill -TERM "$pid"
    wait "$pid" || true
else
    wait "$pid" && status="exited 0" || status="exited $?"
fi

for f in "$shots"/*.xwd; do
    convert "xwd:$f" "png:${f%.xwd}.png" && rm "$f"
done
last=$(find "$shots" -name '*.png' | sort | tail -1)
cp "$last" "$root/build/smoke-gui.png"

"$root/.venv/bin/python" - "$shots" <<'EOF'
import sys
from pathlib import Path

import numpy as np
from PIL import Image

shots = Path(sys.argv[1])
times, found = [], {}
for png in sorted(shots.glob("*.png")):
    rgb = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(np.int32)
    colours = len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]))
    red = ((rgb[:, 0] > 200) & (rgb[:, 1] < 110) & (rgb[:, 2] < 110)).sum()
    green = ((rgb[:, 1] > 150) & (rgb[:, 0] < 90) & (rgb[:, 2] < 120)).sum()
    times.append(float(png.stem))
    before = times[-2] if len(times) > 1 else 0.0
    if colours > 2000:  # UI chrome has a few dozen colours, a video frame thousands
        found.setdefault("first frame", (before, times[-1]))
    if max(red, green) > 300:
        found.setdefault("first face box", (before, times[-1]))
window = (shots / "window.s").read_text().strip() if (shots / "window.s").exists() else "never"
print(f"window mapped by {float(window):.2f} s" if window != "never" else "window never mapped")
for what in ("first frame", "first face box"):
    if what in found:
        lo, hi = found[what]
        print(f"{what}: between {lo:.2f} s and {hi:.2f} s after launch (consecutive screenshots)")
    else:
        print(f"{what}: not seen")
print(f"{len(times)} screenshots, median interval {np.median(np.diff(times)):.2f} s, in {shots}")
EOF
echo "app: $status; WM_CLASS: $(cat "$shots/wm_class.txt" 2>/dev/null || echo '?'); screenshot: build/smoke-gui.png"
