"""How the Qt-free controllers (kiosk.enrollment.controller, kiosk.enrollment.gallery_admin)
reach other threads: model work goes to a `ModelRunner`, the one gallery write to a `Writer`,
and every outcome comes back through `post` onto the controller's own thread; and the `Clock`
they read the time from."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol, TypeVar

from kiosk.gallery.api import now_iso
from kiosk.vision.pipeline import FacePipeline

T = TypeVar("T")

#: Runs a callback on the controller's thread (soon, or at once when already there).
Post = Callable[[Callable[[], None]], None]


def run_here(callback: Callable[[], None]) -> None:
    """A `Post` for code without an event loop (tests, scripts): call at once, on this thread."""
    callback()


class ModelRunner(Protocol):
    """Runs `fn(pipeline)` on the thread that owns the pipeline (ui.worker.LiveWorker has this)."""

    def run_on_worker(self, fn: Callable[[FacePipeline], T]) -> Future[T]:
        """Queue `fn`; the Future holds its result or exception."""
        ...


class Writer(Protocol):
    """The gallery's writer: one thread, jobs in order (a ThreadPoolExecutor(max_workers=1))."""

    def submit(self, fn: Callable[[], T], /) -> Future[T]:
        """Queue `fn()`; the Future holds its result or exception."""
        ...


def deliver(post: Post, future: Future[T], on_result: Callable[[T], None],
            on_error: Callable[[BaseException], None]) -> None:
    """When `future` is done, call `on_result(value)` or `on_error(exc)` through `post`.

    A cancelled future calls neither. The callbacks decide (by job id) whether the outcome
    still matters.
    """
    def outcome(f: Future[T]) -> None:
        if f.cancelled():
            return
        exc = f.exception()
        if exc is not None:
            on_error(exc)
        else:
            on_result(f.result())

    future.add_done_callback(lambda f: post(lambda: outcome(f)))


@dataclass(frozen=True)
class Clock:
    """Where the controllers read the time (tests inject their own)."""

    monotonic: Callable[[], float] = time.monotonic  # durations (seconds)
    now_iso: Callable[[], str] = now_iso  # timestamps stored in the gallery (consent)
