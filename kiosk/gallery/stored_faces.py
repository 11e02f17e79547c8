"""How both gallery backends store a face (kiosk.gallery.sqlite, kiosk.gallery.postgres): crops
as lossless PNG, templates as unit float32 vectors, where a photo came from as a keyed hash of
its file name (never its path); and the one line that refuses templates of another model."""

from __future__ import annotations

import hashlib
import hmac
import re

import cv2
import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.errors import GalleryError


def encode_png(rgb: np.ndarray) -> bytes:
    """RGB uint8 -> PNG bytes (lossless, so re-embedding gives the same vectors)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise GalleryError("cannot encode sample image")
    return bytes(buf.tobytes())


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> RGB uint8."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise GalleryError("a stored sample image is damaged")
    return np.ascontiguousarray(img[:, :, ::-1])


def unit_vector(embedding: np.ndarray | None) -> np.ndarray:
    """A template as a unit float32 vector; refuses empty, non-finite or zero vectors."""
    vec = np.asarray(embedding if embedding is not None else [], np.float32).ravel()
    # The norm in float64: 128 numbers of 1e38 overflow float32 to inf, and vec / inf is zeros.
    norm = float(np.linalg.norm(vec.astype(np.float64))) if vec.size else 0.0
    if not vec.size or not np.isfinite(vec).all() or not np.isfinite(norm) or norm < 1e-6:
        raise GalleryError("refusing an empty or invalid template (nothing was saved)")
    return (vec.astype(np.float64) / norm).astype(np.float32)


def mismatch_message(where: object, others: dict[str, int], model_version: str) -> str:
    """One line for a gallery whose templates were made by another model or alignment."""
    embedder = model_version.split("/")[0]
    if any(v.split("/")[0] == embedder for v in others):
        return (f"{where}: the gallery's templates were made by an earlier face-kiosk (its face alignment "
                f"changed since); run `face-kiosk people reembed` to re-make them from the stored photos")
    return (f"{where}: the gallery's templates were made by {', '.join(others)}, not by {model_version}; "
            "re-embed them (face-kiosk people reembed) or switch model")


_PHOTO_PREFIX = "photo:"
_LABEL = re.compile(r"[A-Za-z0-9 _:-]{1,60}")  # "camera: look left 2", "self-test"


def photo_provenance(source: str, key: bytes) -> str:
    """What a sample keeps of where its photo came from: never a path or a file name.

    A file (anything with a folder or a suffix: ".../Hans_Blix/Hans_Blix_0007.jpg") becomes
    "photo:" and 16 hex digits of an HMAC of its file name under a key derived from the
    gallery's integrity key: the same photo enrolled twice shows as the same value, but a list
    of names (LFW's, a staff list) cannot be hashed to find who is who. A short label without
    a folder or a suffix ("camera", "self-test", "test") is kept as it is; a value already in
    this form is kept (a copied or imported sample)."""
    if not source or (source.startswith(_PHOTO_PREFIX) and len(source) == len(_PHOTO_PREFIX) + 16):
        return source
    if _LABEL.fullmatch(source):
        return source
    name = re.split(r"[\\/]", source)[-1]
    digest = hmac.new(_photo_key(key), name.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return _PHOTO_PREFIX + digest[:16]


def _photo_key(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"face-kiosk photo name v1").derive(key)
