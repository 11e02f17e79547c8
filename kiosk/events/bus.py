"""The event bus: fans each event out to every sink, on the sink's own thread.

Recognition must never wait for delivery: `publish` only appends to each sink's bounded queue
(a deque under a lock held for a few instructions), and drops that sink's OLDEST event when the
queue is full (the newest arrival matters more at a reception desk than one from minutes ago).
Everything slow — connecting, sending, retrying, logging — happens on the sink's thread, so a
hanging receiver holds up its own queue and nothing else.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from types import TracebackType

from kiosk.events.config import EventsConfig, RetryPolicy
from kiosk.events.directory import HostDirectory
from kiosk.events.errors import DeliveryError
from kiosk.events.event import KioskEvent
from kiosk.events.metrics import KioskMetrics
from kiosk.events.ratelog import RateLimitedLog
from kiosk.events.sink import Sink

log = logging.getLogger("kiosk.events")

# How often a worker that waits for its sink to become ready looks at the stop flag.
_READY_POLL_S = 0.25
# At close, this share of the timeout (at most 1 s) is kept for the sinks' own close
# (MQTT publishes `offline` and disconnects).
_CLOSE_RESERVE_S = 1.0


@dataclass(frozen=True)
class SinkStatus:
    """One sink's state, as shown by /health and the GUI.

    `queued` counts the event being delivered too; `dropped` counts events pushed out of a full
    queue or left undelivered at shutdown; `failed` counts events given up on (retries used up,
    or a non-retryable error). `last_error` is one line without secrets: the sink's current
    problem (e.g. the broker refused the password) or else the last delivery error.
    """

    name: str
    queued: int
    delivered: int
    failed: int
    dropped: int
    retrying: bool
    connected: bool | None
    last_error: str | None
    last_ok: datetime | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (last_ok as ISO-8601 UTC)."""
        data = asdict(self)
        data["last_ok"] = None if self.last_ok is None else self.last_ok.isoformat()
        return data


