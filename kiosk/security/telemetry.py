"""No phoning home from the native libraries: call `disable_native_telemetry()` first thing.

What the dependencies do, checked on Linux with strace and a fresh $HOME (onnxruntime 1.32,
ai-edge-litert 2.3.0, opencv-contrib-python-headless 5.1); tests/test_no_egress.py runs every
command under strace and fails on any connection that is not loopback or configured:

- onnxruntime (official builds) has Microsoft's 1DS telemetry compiled in and ON by
  default. At IMPORT time its native threads write a persistent device id and an event
  store under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` (``deviceid``,
  ``onnxruntime.db``) and resolve ``mobile.events.data.microsoft.com`` (DNS to port 53).
  These sockets are native: a Python audit hook does not see them. Calling
  ``onnxruntime.disable_telemetry_events()`` after the import does NOT stop either; only the
  environment variable ``ORT_DISABLE_TELEMETRY=1`` set BEFORE onnxruntime is imported does
  (onnxruntime's Privacy.md says the same). Windows builds for apps use ETW instead, which
  that API call does turn off. So this function must run before anything imports
  onnxruntime (kiosk.vision.embedders does, at import).
- ai_edge_litert (LiteRT): its metrics hooks are no-op stubs in the pip package
  (``metrics_portable``); no socket, no file. Nothing to turn off. MediaPipe's models (BlazeFace,
  the face mesh) run in it.
- mediapipe is no longer used: its Tasks runtime (``libmediapipe.so``, 1.2.3) posts usage
  metrics to Google from a native thread (``tasks::core::logging`` ``CurlClient::Post``: DNS
  look-ups, then HTTPS to play.googleapis.com; mediapipe issue 6291); its Python API offers
  no switch for it. kiosk.vision.blazeface runs the detector models in LiteRT instead.
- OpenCV: no telemetry. It opens network streams only when given a URL (an RTSP camera,
  the user's choice). Nothing to turn off.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

ORT_ENV = "ORT_DISABLE_TELEMETRY"


@dataclass(frozen=True)
class TelemetryReport:
    """What `disable_native_telemetry` did. `too_late`: onnxruntime was imported before the
    call, so its start-up telemetry (device id file, DNS lookup) may already have happened."""

    actions: tuple[str, ...] = field(default_factory=tuple)
    too_late: bool = False


def disable_native_telemetry(*, import_onnxruntime: bool = True) -> TelemetryReport:
    """Turn off every phoning-home switch the dependencies have (see the module docstring).

    Call at process start, before any `kiosk.vision` import and before any InferenceSession.
    Idempotent. Also exported to child processes (the environment variable is inherited).
    With `import_onnxruntime` it then imports onnxruntime and calls its
    ``disable_telemetry_events()`` too (that covers Windows' ETW provider).
    """
    actions: list[str] = []
    import kiosk  # sets ORT_ENV on import; remembers whether onnxruntime came first

    too_late = kiosk.ORT_IMPORTED_FIRST or ("onnxruntime" in sys.modules and os.environ.get(ORT_ENV) != "1")
    if too_late:
        log.warning(
            "onnxruntime was imported before telemetry was disabled; call "
            "kiosk.security.telemetry.disable_native_telemetry() before importing kiosk.vision"
        )
    os.environ[ORT_ENV] = "1"
    actions.append(f"{ORT_ENV}=1")
    if import_onnxruntime or "onnxruntime" in sys.modules:
        try:
            import onnxruntime
        except ImportError:  # no onnxruntime, nothing of it to silence
            return TelemetryReport(tuple(actions), too_late)
        onnxruntime.disable_telemetry_events()
        actions.append("onnxruntime.disable_telemetry_events()")
    return TelemetryReport(tuple(actions), too_late)
