"""No phoning home from the native libraries: call `disable_native_telemetry()` first thing.

What the dependencies do, checked on Linux with strace and a fresh $HOME (onnxruntime 1.32,
ai-edge-litert 2.3.0, opencv-contrib-python-headless 5.1); tests/test_no_egress.py runs every
command under strace and fails on any connection that is not loopback or configured:

- onnxruntime is NOT a dependency of the app any more: every ONNX model (SFace, mbf, the
  MiniFASNets) runs in OpenCV's DNN engine with the same outputs (kiosk.vision.opencv_dnn), no
  module of kiosk or ui imports it (an import-linter contract), the packaged app leaves it out,
  and tests/test_startup_imports.py checks that no command loads it. It stays a test
  dependency (the equivalence tests compare against it), so the switch below is still set for
  any process that imports kiosk and then onnxruntime itself (the tests, tools/, a script).
  What it would do: official builds have Microsoft's 1DS telemetry compiled in and ON by
  default. At IMPORT time its native threads write a persistent device id and an event
  store under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` (``deviceid``,
  ``onnxruntime.db``) and resolve ``mobile.events.data.microsoft.com`` (DNS to port 53).
  These sockets are native: a Python audit hook does not see them. Calling
  ``onnxruntime.disable_telemetry_events()`` after the import does NOT stop either; only the
  environment variable ``ORT_DISABLE_TELEMETRY=1`` set BEFORE onnxruntime is imported does
  (onnxruntime's Privacy.md says the same; tests/test_security_telemetry.py shows both). Windows
  builds for apps use ETW instead, which that API call does turn off.
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


def disable_native_telemetry() -> TelemetryReport:
    """Turn off every phoning-home switch the dependencies have (see the module docstring).

    Call at process start, before anything imports onnxruntime. Idempotent. Also exported to
    child processes (the environment variable is inherited). It never imports onnxruntime
    itself; when something already did, it also calls its ``disable_telemetry_events()``
    (that covers Windows' ETW provider) and reports `too_late`.
    """
    actions: list[str] = []
    import kiosk  # sets ORT_ENV on import; remembers whether onnxruntime came first

    too_late = kiosk.ORT_IMPORTED_FIRST or ("onnxruntime" in sys.modules and os.environ.get(ORT_ENV) != "1")
    if too_late:
        log.warning(
            "onnxruntime was imported before telemetry was disabled; call "
            "kiosk.security.telemetry.disable_native_telemetry() before importing onnxruntime"
        )
    os.environ[ORT_ENV] = "1"
    actions.append(f"{ORT_ENV}=1")
    onnxruntime = sys.modules.get("onnxruntime")  # loaded by the caller's code, never by the app
    if onnxruntime is not None:
        onnxruntime.disable_telemetry_events()
        actions.append("onnxruntime.disable_telemetry_events()")
    return TelemetryReport(tuple(actions), too_late)
