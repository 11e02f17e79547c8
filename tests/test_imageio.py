"""Bad image files give clear ImageErrors; good ones load upright RGB within the size cap."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiosk.capture.images import load_rgb
from kiosk.errors import ImageError


def _png_claiming_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width x height (a decompression-bomb stand-in)."""
    Image.new("RGB", (4, 4)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length + b"IHDR"
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


def test_loads_rgb_and_caps_the_long_side(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (4000, 1000), (10, 20, 30)).save(path)
    rgb = load_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (480, 1920, 3)
    assert tuple(rgb[0, 0]) == (10, 20, 30)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    img = Image.new("RGB", (200, 100), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(path, exif=exif)
    assert load_rgb(path).shape[:2] == (200, 100)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("text.jpg", b"hello, not an image", "not an image"),
        ("empty.png", b"", "not an image"),
    ],
)
def test_non_images_are_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        load_rgb(path)


def test_truncated_jpeg_is_refused(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)).save(path, quality=95)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageError, match="truncated"):
        load_rgb(path)


def test_huge_image_is_refused_before_decoding(tmp_path):
    path = _png_claiming_size(tmp_path / "huge.png", 20000, 20000)
    with pytest.raises(ImageError, match="too large"):
        load_rgb(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_rgb(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="folder"):
        load_rgb(tmp_path)
