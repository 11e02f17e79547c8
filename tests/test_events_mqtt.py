"""MQTT through the bus, against a real amqtt broker started by the test (on its own loop).

The kiosk's presence is the retained `status` topic: `online` after connecting, `offline` after
a clean close, and `offline` as the last will when the connection dies without a goodbye (a
TCP proxy between kiosk and broker cuts it, like a pulled cable).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from events_servers import Broker, Proxy, Receivers, Subscriber, password_file, wait_for

from kiosk.events import EventBus, EventsConfig, KioskEvent
from kiosk.events.config import MqttConfig, RetryPolicy, WebhookTarget

pytest_plugins = ["events_fixtures"]
pytestmark = pytest.mark.usefixtures("no_leftover_threads")

EVENT_TOPIC = "face-kiosk/hq/desk-1/event"
STATUS_TOPIC = "face-kiosk/hq/desk-1/status"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
PASSWORD = "right-horse-battery"

MakeBus = Callable[..., EventBus]
Message = tuple[str, bytes, bool]


def arrival(n: int = 0) -> KioskEvent:
    return KioskEvent(event="arrival", t=float(n), track=n, kiosk="desk-1", site="hq",
                      person="Ada Lovelace", person_id=17, score=0.6, logged=True)


def on(topic: str, payload: bytes | None = None, *,
       retained: bool | None = None) -> Callable[[Message], bool]:
    def match(m: Message) -> bool:
        return (m[0] == topic and (payload is None or m[1] == payload)
                and (retained is None or m[2] == retained))
    return match


def events_in(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m[0] == EVENT_TOPIC]


@pytest.fixture
def make_bus() -> Iterator[MakeBus]:
    buses: list[EventBus] = []

    def make(port: int, *, webhooks: list[WebhookTarget] | None = None,
             **mqtt: Any) -> EventBus:
        mqtt.setdefault("reconnect_max_s", 2)
        config = EventsConfig(
            mqtt=MqttConfig(host="127.0.0.1", port=port, **mqtt), webhooks=webhooks or [],
            site="hq", kiosk="desk-1", retry=FAST_RETRY)
        bus = EventBus.from_config(config)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        bus.close(timeout=10)


def test_events_and_retained_status(broker: Broker, subscribers: Callable[..., Subscriber],
                                    make_bus: MakeBus) -> None:
    watcher = subscribers(broker.port)
    bus = make_bus(broker.port)
    watcher.wait(on(STATUS_TOPIC, b"online"), "status online")
    sent = [arrival(n) for n in range(3)]
    for e in sent:
        bus.publish(e)
    wait_for(lambda: bus.status()[0].delivered == 3, what="3 delivered")
    # The broker acks the kiosk before it forwards to subscribers: wait for the watcher too.
    wait_for(lambda: len(events_in(watcher.since(0))) == 3, what="3 events at the watcher")
    events = events_in(watcher.since(0))
    assert [m[1] for m in events] == [e.to_json().encode("utf-8") for e in sent]
    assert not any(m[2] for m in events)  # events are not retained, only the status
    assert json.loads(events[0][1])["person"] == "Ada Lovelace"
    status = bus.status()[0]
    assert status.name == f"mqtt 127.0.0.1:{broker.port}" and status.connected is True
    # A late subscriber learns the kiosk is online from the retained message.
    late = subscribers(broker.port)
    late.wait(on(STATUS_TOPIC, b"online", retained=True), "retained online")

    assert bus.close(timeout=60) is True
    watcher.wait(on(STATUS_TOPIC, b"offline"), "offline after a clean close")
    after = subscribers(broker.port)
    after.wait(on(STATUS_TOPIC, b"offline", retained=True), "retained offline")
    assert bus.status()[0].connected is False


def test_last_will_when_the_connection_dies_then_queued_events_follow(
        broker: Broker, subscribers: Callable[..., Subscriber], make_bus: MakeBus) -> None:
    proxy = Proxy(broker.port)
    try:
        watcher = subscribers(broker.port)  # straight to the broker, not through the proxy
        bus = make_bus(proxy.port, keepalive_s=5)
        watcher.wait(on(STATUS_TOPIC, b"online"), "status online")
        wait_for(lambda: bus.status()[0].connected, what="kiosk connected")
        mark = len(watcher.since(0))
        proxy.pause()  # no reconnect for now
        proxy.cut()  # the cable is pulled: no DISCONNECT reaches the broker
        wait_for(lambda: any(on(STATUS_TOPIC, b"offline")(m) for m in watcher.since(mark)),
                 what="the broker's last will (offline)")
        wait_for(lambda: bus.status()[0].connected is False, what="kiosk sees the loss")
        sent = [arrival(n) for n in range(5)]
        for e in sent:
            bus.publish(e)  # kept in the sink's queue while disconnected
        status = bus.status()[0]
        assert status.queued == 5 and status.delivered == 0 and status.failed == 0
        proxy.resume()
        wait_for(lambda: bus.status()[0].delivered == 5, what="5 delivered after reconnect")
        wait_for(lambda: len(events_in(watcher.since(mark))) == 5, what="5 events at the watcher")
        got = [m[1] for m in events_in(watcher.since(mark))]
        assert got == [e.to_json().encode("utf-8") for e in sent]
        assert on(STATUS_TOPIC, b"online")(
            [m for m in watcher.since(mark) if m[0] == STATUS_TOPIC][-1])
        assert bus.status()[0].last_error is None
        bus.close(timeout=10)
    finally:
        proxy.close()


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(password_file(tmp_path, {"kiosk": PASSWORD, "watcher": PASSWORD}))
    yield b
    b.close()


def test_the_right_password_connects(auth_broker: Broker,
                                     subscribers: Callable[..., Subscriber],
                                     make_bus: MakeBus) -> None:
    watcher = subscribers(auth_broker.port, username="watcher", password=PASSWORD)
    bus = make_bus(auth_broker.port, username="kiosk", password=PASSWORD)
    bus.publish(arrival())
    watcher.wait(on(EVENT_TOPIC), "the event")
    wait_for(lambda: bus.status()[0].delivered == 1, what="delivered")


def test_a_wrong_password_is_one_clear_line_and_others_carry_on(
        auth_broker: Broker, receivers: Receivers, make_bus: MakeBus,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kiosk.events")
    rx = receivers()
    wrong = "wrong-horse-staple"
    bus = make_bus(auth_broker.port, username="kiosk", password=wrong,
                   webhooks=[WebhookTarget(url=rx.url)])  # type: ignore[arg-type]
    mqtt_name = f"mqtt 127.0.0.1:{auth_broker.port}"
    for n in range(3):
        bus.publish(arrival(n))
    rx.wait_requests(3)  # the webhook is not held up by the refused broker
    wait_for(lambda: {s.name: s for s in bus.status()}[mqtt_name].failed == 3,
             what="the 3 MQTT events failed at once (a retry cannot fix a password)")
    status = {s.name: s for s in bus.status()}[mqtt_name]
    assert status.connected is False and status.delivered == 0
    assert status.last_error == "broker refused the connection: Not authorized"
    by_name = {s.name: s for s in bus.status()}
    assert next(s for n, s in by_name.items() if n != mqtt_name).delivered == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "kiosk.events"]
    refused = [line for line in lines if "refused the connection" in line]
    assert len(refused) == 1, lines  # paho keeps retrying; the log says it once
    assert "check the MQTT username and password" in refused[0]
    assert all(wrong not in line for line in lines) and wrong not in repr(bus.status())
