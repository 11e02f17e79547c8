"""One way to open an ONNX model in onnxruntime: verified, on few threads, and lean on memory;
and one way to open it in OpenCV's DNN engine instead, where that is faster (SFace, MiniFASNet).

Memory (measured on SFace, 37 MB of weights, one thread): what the build frees is given back
at once (`kiosk.process_memory`). The CPU arena keeps a pool of its own
peak for every session (14 MB more for SFace) for no measurable speed here (24-29 ms a face
either way, noise included), so it is off.
"""

from __future__ import annotations

import cv2
import onnxruntime as ort

from kiosk.errors import ModelError
from kiosk.models import verified_model_path
from kiosk.process_memory import release_freed_memory


def open_session(key: str, threads: int) -> ort.InferenceSession:
    """The vendored model `key` (sha256-checked) on the CPU; a clear ModelError if it cannot load."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False
    try:
        session = ort.InferenceSession(str(verified_model_path(key)), options,
                                       providers=["CPUExecutionProvider"])
    except ModelError:
        raise
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load model {key}: {exc}") from exc
    release_freed_memory()
    return session


def open_opencv_net(key: str) -> cv2.dnn.Net:
    """The vendored model `key` (sha256-checked) in OpenCV's DNN engine; a clear ModelError if it
    cannot load. The same file gives the same outputs as in onnxruntime (within 1e-6) for less
    CPU on this AVX2 machine: SFace 17.5 against 22 ms, each MiniFASNet 2 against 5 ms (1 thread;
    docs/matching.md "Speed"). OpenCV has no thread count per model: it uses OpenCV's threads."""
    try:
        net = cv2.dnn.readNetFromONNX(str(verified_model_path(key)))
    except cv2.error as exc:
        raise ModelError(f"cannot load model {key}: {exc}") from exc
    release_freed_memory()
    return net
