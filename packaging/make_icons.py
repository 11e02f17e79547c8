"""Draw the face-kiosk app icon with Pillow: a face wearing a mask on the accent colour.

Writes resources/icons/face-kiosk.png (512 px: window icon and Linux menu icon) and the
platform formats the build needs: packaging/icons/face-kiosk.ico (Windows) and .icns (macOS).
The outputs are committed; run this only after changing the drawing:

    .venv/bin/python packaging/make_icons.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
ACCENT = (31, 111, 235)  # the default accent colour of kiosk mode (config.KioskConfig)
SKIN = (246, 214, 184)
MASK = (168, 215, 240)
INK = (34, 40, 49)
HAIR = (92, 64, 51)
SIZE = 1024  # drawn large, then scaled down for smooth edges


def draw(size: int = SIZE) -> Image.Image:
    """The icon at `size` x `size`, RGBA."""
    s = size / 1024
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([40 * s, 40 * s, 984 * s, 984 * s], radius=200 * s, fill=ACCENT)
    # Head and ears.
    d.ellipse([270 * s, 170 * s, 754 * s, 800 * s], fill=SKIN)
    d.ellipse([232 * s, 430 * s, 300 * s, 560 * s], fill=SKIN)
    d.ellipse([724 * s, 430 * s, 792 * s, 560 * s], fill=SKIN)
    d.chord([270 * s, 160 * s, 754 * s, 560 * s], start=192, end=348, fill=HAIR)  # hair
    # Eyes.
    for cx in (410, 614):
        d.ellipse([(cx - 34) * s, 400 * s, (cx + 34) * s, 468 * s], fill=INK)
    # Straps to the ears, then the mask over nose, mouth and chin.
    d.line([300 * s, 500 * s, 352 * s, 540 * s], fill=(235, 245, 252), width=int(22 * s))
    d.line([724 * s, 500 * s, 672 * s, 540 * s], fill=(235, 245, 252), width=int(22 * s))
    d.rounded_rectangle([318 * s, 520 * s, 706 * s, 760 * s], radius=90 * s, fill=MASK)
    for y in (590, 650):  # pleats
        d.line([352 * s, y * s, 672 * s, y * s], fill=(120, 175, 210), width=int(14 * s))
    # A "recognised" tick badge.
    d.ellipse([700 * s, 700 * s, 940 * s, 940 * s], fill=(46, 160, 67), outline=(255, 255, 255), width=int(18 * s))
    d.line([752 * s, 822 * s, 808 * s, 876 * s, 892 * s, 768 * s], fill=(255, 255, 255), width=int(34 * s),
           joint="curve")
    return img


def main() -> None:
    """Write every icon file from one drawing."""
    big = draw()
    icons = ROOT / "resources" / "icons"
    build = ROOT / "packaging" / "icons"
    icons.mkdir(parents=True, exist_ok=True)
    build.mkdir(parents=True, exist_ok=True)
    big.resize((512, 512), Image.Resampling.LANCZOS).save(icons / "face-kiosk.png", optimize=True)
    big.save(build / "face-kiosk.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128),
                                               (256, 256)])
    big.resize((512, 512), Image.Resampling.LANCZOS).save(build / "face-kiosk.icns")
    for path in (icons / "face-kiosk.png", build / "face-kiosk.ico", build / "face-kiosk.icns"):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
