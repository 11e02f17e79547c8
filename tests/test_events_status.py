"""The loopback status endpoint (/health, /metrics), served for real and fetched with urllib."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import prometheus_client
import pytest
from events_servers import WAIT_S, Receivers, closed_port, wait_for

from kiosk.events import (
    EventBus,
    EventsConfig,
    EventsError,
    Health,
    KioskEvent,
    KioskMetrics,
    StatusServer,
    kiosk_health,
)
from kiosk.events.config import RetryPolicy, WebhookTarget

pytest_plugins = ["events_fixtures"]
pytestmark = pytest.mark.usefixtures("no_leftover_threads")

METRIC_NAMES = (
    "face_kiosk_events_total", "face_kiosk_event_deliveries_total",
    "face_kiosk_events_dropped_total", "face_kiosk_frames_total",
    "face_kiosk_frame_processing_milliseconds_bucket", "face_kiosk_event_queue_length",
    "face_kiosk_gallery_size",
)


def get(url: str) -> tuple[int, str, bytes]:
    """(status, content type, body), for error codes too."""
    try:
        with urllib.request.urlopen(url, timeout=WAIT_S) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


@pytest.fixture
def serve() -> Iterator[Callable[..., StatusServer]]:
    servers: list[StatusServer] = []

    def make(provider: Callable[[], Health], metrics: KioskMetrics | None = None,
             **kwargs: Any) -> StatusServer:
        server = StatusServer(provider, metrics or KioskMetrics(), **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_health_is_200_when_the_camera_runs_and_503_with_the_reason_otherwise(
        serve: Callable[..., StatusServer]) -> None:
    state: dict[str, Any] = {"camera": "running", "age": 0.2}
    server = serve(lambda: kiosk_health(last_frame_age_s=state["age"],
                                        camera_state=state["camera"], gallery_size=42))
    code, kind, body = get(server.url + "/health")
    assert code == 200 and kind.startswith("application/json")
    assert json.loads(body) == {"status": "ok", "reason": None, "last_frame_age_s": 0.2,
                                "camera": "running", "gallery_size": 42, "sinks": []}
    state["age"] = 12.0
    code, _, body = get(server.url + "/health")
    assert code == 503 and json.loads(body)["reason"] == "last frame 12.0 s ago"
    state["camera"] = "disconnected"
    code, _, body = get(server.url + "/health")
    assert code == 503 and json.loads(body)["reason"] == "camera disconnected"
    state.update(camera="running", age=None)
    assert get(server.url + "/health")[0] == 503
    assert get(server.url + "/nothing-here")[0] == 404


def test_a_failing_provider_is_a_503_not_a_crash(serve: Callable[..., StatusServer]) -> None:
    def broken() -> Health:
        raise RuntimeError("gallery locked")

    server = serve(broken)
    code, _, body = get(server.url + "/health")
    assert code == 503
    assert json.loads(body) == {"status": "unhealthy",
                                "reason": "health check failed: RuntimeError"}
    assert get(server.url + "/health")[0] == 503  # and the server still serves


def test_health_shows_the_sinks_and_metrics_the_counters(
        receivers: Receivers, serve: Callable[..., StatusServer]) -> None:
    rx = receivers()
    metrics = KioskMetrics()
    bus = EventBus.from_config(EventsConfig(
        webhooks=[WebhookTarget(url=rx.url),  # type: ignore[arg-type]
                  WebhookTarget(url=f"http://127.0.0.1:{closed_port()}/h")],  # type: ignore[arg-type]
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.01), kiosk="desk-1",
    ), metrics=metrics)
    try:
        server = serve(lambda: kiosk_health(last_frame_age_s=0.1, camera_state="running",
                                            gallery_size=3, sinks=bus.status()), metrics)
        bus.publish(KioskEvent(event="unknown", t=1.0, track=1, kiosk="desk-1", site="main"))
        wait_for(lambda: [s.delivered + s.failed for s in bus.status()] == [1, 1],
                 what="one delivered, one failed")
        # What the recognition loop does per frame, and after loading the gallery.
        for ms in (12.0, 40.0, 80.0):
            metrics.frame("desk-1", ms)
        metrics.set_gallery_size(3)

        code, _, body = get(server.url + "/health")
        assert code == 200  # a dead webhook does not make the kiosk unhealthy
        sinks = json.loads(body)["sinks"]
        assert [(s["delivered"], s["failed"], s["queued"]) for s in sinks] == [(1, 0, 0),
                                                                                (0, 1, 0)]
        assert sinks[1]["last_error"] == "connection refused" and sinks[1]["last_ok"] is None
        assert sinks[0]["last_ok"].endswith("+00:00")

        code, kind, text = get(server.url + "/metrics")
        assert code == 200 and kind.startswith("text/plain")
        exposition = text.decode("utf-8")
        for name in METRIC_NAMES:
            assert f"\n{name}" in exposition, name
        ok, dead = bus.sink_names
        assert f'face_kiosk_event_deliveries_total{{outcome="delivered",sink="{ok}"}} 1.0' \
            in exposition
        assert f'face_kiosk_event_deliveries_total{{outcome="failed",sink="{dead}"}} 1.0' \
            in exposition
        assert 'face_kiosk_events_total{event="unknown",source="desk-1"} 1.0' in exposition
        assert 'face_kiosk_frames_total{source="desk-1"} 3.0' in exposition
        assert 'face_kiosk_frame_processing_milliseconds_count{source="desk-1"} 3.0' \
            in exposition
        assert "face_kiosk_gallery_size 3.0" in exposition
        assert f'face_kiosk_event_queue_length{{sink="{ok}"}} 0.0' in exposition
    finally:
        bus.close(timeout=10)


def test_metrics_stay_off_the_global_registry() -> None:
    first, second = KioskMetrics(), KioskMetrics()  # two kiosks in one process: no clash
    first.frame("cam", 5.0)
    assert second.registry.get_sample_value("face_kiosk_frames_total", {"source": "cam"}) is None
    assert prometheus_client.REGISTRY.get_sample_value(
        "face_kiosk_frames_total", {"source": "cam"}) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "::1", "", "localhost",
                                  "example.com"])
def test_anything_but_loopback_is_refused(host: str) -> None:
    with pytest.raises(EventsError, match="only binds to 127.0.0.1"):
        StatusServer(lambda: Health(True), KioskMetrics(), host=host)


def test_a_taken_port_is_a_one_line_error(serve: Callable[..., StatusServer]) -> None:
    server = serve(lambda: Health(True))
    with pytest.raises(EventsError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        StatusServer(lambda: Health(True), KioskMetrics(), port=server.port)
