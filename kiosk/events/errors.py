"""Errors of the events package: one for the user (bad setup), one between a sink and the bus."""

from __future__ import annotations

from kiosk.errors import KioskError


class EventsError(KioskError):
    """The events setup cannot work (a missing secret, an unreadable CA file, a refused bind).

    The message is one line and never contains a secret.
    """


class DeliveryError(Exception):
    """A sink could not deliver one event.

    `retryable` tells the bus whether trying again can help (a timeout, HTTP 5xx or 429, a
    dropped connection) or not (HTTP 4xx, a refused password, a bad URL): the latter is dropped
    after one try. `retry_after_s` carries a receiver's Retry-After hint. The message is one
    line and must not contain a secret (sinks build it from status codes and exception types,
    never from URLs with credentials).
    """

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s
