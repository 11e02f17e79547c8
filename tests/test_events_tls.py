"""Webhooks over HTTPS: a self-signed receiver is refused by default, trusted with ca_file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from events_servers import Receivers, SelfSigned, wait_for

from kiosk.events import EventBus, EventsConfig, KioskEvent
from kiosk.events.config import RetryPolicy, WebhookTarget

pytest_plugins = ["events_fixtures"]
pytestmark = pytest.mark.usefixtures("no_leftover_threads")

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)


def arrival() -> KioskEvent:
    return KioskEvent(event="arrival", t=1.0, track=1, kiosk="desk-1", site="hq",
                      person="Ada Lovelace", person_id=17, score=0.6, logged=True)


@pytest.fixture
def buses() -> Iterator[list[EventBus]]:
    made: list[EventBus] = []
    yield made
    for bus in made:
        bus.close(timeout=10)


def bus_to(target: WebhookTarget, buses: list[EventBus]) -> EventBus:
    bus = EventBus.from_config(EventsConfig(webhooks=[target], retry=FAST_RETRY))
    buses.append(bus)
    return bus


def test_a_self_signed_receiver_is_refused_by_default(
        receivers: Receivers, self_signed: SelfSigned, buses: list[EventBus]) -> None:
    rx = receivers(tls=self_signed.server_context())
    bus = bus_to(WebhookTarget(url=rx.url), buses)  # type: ignore[arg-type]
    bus.publish(arrival())
    wait_for(lambda: bus.status()[0].failed == 1, what="failed == 1")
    status = bus.status()[0]
    assert status.last_error is not None
    assert status.last_error.startswith("TLS certificate not trusted")
    assert status.delivered == 0 and rx.count() == 0  # no request ever got through


def test_a_self_signed_receiver_is_trusted_with_its_ca_file(
        receivers: Receivers, self_signed: SelfSigned, buses: list[EventBus]) -> None:
    rx = receivers(tls=self_signed.server_context())
    bus = bus_to(WebhookTarget(url=rx.url, ca_file=str(self_signed.cert)),  # type: ignore[arg-type]
                 buses)
    sent = arrival()
    bus.publish(sent)
    [request] = rx.wait_requests(1)
    assert request.body == sent.to_json().encode("utf-8")
    wait_for(lambda: bus.status()[0].delivered == 1, what="delivered == 1")
    assert bus.status()[0].name.startswith("webhook#1 https://127.0.0.1:")
