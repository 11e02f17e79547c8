"""Webhooks through the bus, against real HTTP receivers on loopback.

No timed assertions: every wait is on a condition (with a generous timeout), and "publish
never blocks" is shown by publishing while a receiver holds a request open: were publish to
wait for it, the test could not go on to release the receiver.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from events_servers import Receivers, closed_port, wait_for

from kiosk import __version__
from kiosk.events import EventBus, EventsConfig, EventsError, KioskEvent, KioskMetrics
from kiosk.events.config import RetryPolicy, WebhookTarget
from kiosk.events.event import JSON_KEYS
from kiosk.events.webhook import SIGNATURE_HEADER, sign, verify_signature

pytest_plugins = ["events_fixtures"]
pytestmark = pytest.mark.usefixtures("no_leftover_threads")

SECRET = "s3cret-for-the-hmac"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05, jitter=0.5)

MakeBus = Callable[..., EventBus]


def event(n: int = 0, **overrides: Any) -> KioskEvent:
    fields: dict[str, Any] = dict(event="arrival", t=float(n), track=n, kiosk="desk-1",
                                  site="hq", person="Ada Lovelace", person_id=17, score=0.61,
                                  masked=False, logged=True)
    fields.update(overrides)
    return KioskEvent(**fields)


@pytest.fixture
def make_bus(receivers: Receivers) -> Iterator[MakeBus]:
    """Buses to receivers; at the end hanging receivers are released, then buses closed."""
    buses: list[EventBus] = []

    def make(*urls: str, secret: str | None = None, timeout_s: float = 5.0,
             retry: RetryPolicy = FAST_RETRY, queue_size: int = 100,
             metrics: KioskMetrics | None = None, **config: Any) -> EventBus:
        targets = [WebhookTarget(url=u, secret=secret, timeout_s=timeout_s)  # type: ignore[arg-type]
                   for u in urls]
        bus = EventBus.from_config(
            EventsConfig(webhooks=targets, retry=retry, queue_size=queue_size, **config),
            metrics=metrics)
        buses.append(bus)
        return bus

    yield make
    receivers.release_all()
    for bus in buses:
        bus.close(timeout=10)


def test_body_is_the_event_json_signed_like_github(receivers: Receivers,
                                                   make_bus: MakeBus) -> None:
    rx = receivers()
    bus = make_bus(rx.url, secret=SECRET)
    sent = event(person="Zoë Ødegård")
    bus.publish(sent)
    [request] = rx.wait_requests(1)
    assert request.body == sent.to_json().encode("utf-8")
    assert tuple(json.loads(request.body)) == JSON_KEYS
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"face-kiosk/{__version__}"
    assert request.headers["X-Face-Kiosk-Event"] == sent.event_id
    signature = request.headers[SIGNATURE_HEADER]
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature(SECRET, request.body, signature)
    assert not verify_signature("another-secret", request.body, signature)
    assert not verify_signature(SECRET, request.body + b" ", signature)
    assert not verify_signature(SECRET, request.body, None)
    assert not verify_signature(SECRET, request.body, signature.replace("sha256=", "sha1="))
    wait_for(lambda: bus.status()[0].delivered == 1, what="delivered == 1")
    status = bus.status()[0]
    assert status.last_ok is not None and status.failed == 0 and status.last_error is None
    assert SECRET not in repr(bus.status())


def test_no_secret_no_signature_header(receivers: Receivers, make_bus: MakeBus) -> None:
    rx = receivers()
    make_bus(rx.url).publish(event())
    [request] = rx.wait_requests(1)
    assert SIGNATURE_HEADER not in request.headers
    assert sign(SECRET, b"{}") != sign("other", b"{}")


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_are_retried_up_to_the_limit_then_failed(
        receivers: Receivers, make_bus: MakeBus, status: int) -> None:
    rx = receivers(status=status)
    bus = make_bus(rx.url)
    sent = event()
    bus.publish(sent)
    wait_for(lambda: bus.status()[0].failed == 1, what="failed == 1")
    requests = rx.wait_requests(3)
    assert len(requests) == FAST_RETRY.max_attempts
    # The same event each time: a receiver can drop duplicates by the id header.
    assert {r.headers["X-Face-Kiosk-Event"] for r in requests} == {sent.event_id}
    status_now = bus.status()[0]
    assert status_now.last_error == f"HTTP {status}"
    assert status_now.delivered == 0 and not status_now.retrying and status_now.queued == 0


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_not_retried(receivers: Receivers, make_bus: MakeBus,
                                       status: int) -> None:
    rx = receivers(status=status)
    bus = make_bus(rx.url)
    bus.publish(event(1))
    wait_for(lambda: bus.status()[0].failed == 1, what="failed == 1")
    bus.publish(event(2))
    wait_for(lambda: bus.status()[0].failed == 2, what="failed == 2")
    assert rx.count() == 2  # one try per event
    assert bus.status()[0].last_error == f"HTTP {status}"


def test_a_slow_receiver_times_out_and_is_retried(receivers: Receivers,
                                                  make_bus: MakeBus) -> None:
    rx = receivers(hang=True)  # answers only when released: slower than any timeout here
    retry = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.01)
    bus = make_bus(rx.url, timeout_s=0.5, retry=retry)
    bus.publish(event())
    wait_for(lambda: bus.status()[0].failed == 1, what="failed == 1")
    assert rx.count() == 2
    assert bus.status()[0].last_error == "timed out after 0.5 s"


def test_an_unreachable_receiver_is_retried_then_failed(make_bus: MakeBus) -> None:
    bus = make_bus(f"http://127.0.0.1:{closed_port()}/hook")
    bus.publish(event())
    wait_for(lambda: bus.status()[0].failed == 1, what="failed == 1")
    assert bus.status()[0].last_error == "connection refused"


def test_failing_targets_do_not_stop_a_healthy_one(receivers: Receivers,
                                                   make_bus: MakeBus) -> None:
    hanging, broken, healthy = receivers(hang=True), receivers(status=500), receivers()
    dead = f"http://127.0.0.1:{closed_port()}/hook"
    bus = make_bus(dead, hanging.url, broken.url, healthy.url, timeout_s=30)
    sent = [event(n) for n in range(10)]
    for e in sent:
        bus.publish(e)
    got = healthy.wait_requests(10)
    assert [r.body for r in got] == [e.to_json().encode() for e in sent]  # in order
    assert hanging.in_handler == 1  # still holding the first event
    wait_for(lambda: bus.status()[0].failed == 10 and bus.status()[2].failed == 10,
             what="the dead and the broken target to fail all 10")
    names = [s.name for s in bus.status()]
    assert names[0].startswith("webhook#1 http://127.0.0.1:") and "/hook" not in names[0]


def test_publish_returns_while_the_receiver_hangs(receivers: Receivers,
                                                  make_bus: MakeBus) -> None:
    rx = receivers(hang=True)
    bus = make_bus(rx.url, timeout_s=30, queue_size=50)
    bus.publish(event(0))
    rx.wait_requests(1)  # the sink's thread is now stuck in that request
    for n in range(1, 30):
        bus.publish(event(n))  # would deadlock here if publish waited for delivery
    assert bus.status()[0].queued == 30  # 1 in flight + 29 waiting
    assert rx.count() == 1
    rx.release()
    wait_for(lambda: bus.status()[0].delivered == 30, what="all 30 delivered after release")
    assert [json.loads(r.body)["t"] for r in rx.requests] == [float(n) for n in range(30)]


def test_a_flood_into_a_dead_target_stays_bounded(make_bus: MakeBus) -> None:
    metrics = KioskMetrics()
    bus = make_bus(f"http://127.0.0.1:{closed_port()}/hook", queue_size=100, metrics=metrics,
                   retry=RetryPolicy(max_attempts=2, base_delay_s=0.001, max_delay_s=0.001))
    largest = 0
    for n in range(5000):
        bus.publish(event(n))
        if n % 50 == 0:
            largest = max(largest, bus.status()[0].queued)
    assert largest <= 100 + 1  # the queue's bound, plus the one being tried
    # What is left (at most the bound) fails fast; the count is final once close has drained it.
    assert bus.close(timeout=60) is True
    status = bus.status()[0]
    assert status.delivered == 0
    assert status.failed + status.dropped == 5000  # every event accounted for
    assert status.dropped >= 5000 - 100 - status.failed
    name = status.name
    assert metrics.registry.get_sample_value(
        "face_kiosk_events_dropped_total", {"sink": name}) == status.dropped
    assert metrics.registry.get_sample_value(
        "face_kiosk_event_deliveries_total", {"sink": name, "outcome": "failed"}) == status.failed
    assert metrics.registry.get_sample_value(
        "face_kiosk_events_total", {"event": "arrival", "source": "desk-1"}) == 5000


def test_close_flushes_what_is_queued(receivers: Receivers, make_bus: MakeBus) -> None:
    rx = receivers()
    bus = make_bus(rx.url)
    for n in range(50):
        bus.publish(event(n))
    assert bus.close(timeout=60) is True
    assert rx.count() == 50 and bus.status()[0].delivered == 50
    bus.publish(event(99))  # after close: ignored, no error
    assert bus.status()[0].delivered == 50


def test_close_gives_up_on_a_hanging_receiver_within_its_timeout(receivers: Receivers,
                                                                 make_bus: MakeBus) -> None:
    rx = receivers(hang=True)
    bus = make_bus(rx.url, timeout_s=30)
    for n in range(5):
        bus.publish(event(n))
    rx.wait_requests(1)
    assert bus.close(timeout=0.5) is False
    rx.release()  # the stuck request ends; the 4 waiting events were abandoned
    wait_for(lambda: bus.status()[0].delivered == 1 and bus.status()[0].dropped == 4,
             what="1 delivered, 4 abandoned")
    assert rx.count() == 1


def test_one_log_line_per_kind_of_failure(make_bus: MakeBus,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kiosk.events")
    bus = make_bus(f"http://127.0.0.1:{closed_port()}/hook",
                   retry=RetryPolicy(max_attempts=2, base_delay_s=0.001, max_delay_s=0.001))
    for n in range(30):
        bus.publish(event(n))
    wait_for(lambda: bus.status()[0].failed + bus.status()[0].dropped == 30,
             what="all 30 handled")
    lines = [r.getMessage() for r in caplog.records if r.name == "kiosk.events"]
    assert sum("retrying" in line for line in lines) == 1, lines
    assert sum("gave up" in line for line in lines) == 1, lines
    assert all("\n" not in line for line in lines)


def test_setup_problems_are_one_line_errors(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Any) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET_VAR", raising=False)
    config = EventsConfig(webhooks=[WebhookTarget(
        url="https://example.com/h", secret_env="NO_SUCH_SECRET_VAR")])  # type: ignore[arg-type]
    with pytest.raises(EventsError, match="webhook #1 secret: environment variable "
                                          "NO_SUCH_SECRET_VAR is not set"):
        EventBus.from_config(config)
    bad_ca = tmp_path / "missing.pem"
    config = EventsConfig(webhooks=[WebhookTarget(
        url="https://example.com/h", ca_file=str(bad_ca))])  # type: ignore[arg-type]
    with pytest.raises(EventsError, match="ca_file .*missing.pem: cannot be read"):
        EventBus.from_config(config)
