"""Notifications through apprise, to real servers the test starts: a json:// receiver (HTTP)
and an aiosmtpd SMTP server for e-mail (mailto://, no TLS, no auth)."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from events_servers import Receiver, Receivers, SmtpServer, wait_for

from kiosk.events import EventBus, EventsConfig, HostDirectory, KioskEvent
from kiosk.events.config import NotifyConfig, RetryPolicy
from kiosk.events.notify import HostNotifier

pytest_plugins = ["events_fixtures"]
pytestmark = pytest.mark.usefixtures("no_leftover_threads")

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
ADA = 17
SECRET = "pa55-in-a-contact-url"

MakeBus = Callable[..., EventBus]


class Directory:
    """Host contacts by person id; records the thread it is asked on."""

    def __init__(self, contacts: dict[int, list[str]]) -> None:
        self.contacts = contacts
        self.threads: list[str] = []

    def contacts_for(self, person_id: int) -> Sequence[str]:
        self.threads.append(threading.current_thread().name)
        return self.contacts.get(person_id, [])


def json_url(rx: Receiver) -> str:
    return f"json://127.0.0.1:{rx.port}/hook"


def arrival(person_id: int = ADA, *, logged: bool = True, name: str = "Ada Lovelace") -> KioskEvent:
    return KioskEvent(event="arrival", t=3.0, track=1, kiosk="desk-1", site="hq", person=name,
                      person_id=person_id, score=0.6, logged=logged)


def unknown() -> KioskEvent:
    return KioskEvent(event="unknown", t=4.0, track=2, kiosk="desk-1", site="hq")


def messages(rx: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in rx.requests]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def make_bus() -> Iterator[MakeBus]:
    buses: list[EventBus] = []

    def make(directory: HostDirectory | None = None, **notify: Any) -> EventBus:
        config = EventsConfig(notify=NotifyConfig(**notify), kiosk="desk-1",
                              kiosk_name="Reception A", site="hq", retry=FAST_RETRY)
        bus = EventBus.from_config(config, directory=directory)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        bus.close(timeout=10)


def test_the_host_hears_of_the_arrival(receivers: Receivers, make_bus: MakeBus) -> None:
    host = receivers()
    directory = Directory({ADA: [json_url(host)]})
    bus = make_bus(directory)
    assert isinstance(directory, HostDirectory)
    bus.publish(arrival())
    [message] = [json.loads(r.body) for r in host.wait_requests(1)]
    assert message["message"] == "Ada Lovelace has arrived at Reception A"
    assert message["title"] == "Visitor at Reception A"
    wait_for(lambda: bus.status()[0].delivered == 1, what="delivered")
    # The directory (maybe a database) and apprise run on the sink's thread, never the caller's.
    assert directory.threads == ["kiosk-events notify"]


def test_an_email_address_goes_through_the_smtp_server(smtp: SmtpServer,
                                                       make_bus: MakeBus) -> None:
    email_url = f"mailto://127.0.0.1:{smtp.port}?from=kiosk@example.com&mode=insecure"
    bus = make_bus(Directory({ADA: ["ada.host@example.com"]}), email_url=email_url)
    bus.publish(arrival())
    [(sender, recipients, raw)] = smtp.wait_messages(1)
    assert sender == "kiosk@example.com" and recipients == ["ada.host@example.com"]
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == "Visitor at Reception A"
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content().strip() == "Ada Lovelace has arrived at Reception A"
    wait_for(lambda: bus.status()[0].delivered == 1, what="delivered")


def test_a_mailto_contact_url_is_used_as_is(smtp: SmtpServer, make_bus: MakeBus) -> None:
    contact = (f"mailto://127.0.0.1:{smtp.port}?from=kiosk@example.com&mode=insecure"
               f"&to=grace@example.com")
    bus = make_bus(Directory({ADA: [contact]}))
    bus.publish(arrival())
    [(_, recipients, _raw)] = smtp.wait_messages(1)
    assert recipients == ["grace@example.com"]
    wait_for(lambda: bus.status()[0].delivered == 1, what="delivered")


def test_reception_hears_of_unknown_visitors(receivers: Receivers, make_bus: MakeBus) -> None:
    reception = receivers()
    bus = make_bus(Directory({}), reception_urls=[json_url(reception)])
    bus.publish(unknown())
    [message] = [json.loads(r.body) for r in reception.wait_requests(1)]
    assert message["message"] == "An unknown visitor is at Reception A"


def test_only_logged_arrivals_with_a_host_are_notified(receivers: Receivers,
                                                      make_bus: MakeBus) -> None:
    host = receivers()
    bus = make_bus(Directory({ADA: [json_url(host)]}))  # no reception_urls
    bus.publish(arrival(logged=False))  # inside the cooldown: the host was told already
    bus.publish(unknown())  # nobody to tell
    bus.publish(KioskEvent(event="ask_to_unmask", t=5.0, track=3, kiosk="desk-1", site="hq"))
    bus.publish(arrival(person_id=99, name="Charles Babbage"))  # no host contact
    bus.publish(arrival())
    host.wait_requests(1)
    assert bus.close(timeout=60) is True
    assert [m["message"] for m in messages(host)] == ["Ada Lovelace has arrived at Reception A"]
    status = bus.status()[0]
    assert status.failed == 0 and status.dropped == 0


def test_templates_fill_name_kiosk_site_and_local_time(receivers: Receivers,
                                                       make_bus: MakeBus) -> None:
    host = receivers()
    bus = make_bus(Directory({ADA: [json_url(host)]}),
                   arrival_template="{name} @ {kiosk_name} ({site}) at {time}",
                   title="{site}: visitor")
    sent = arrival(name="Zoë Ødegård")
    bus.publish(sent)
    [message] = [json.loads(r.body) for r in host.wait_requests(1)]
    local = sent.time.astimezone().strftime("%H:%M")
    assert message["message"] == f"Zoë Ødegård @ Reception A (hq) at {local}"
    assert re.fullmatch(r"\d\d:\d\d", local)
    assert message["title"] == "hq: visitor"


def test_a_retry_only_resends_to_the_host_that_failed(
        receivers: Receivers, make_bus: MakeBus, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ok, broken = receivers(), receivers(status=500)
    bus = make_bus(Directory({ADA: [json_url(ok), json_url(broken)]}))
    bus.publish(arrival())
    wait_for(lambda: bus.status()[0].failed == 1, what="failed after the retries")
    assert broken.count() == FAST_RETRY.max_attempts
    assert ok.count() == 1  # told once, not once per retry
    assert bus.status()[0].last_error == "1 of 2 notification(s) not sent"
    # One line per kind of failure from us; apprise's per-try warnings are held back.
    lines = [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert [m for n, m in lines if n == "kiosk.events" and "retrying" in m] == [
        "events: notify: 1 of 2 notification(s) not sent; retrying (up to 3 tries per event)"]
    assert not [m for n, m in lines if n.startswith("apprise")], lines


def test_bad_contacts_and_a_broken_directory_never_crash(
        receivers: Receivers, make_bus: MakeBus, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kiosk.events")
    host = receivers()

    class Broken:
        def contacts_for(self, person_id: int) -> Sequence[str]:
            if person_id == 1:
                raise RuntimeError(f"database down ({SECRET})")
            return [f"nosuchscheme://host:{SECRET}@example.com", "bob@example.com",
                    json_url(host)]

    bus = make_bus(Broken())
    bus.publish(arrival(person_id=1))
    wait_for(lambda: bus.status()[0].failed == 1, what="the directory failure")
    assert bus.status()[0].last_error == "host directory failed (RuntimeError)"
    bus.publish(arrival(person_id=2))  # two unusable contacts, one good one
    host.wait_requests(1)
    wait_for(lambda: bus.status()[0].delivered == 1, what="the good contact delivered")
    lines = [r.getMessage() for r in caplog.records if r.name == "kiosk.events"]
    assert any("person 2, contact 1: unsupported apprise scheme nosuchscheme://" in line
               for line in lines), lines
    assert any("person 2, contact 2 is an e-mail address but no email_url" in line
               for line in lines), lines
    assert all(SECRET not in line and "\n" not in line for line in lines)
    assert SECRET not in repr(bus.status())


def test_the_notifier_alone_formats_without_sending() -> None:
    notifier = HostNotifier(NotifyConfig(), kiosk_name="Reception A", site="hq", directory=None)
    assert notifier.message(arrival()) == ("Visitor at Reception A",
                                          "Ada Lovelace has arrived at Reception A")
    assert not notifier.wants(arrival())  # no directory: hosts cannot be found
