"""face-kiosk core: camera sources, vision, gallery, matching, config and CLI. Qt-free."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# No phoning home: onnxruntime's telemetry is on by default and only this variable, set before
# onnxruntime is imported, turns it off (kiosk.security.telemetry has the measurements). Set
# here, on the package's import, so no entry point or test can import the models before it.
#: True when onnxruntime was imported before this package, i.e. too late for the switch.
ORT_IMPORTED_FIRST = "onnxruntime" in _sys.modules and _os.environ.get("ORT_DISABLE_TELEMETRY") != "1"
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# Few malloc arenas (kiosk.process_memory: 60 MB less resident in the kiosk), set before any
# thread exists: numpy's OpenBLAS and onnxruntime start theirs when they are imported.
from kiosk.process_memory import limit_malloc_arenas as _limit_malloc_arenas  # noqa: E402

_limit_malloc_arenas()
