"""The one way face-kiosk opens an ONNX model: sha256-verified, in OpenCV's DNN engine.

Every ONNX model of the app runs here (SFace, the opt-in mbf, both MiniFASNets), so the app
has no second inference runtime: onnxruntime is not a run-time dependency and no face-kiosk
process loads it (nor, with it, Microsoft's telemetry; kiosk.security.telemetry). The same
files give onnxruntime's outputs within 1e-6 (tests/test_speed_paths.py, face by face) for less
CPU on this AVX2 machine: SFace 17.5 against 22 ms, mbf 16.5 against 21 ms, each MiniFASNet 2
against 5 ms (1 face, 1 thread, CPU time; docs/matching.md "Speed").
"""

from __future__ import annotations

import cv2

from kiosk.errors import ModelError
from kiosk.models import verified_model_path
from kiosk.process_memory import release_freed_memory


def open_opencv_net(key: str) -> cv2.dnn.Net:
    """The vendored model `key` (sha256-checked) in OpenCV's DNN engine; a clear ModelError if it
    cannot load. OpenCV has no thread count per model: it uses OpenCV's own threads."""
    try:
        net = cv2.dnn.readNetFromONNX(str(verified_model_path(key)))
    except cv2.error as exc:
        raise ModelError(f"cannot load model {key}: {exc}") from exc
    release_freed_memory()  # what the build frees goes back at once (kiosk.process_memory)
    return net
