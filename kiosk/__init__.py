"""face-kiosk core: camera sources, vision, gallery, matching, config and CLI. Qt-free."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# No phoning home. face-kiosk itself never loads onnxruntime (every ONNX model runs in OpenCV,
# kiosk.vision.opencv_dnn), but a process that imports kiosk may (the tests, tools/, a user's
# script, a child process): onnxruntime's telemetry is on by default and only this variable, set
# before onnxruntime is imported, turns it off (kiosk.security.telemetry has the measurements).
#: True when onnxruntime was imported before this package, i.e. too late for the switch.
ORT_IMPORTED_FIRST = "onnxruntime" in _sys.modules and _os.environ.get("ORT_DISABLE_TELEMETRY") != "1"
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# Few malloc arenas (kiosk.process_memory: 60 MB less resident in the kiosk), set before any
# thread exists: numpy's OpenBLAS starts its threads when it is imported.
from kiosk.process_memory import limit_malloc_arenas as _limit_malloc_arenas  # noqa: E402

_limit_malloc_arenas()