def one_line(text: str, limit: int = 200) -> str:
    """Collapse whitespace so an error stays on one line, and cap its length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Worker:
    """One sink's queue and thread."""

    def __init__(self, sink: Sink, queue_size: int, retry: RetryPolicy,
                 metrics: KioskMetrics | None, rlog: RateLimitedLog,
                 random01: Callable[[], float]) -> None:
        self.sink = sink
        self.name = sink.name
        self._max = queue_size
        self._retry = retry
        self._metrics = metrics
        self._rlog = rlog
        self._random01 = random01
        self._cond = threading.Condition()
        self._queue: deque[KioskEvent] = deque()
        self._in_flight = 0
        self._delivered = 0
        self._failed = 0
        self._dropped = 0
        self._dropped_logged = 0
        self._retrying = False
        self._had_failure = False
        self._last_error: str | None = None
        self._last_ok: datetime | None = None
        self._closing = False
        self._abort = threading.Event()
        self._close_deadline = 0.0
        self._thread = threading.Thread(target=self._run, name=f"kiosk-events {self.name}",
                                        daemon=True)
        if metrics is not None:
            metrics.watch_queue(self.name, self.queued)

    # --- publisher side (any thread; must stay cheap) ---

    def put(self, event: KioskEvent) -> None:
        with self._cond:
            if self._closing:
                self._dropped += 1
                dropped = 1
            else:
                dropped = 0
                if len(self._queue) >= self._max:
                    self._queue.popleft()
                    self._dropped += 1
                    dropped = 1
                self._queue.append(event)
                self._cond.notify()
        if dropped and self._metrics is not None:
            self._metrics.drop(self.name)

    def queued(self) -> int:
        with self._cond:
            return len(self._queue) + self._in_flight

    def status(self) -> SinkStatus:
        with self._cond:
            return SinkStatus(
                name=self.name, queued=len(self._queue) + self._in_flight,
                delivered=self._delivered, failed=self._failed, dropped=self._dropped,
                retrying=self._retrying, connected=self.sink.connected,
                last_error=self.sink.problem or self._last_error, last_ok=self._last_ok,
            )

    # --- lifecycle ---

    def start(self) -> None:
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()

    def begin_close(self, deadline: float) -> None:
        with self._cond:
            self._closing = True
            self._close_deadline = deadline
            self._cond.notify()

    def abort(self) -> None:
        with self._cond:
            self._abort.set()
            self._cond.notify()

    def join(self, timeout: float) -> bool:
        if self._thread.ident is None:  # never started: nothing was sent, nothing to wait for
            return self._abandon_rest() == 0
        self._thread.join(max(0.0, timeout))
        return not self._thread.is_alive()

    # --- the sink's thread ---

    def _run(self) -> None:
        try:
            self.sink.start()
        except Exception as exc:  # a sink that cannot start must not kill its thread silently
            self._note_error(f"cannot start: {type(exc).__name__}: {exc}")
            self._rlog.log(logging.ERROR, f"{self.name}:start", "start",
                           f"events: {self.name}: cannot start ({one_line(str(exc))})")
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing and not self._abort.is_set():
                        self._cond.wait()
                    if self._abort.is_set() or not self._queue:
                        break
                    event = self._queue.popleft()
                    self._in_flight = 1
                self._report_drops()
                try:
                    self._deliver(event)
                finally:
                    with self._cond:
                        self._in_flight = 0
        finally:
            self._abandon_rest()
            try:
                self.sink.close(max(0.1, self._close_deadline - time.monotonic()))
            except Exception as exc:
                log.warning("events: %s: close failed (%s)", self.name, one_line(str(exc)))

    def _deliver(self, event: KioskEvent) -> None:
        attempt = 0
        while True:
            if not self._wait_ready():
                with self._cond:
                    self._dropped += 1  # aborted at shutdown while waiting for the sink
                    self._retrying = False
                    self._in_flight = 0
                if self._metrics is not None:
                    self._metrics.drop(self.name)
                return
            attempt += 1
            try:
                self.sink.deliver(event)
            except DeliveryError as exc:
                error = one_line(str(exc))
                retryable = exc.retryable
                retry_after = exc.retry_after_s
            except Exception as exc:  # a bug in a sink: report it, keep the thread alive
                error = one_line(f"{type(exc).__name__}: {exc}")
                retryable = False
                retry_after = None
            else:
                self._succeeded()
                return
            if not retryable or attempt >= self._retry.max_attempts:
                self._gave_up(error, attempt, retryable)
                return
            self._count("retried", error, retrying=True)
            self._rlog.log(logging.WARNING, f"{self.name}:retry", error,
                           f"events: {self.name}: {error}; retrying "
                           f"(up to {self._retry.max_attempts} tries per event)")
            delay = self._retry.delay_s(attempt, self._random01())
            if retry_after is not None:
                delay = min(max(delay, retry_after), self._retry.max_delay_s)
            if self._abort.wait(delay):
                with self._cond:
                    self._dropped += 1
                    self._retrying = False
                    self._in_flight = 0
                if self._metrics is not None:
                    self._metrics.drop(self.name)
                return

    def _wait_ready(self) -> bool:
        while not self._abort.is_set():
            try:
                if self.sink.wait_ready(_READY_POLL_S):
                    return True
            except Exception as exc:
                self._note_error(one_line(f"{type(exc).__name__}: {exc}"))
                return True  # let deliver() report it through the normal path
        return False

    def _succeeded(self) -> None:
        with self._cond:
            # Counted and no longer in flight in one step: status() never shows it twice.
            self._delivered += 1
            self._in_flight = 0
            self._retrying = False
            self._last_ok = datetime.now(timezone.utc)
            recovered = self._had_failure
            self._had_failure = False
        if self._metrics is not None:
            self._metrics.delivery(self.name, "delivered")
        if recovered:
            for kind in ("retry", "gaveup", "fatal"):
                self._rlog.reset(f"{self.name}:{kind}")
            log.info("events: %s: delivering again", self.name)

    def _gave_up(self, error: str, attempts: int, retryable: bool) -> None:
        self._count("failed", error, retrying=False, failed=True)
        if self.sink.problem is not None:
            # The sink has logged the cause itself (a broker refusing the password): one clear
            # line about that, not a second one about each event it costs.
            log.debug("events: %s: event dropped (%s)", self.name, error)
        elif retryable:
            self._rlog.log(logging.WARNING, f"{self.name}:gaveup", error,
                           f"events: {self.name}: gave up on an event after {attempts} "
                           f"tries ({error})")
        else:
            self._rlog.log(logging.ERROR, f"{self.name}:fatal", error,
                           f"events: {self.name}: event dropped, not retryable ({error})")

    def _count(self, outcome: str, error: str, *, retrying: bool, failed: bool = False) -> None:
        with self._cond:
            self._retrying = retrying
            self._had_failure = True
            self._last_error = error
            if failed:
                self._failed += 1
                self._in_flight = 0
        if self._metrics is not None:
            self._metrics.delivery(self.name, outcome)

    def _note_error(self, error: str) -> None:
        with self._cond:
            self._last_error = one_line(error)
            self._had_failure = True

    def _report_drops(self) -> None:
        # Logged here, not in put(): the publisher's thread must not do I/O.
        with self._cond:
            new = self._dropped - self._dropped_logged
            self._dropped_logged = self._dropped
        if new > 0:
            self._rlog.log(logging.WARNING, f"{self.name}:drop", "drop",
                           f"events: {self.name}: queue full ({self._max}), "
                           f"dropped the oldest events")

    def _abandon_rest(self) -> int:
        with self._cond:
            left = len(self._queue)
            self._queue.clear()
            self._dropped += left
        if left:
            if self._metrics is not None:
                self._metrics.drop(self.name, left)
            log.warning("events: %s: %d event(s) not delivered at shutdown", self.name, left)
        return left


