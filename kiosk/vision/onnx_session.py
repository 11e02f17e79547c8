"""One way to open an ONNX model in onnxruntime: verified, on few threads, and lean on memory.

Memory (measured on SFace, 37 MB of weights, one thread): what the build frees is given back
at once (`kiosk.process_memory`). The CPU arena keeps a pool of its own
peak for every session (14 MB more for SFace) for no measurable speed here (24-29 ms a face
either way, noise included), so it is off.
"""

from __future__ import annotations

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
