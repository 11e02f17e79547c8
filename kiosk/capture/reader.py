"""Reading a source on its own thread: frame ids, pacing, a newest-wins mailbox, reconnects.

The reader owns its source from open to close (a camera is released by the thread that
reads it). A lost source is reported and retried with a growing delay, so an unplugged
camera or a dropped stream comes back without a restart.
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from kiosk.capture.sources import Frame, FrameSource, SourceError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds to wait before reconnect attempt 1, 2, 3, ...; the last value repeats.
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)


class Mailbox(Generic[T]):
    """One slot, newest wins: `put` replaces an item nobody took yet and counts it as dropped.

    The consumer blocks in `take`; `latest` is the newest item ever put (taken or not), which
    is what a display wants. `close` wakes every waiter for a prompt shutdown.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self._latest: T | None = None
        self.put_count = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Offer an item; True when it replaced one that was never taken (a drop)."""
        with self._cond:
            if self._closed:
                return False
            replaced = self._full
            if replaced:
                self.dropped += 1
            self._item, self._full, self._latest = item, True, item
            self.put_count += 1
            self._cond.notify()
            return replaced

    def wait_taken(self, timeout: float | None = None) -> bool:
        """Block until the slot is empty (the last item was taken) or the box is closed."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._full or self._closed, timeout)

    def take(self, timeout: float | None = None) -> T | None:
        """The waiting item (removing it), or None after `timeout` seconds or when closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout):
                return None
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()  # a lockstep reader waits for the slot to empty
            return item

    @property
    def latest(self) -> T | None:
        """The newest item put, whether or not it was taken."""
        return self._latest

    @property
    def closed(self) -> bool:
        """True after `close` (puts are ignored, takes return None)."""
        return self._closed

    def close(self) -> None:
        """Refuse further items and wake every waiter."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class CameraState(enum.Enum):
    """What the video source is doing, as shown in the status bar and on the video."""

    CONNECTING = "connecting"
    LIVE = "live"
    LOST = "lost"  # was delivering frames, stopped; reconnecting
    NO_CAMERA = "no camera"  # never opened; still retrying in the background
    ENDED = "ended"  # a finite file or folder without loop played to its end
    STOPPED = "stopped"


@dataclass(frozen=True)
class CameraStatus:
    """One state change of the reader, with a message a receptionist can act on."""

    state: CameraState
    description: str  # which source
    message: str = ""
    attempt: int = 0  # reconnect attempts so far (0 while live)
    retry_in_s: float | None = None


class FrameReader:
    """Reads a source on a named thread: `start()`, then `stop()` and `join()`.

    `make_source` is called on the reader thread each time it (re)connects, so every device
    handle lives and dies on that thread. Frames go to `mailbox` with increasing ids.

    `lockstep=True` (replaying a file for a test, a benchmark or `gui --every-frame`) hands over
    every frame: the reader waits until the consumer took the previous one, and stamps frames
    with the media's own time (start + n / fps) instead of the wall clock, so the result does not
    depend on how fast the machine is. A camera or a stream cannot wait: they are read as usual.
    """

    def __init__(
        self,
        make_source: Callable[[], FrameSource],
        mailbox: Mailbox[Frame],
        on_status: Callable[[CameraStatus], None] | None = None,
        *,
        description: str = "source",
        ids: Iterator[int] | None = None,
        backoff_s: tuple[float, ...] = BACKOFF_S,
        clock: Callable[[], float] = time.monotonic,
        lockstep: bool = False,
    ) -> None:
        self._make_source = make_source
        self.mailbox = mailbox
        self._on_status = on_status or (lambda status: None)
        self.description = description
        self._ids = ids if ids is not None else itertools.count(1)
        self._backoff = backoff_s
        self._clock = clock
        self._lockstep = lockstep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="face-kiosk-capture", daemon=True)
        self.frames_read = 0
        self.reconnects = 0
        self.status = CameraStatus(CameraState.CONNECTING, description)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start reading (once)."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish; it closes the source itself. Returns at once."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread.is_alive()

    # -- thread ------------------------------------------------------------------------

    def _set_status(self, status: CameraStatus) -> None:
        self.status = status
        try:
            self._on_status(status)
        except Exception:  # a broken listener must not kill the camera
            log.exception("camera status listener failed")

    def _run(self) -> None:
        attempt = 0
        ever_live = False
        while not self._stop.is_set():
            self._set_status(CameraStatus(CameraState.CONNECTING, self.description, "connecting…", attempt))
            try:
                source = self._make_source()
                self.description = source.description
                source.open()
            except SourceError as exc:
                attempt += 1
                self._wait_retry(CameraState.LOST if ever_live else CameraState.NO_CAMERA, str(exc), attempt)
                continue
            except Exception as exc:  # an unexpected backend error is still "no picture", not a crash
                log.exception("opening %s failed", self.description)
                attempt += 1
                self._wait_retry(CameraState.LOST if ever_live else CameraState.NO_CAMERA, str(exc), attempt)
                continue
            try:
                outcome = self._pump(source)
            finally:
                source.close()
            if outcome is None:  # stopped
                break
            if outcome == "ended":
                self._set_status(CameraStatus(CameraState.ENDED, self.description, "end of the video"))
                self._stop.wait()
                break
            ever_live = True
            self.reconnects += 1
            attempt = 1
            self._wait_retry(CameraState.LOST, outcome, attempt)
        self._set_status(CameraStatus(CameraState.STOPPED, self.description))

    def _wait_retry(self, state: CameraState, message: str, attempt: int) -> None:
        delay = self._backoff[min(attempt - 1, len(self._backoff) - 1)]
        log.info("%s: %s; retry %d in %.1f s", self.description, message, attempt, delay)
        self._set_status(CameraStatus(state, self.description, message, attempt, delay))
        self._stop.wait(delay)

    def _pump(self, source: FrameSource) -> str | None:
        """Read until stopped (None), the end ("ended") or a failure (its message)."""
        live_reported = False
        lockstep = self._lockstep and not source.live
        interval = 1.0 / source.fps if source.fps else 0.0
        due = self._clock()
        media_start, media_frames = due, 0
        while not self._stop.is_set():
            if lockstep:
                while not self.mailbox.wait_taken(0.1):
                    if self._stop.is_set():
                        return None
            elif interval:
                delay = due - self._clock()
                if delay > 0 and self._stop.wait(delay):
                    return None
            try:
                rgb = source.read()
            except SourceError as exc:
                return str(exc)
            except Exception as exc:
                log.exception("reading %s failed", self.description)
                return str(exc)
            if rgb is None:
                return "ended"
            now = self._clock()
            if lockstep:
                now = media_start + media_frames * (interval or 1 / 25)
                media_frames += 1
            self.mailbox.put(Frame(next(self._ids), rgb, now))
            self.frames_read += 1
            if not live_reported:
                self._set_status(CameraStatus(CameraState.LIVE, self.description))
                live_reported = True
            if interval and not lockstep:
                # Keep the file's rhythm, but never try to catch up after a stall with a burst.
                due = max(due + interval, now)
        return None