class EventBus:
    """Publishes events to sinks without ever blocking or raising.

    Build one from config with `EventBus.from_config(config)`, or from your own sinks. Use it
    as a context manager, or call `start()` and finally `close()`.
    """

    def __init__(self, sinks: Sequence[Sink], *, queue_size: int = 1000,
                 retry: RetryPolicy | None = None, metrics: KioskMetrics | None = None,
                 random01: Callable[[], float] = random.random,
                 log_interval_s: float = 60.0) -> None:
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique: {names}")
        self.metrics = metrics
        rlog = RateLimitedLog(log, interval_s=log_interval_s)
        self._workers = [
            _Worker(s, queue_size, retry or RetryPolicy(), metrics, rlog, random01) for s in sinks
        ]
        self._closed = False

    @classmethod
    def from_config(cls, config: EventsConfig, *, directory: HostDirectory | None = None,
                    metrics: KioskMetrics | None = None) -> EventBus:
        """The sinks of `config`, started. Raises EventsError (one line) for a setup problem
        such as a missing secret variable or CA file; delivery problems never raise."""
        from kiosk.events.factory import build_sinks

        bus = cls(build_sinks(config, directory=directory), queue_size=config.queue_size,
                  retry=config.retry, metrics=metrics)
        bus.start()
        return bus

    @property
    def sink_names(self) -> list[str]:
        """The sinks' names, in order."""
        return [w.name for w in self._workers]

    def start(self) -> None:
        """Start the sinks' threads (idempotent)."""
        for worker in self._workers:
            worker.start()

    def publish(self, event: KioskEvent) -> None:
        """Queue `event` for every sink that wants it. Returns at once; never raises."""
        try:
            if self.metrics is not None:
                self.metrics.event(event.event, event.kiosk)
            if self._closed:
                return
            for worker in self._workers:
                try:
                    if worker.sink.wants(event):
                        worker.put(event)
                except Exception:  # a broken sink's wants() must not reach the recognition loop
                    log.exception("events: %s: wants() failed", worker.name)
        except Exception:
            log.exception("events: publish failed")

    def status(self) -> list[SinkStatus]:
        """Every sink's status, in order."""
        return [w.status() for w in self._workers]

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver what can be delivered within `timeout` s, then stop the threads.

        Returns True when every queued event was handled (delivered or failed for good).
        """
        if self._closed:
            return True
        self._closed = True
        deadline = time.monotonic() + max(0.0, timeout)
        reserve = min(_CLOSE_RESERVE_S, timeout / 4)
        for worker in self._workers:
            worker.begin_close(deadline)
        drained = True
        for worker in self._workers:
            if not worker.join(deadline - reserve - time.monotonic()):
                drained = False
        for worker in self._workers:
            worker.abort()
        for worker in self._workers:
            if not worker.join(deadline - time.monotonic()):
                log.warning("events: %s: still busy at shutdown (a send is hanging); "
                            "left to finish on its own", worker.name)
        return drained

    def __enter__(self) -> EventBus:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
