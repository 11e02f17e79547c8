"""A loopback-only status endpoint: `GET /health` (JSON) and `GET /metrics` (Prometheus).

Bound to 127.0.0.1 and nothing else: the kiosk's state (who is enrolled, queue contents) is
not for the LAN; a local agent (node exporter textfile, a reverse proxy with auth, a
supervisor) can expose it deliberately. Standard library `ThreadingHTTPServer` on a thread of
its own, so a slow scraper never touches recognition.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from kiosk.events.bus import SinkStatus, one_line
from kiosk.events.errors import EventsError
from kiosk.events.metrics import KioskMetrics

log = logging.getLogger("kiosk.events")

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Health:
    """What /health reports. `details` must be JSON-serialisable."""

    healthy: bool
    reason: str | None = None
    details: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """The JSON body: status, reason, then the details."""
        return {"status": "ok" if self.healthy else "unhealthy", "reason": self.reason,
                **self.details}


HealthProvider = Callable[[], Health]


def kiosk_health(*, last_frame_age_s: float | None, camera_state: str, gallery_size: int,
                 sinks: Sequence[SinkStatus] = (), max_frame_age_s: float = 5.0) -> Health:
    """The usual health of a kiosk: unhealthy when the camera is not `running` or the last
    frame is older than `max_frame_age_s`. Event sinks are reported but do not make the kiosk
    unhealthy (recognition still works when a webhook is down); their errors are in the body.
    """
    reason = None
    if camera_state != "running":
        reason = f"camera {camera_state}"
    elif last_frame_age_s is None:
        reason = "no frame yet"
    elif last_frame_age_s > max_frame_age_s:
        reason = f"last frame {last_frame_age_s:.1f} s ago"
    return Health(
        healthy=reason is None, reason=reason,
        details={
            "last_frame_age_s": last_frame_age_s,
            "camera": camera_state,
            "gallery_size": gallery_size,
            "sinks": [s.to_dict() for s in sinks],
        },
    )


class StatusServer:
    """Serves /health from `provider` and /metrics from `metrics`, on 127.0.0.1 only."""

    def __init__(self, provider: HealthProvider, metrics: KioskMetrics, *,
                 host: str = LOOPBACK, port: int = 0) -> None:
        """Raises EventsError when `host` is anything but 127.0.0.1 (not even "localhost",
        which may resolve to ::1 or further). `port` 0 picks a free port (see `.port`)."""
        if host != LOOPBACK:
            raise EventsError(f"status endpoint: refusing to listen on {host}; "
                              f"it only binds to {LOOPBACK}")
        if not 0 <= port <= 65535:
            raise EventsError(f"status endpoint: port {port} is out of range")
        handler = _handler(provider, metrics)
        try:
            self._server = ThreadingHTTPServer((LOOPBACK, port), handler)
        except OSError as exc:
            raise EventsError(f"status endpoint: cannot listen on {LOOPBACK}:{port} "
                              f"({exc.strerror or type(exc).__name__})") from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="kiosk-events status", daemon=True)

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> StatusServer:
        """Serve on a background thread (idempotent)."""
        if self._thread.ident is None:
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.ident is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> StatusServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _handler(provider: HealthProvider, metrics: KioskMetrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "face-kiosk-status"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/health":
                self._health()
            elif path == "/metrics":
                self._send(200, metrics.exposition(), metrics.content_type)
            else:
                self._send(404, b'{"error":"not found"}\n', "application/json")

        def _health(self) -> None:
            try:
                health = provider()
                body = json.dumps(health.to_dict(), ensure_ascii=False, allow_nan=False)
            except Exception as exc:  # a broken provider is itself a health problem
                log.warning("events: status: health provider failed (%s)", type(exc).__name__)
                health = Health(False, one_line(f"health check failed: {type(exc).__name__}"))
                body = json.dumps(health.to_dict())
            self._send(200 if health.healthy else 503, (body + "\n").encode("utf-8"),
                       "application/json; charset=utf-8")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            # Not to stderr (http.server's default): a scraper every 15 s is not news.
            log.debug("events: status: " + format, *args)

    return Handler
