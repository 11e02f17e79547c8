"""Fixtures of the events tests (loaded with `pytest_plugins = ["events_fixtures"]`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from events_servers import (
    WAIT_S,
    Broker,
    Receivers,
    SelfSigned,
    Subscriber,
    make_self_signed,
)


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    """HTTP receivers on loopback, all closed after the test."""
    factory = Receivers()
    yield factory
    for r in factory.made:
        r.close()


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    """A self-signed certificate for 127.0.0.1 / localhost."""
    return make_self_signed(tmp_path_factory.mktemp("tls"))


# ---------------------------------------------------------------- thread hygiene


@pytest.fixture()
def no_leftover_threads() -> Iterator[None]:
    """Fail the test when it leaves threads running (ours, paho's, the servers', and any
    apprise would start: its calls must stay on the notifier's own thread).

    Not autouse: `pytest_plugins` in a test module registers these fixtures for the whole
    session, and the GUI tests legitimately leave Qt's and onnxruntime's threads behind. The
    events modules opt in with `pytestmark = pytest.mark.usefixtures("no_leftover_threads")`."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + WAIT_S
    while True:
        # A _DummyThread is Python's placeholder for a thread it did not start (a QThread that
        # ran Python code): it never leaves threading.enumerate() and is no thread of ours.
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()
                and not isinstance(t, threading._DummyThread)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not left, f"threads left running: {[t.name for t in left]}"


# ---------------------------------------------------------------- MQTT


@pytest.fixture
def broker() -> Iterator[Broker]:
    """An anonymous amqtt broker on loopback, shut down after the test."""
    b = Broker()
    yield b
    b.close()


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    """Makes paho subscribers (`subscribers(port)`), all disconnected after the test."""
    made: list[Subscriber] = []

    def make(port: int, **kwargs: Any) -> Subscriber:
        s = Subscriber(port, client_id=f"test-sub-{len(made)}", **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
