"""What the bus needs from a sink (webhook, MQTT, notifications, or one of your own)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from kiosk.events.event import KioskEvent


@runtime_checkable
class Sink(Protocol):
    """A destination for events. The bus calls every method from the sink's own thread
    (except `name`, `connected`, `problem` and `wants`, which may be read from any thread).

    `deliver` blocks until the event is accepted or raises `DeliveryError` (retryable or not);
    any other exception is treated as a non-retryable bug in the sink.
    """

    @property
    def name(self) -> str:
        """A stable, secret-free name (status, logs, metrics label)."""
        ...

    @property
    def connected(self) -> bool | None:
        """True/False for sinks that hold a connection (MQTT), None for the others."""
        ...

    @property
    def problem(self) -> str | None:
        """What stops delivery right now (one line, no secrets: "broker refused the
        connection: Not authorized"), or None. Shown as the status's last_error."""
        ...

    def wants(self, event: KioskEvent) -> bool:
        """Whether this event concerns the sink (cheap: it runs on the publisher's thread)."""
        ...

    def start(self) -> None:
        """Begin (connect in the background); must not block for long."""
        ...

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` s until delivering makes sense (connected, or refused for good:
        then `deliver` raises a non-retryable error). Waiting does not use up attempts."""
        ...

    def deliver(self, event: KioskEvent) -> None:
        """Deliver one event, or raise DeliveryError."""
        ...

    def close(self, timeout: float) -> None:
        """Release connections (MQTT: publish `offline`, disconnect) within `timeout` s."""
        ...


class BaseSink:
    """Defaults for a connectionless sink that wants every event."""

    _name = "sink"

    @property
    def name(self) -> str:
        """See `Sink.name`."""
        return self._name

    @property
    def connected(self) -> bool | None:
        """See `Sink.connected`."""
        return None

    @property
    def problem(self) -> str | None:
        """See `Sink.problem`."""
        return None

    def wants(self, event: KioskEvent) -> bool:
        """See `Sink.wants`."""
        return True

    def start(self) -> None:
        """See `Sink.start`."""

    def wait_ready(self, timeout: float) -> bool:
        """See `Sink.wait_ready`."""
        return True

    def deliver(self, event: KioskEvent) -> None:
        """See `Sink.deliver`."""
        raise NotImplementedError

    def close(self, timeout: float) -> None:
        """See `Sink.close`."""
