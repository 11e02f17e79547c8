"""Safe image loading: every failure becomes an ImageError with a clear message."""

from __future__ import annotations

import stat
import warnings
from pathlib import Path

import numpy as np

from kiosk.errors import ImageError, os_reason

# A 20000x20000 photo would need 1.2 GB decoded. JPEGs are reduced while decoding
# (libjpeg "draft" mode, nearly free); other formats above the limit are refused.
#: The image files the app reads (photos for enrollment, folders as sources, the CLI).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})

MAX_PIXELS = 40_000_000
WORK_LONG_SIDE = 1920
MIN_SIDE = 16  # narrower than this holds no face (and breaks the detectors' resizing)
MAX_ASPECT = 20.0  # a 1x20000 strip is no photo


def load_rgb(path: str | Path, max_side: int = WORK_LONG_SIDE) -> np.ndarray:
    """Read an image file as an RGB uint8 array, upright (EXIF), long side <= `max_side`."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as exc:  # a name too long, a folder we may not enter: this image only
        raise ImageError(f"{path}: cannot read ({os_reason(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{path}: is a folder, not an image")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block the read, or never end
        raise ImageError(f"{path}: not a regular file (a FIFO, socket or device?); skipped")
    # Imported here: a camera's or a video's start-up has no use for it (0.05 s of imports).
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format == "JPEG":
                    img.draft("RGB", (max_side, max_side))
                if img.width * img.height > MAX_PIXELS:
                    raise ImageError(
                        f"{path}: image too large ({img.width}x{img.height}); "
                        f"at most {MAX_PIXELS // 1_000_000} megapixels"
                    )
                short, long = sorted(img.size)
                if short < MIN_SIDE or long / max(short, 1) > MAX_ASPECT:
                    raise ImageError(f"{path}: {img.width}x{img.height} is too narrow to hold a face")
                upright: Image.Image = ImageOps.exif_transpose(img).convert("RGB")
                upright.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
                return np.asarray(upright, dtype=np.uint8).copy()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or a format we cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: image too large to decode safely") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: unreadable or truncated image ({exc})") from None


