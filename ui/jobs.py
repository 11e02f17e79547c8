"""Short background jobs for enrollment and the gallery manager, with progress and cancel.

Model work goes through a `ModelRunner`: the live window's worker (`run_on_worker`, so one
camera and one set of models serve everything) or, for a window opened without it, a
`PipelineThread` that owns a private FacePipeline on its own thread (MediaPipe and the
onnxruntime sessions are used from one thread only). Database-only work (export) goes to
a `TaskThread`. Results come back to the GUI thread through `FutureRelay`; nothing here
blocks the GUI thread.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import QObject, Signal

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

T = TypeVar("T")


class ModelRunner(Protocol):
    """Runs `fn(pipeline)` on the thread that owns the pipeline (ui.worker.LiveWorker has this)."""

    def run_on_worker(self, fn: Callable[[FacePipeline], T]) -> Future[T]:
        """Queue `fn`; the Future holds its result or exception."""
        ...


class TaskThread:
    """One background thread for plain jobs (database, files). `close()` waits for it."""

    def __init__(self, name: str = "face-kiosk-jobs") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._futures: list[Future] = []
        self._closed = False

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run `fn()` on the thread."""
        if self._closed:
            future: Future[T] = Future()
            future.set_exception(KioskError("this window is closing"))
            return future
        future = self._pool.submit(fn)
        self._futures = [f for f in self._futures if not f.done()] + [future]
        return future

    def close(self, last: Callable[[], None] | None = None) -> None:
        """Drop the queued jobs, run `last` (if given) after the running one, and wait (idempotent).

        `last` is never dropped: it releases what the jobs used (e.g. MediaPipe graphs, which
        must be closed explicitly - one left to the garbage collector can be closed in the
        middle of another MediaPipe call on whatever thread collects it, and deadlock there).
        """
        if self._closed:
            return
        self._closed = True
        for future in self._futures:
            future.cancel()  # only jobs that have not started yet
        self._futures = []
        if last is not None:
            self._pool.submit(last)
        self._pool.shutdown(wait=True)


class PipelineThread:
    """A private FacePipeline on its own thread, loaded by the first job (a ModelRunner)."""

    def __init__(self, config: Config, factory: Callable[[Config], FacePipeline] | None = None) -> None:
        self.config = config
        self._factory = factory or (lambda cfg: FacePipeline(cfg.vision, still=True))
        self._pipeline: FacePipeline | None = None
        self._thread = TaskThread("face-kiosk-models")

    def run_on_worker(self, fn: Callable[[FacePipeline], T]) -> Future[T]:
        """Run `fn(pipeline)` on the pipeline's thread (loading the models the first time)."""
        return self._thread.submit(lambda: fn(self._get()))

    def _get(self) -> FacePipeline:
        if self._pipeline is None:
            self._pipeline = self._factory(self.config)
        return self._pipeline

    def close(self) -> None:
        """Wait for the running job and release the models on their own thread."""
        def release() -> None:
            pipeline, self._pipeline = self._pipeline, None
            close = getattr(getattr(pipeline, "detector", None), "close", None)
            if close is not None:
                close()

        self._thread.close(last=release)


class FutureRelay(QObject):
    """Hands a Future's outcome to a callback on the GUI thread.

    The Future completes on some other thread; its done-callback emits a queued signal.
    If this object is gone by then, the outcome is dropped (the window was closed).
    """

    _ready = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ready.connect(self._deliver)

    def watch(self, future: Future, on_result: Callable[[Any], None],
              on_error: Callable[[BaseException], None] | None = None) -> Future:
        """Call `on_result(value)` or `on_error(exc)` on the GUI thread when `future` is done.

        A cancelled future calls neither.
        """
        def done(f: Future) -> None:
            with contextlib.suppress(RuntimeError):  # the relay's C++ object is already deleted
                self._ready.emit((f, on_result, on_error))

        future.add_done_callback(done)
        return future

    def _deliver(self, payload: tuple) -> None:
        future, on_result, on_error = payload
        try:
            value = future.result()
        except CancelledError:
            return
        except Exception as exc:  # handed to the window: a failed job must not kill the GUI
            if on_error is not None:
                on_error(exc)
            else:
                log.error("background job failed: %s", exc)
            return
        on_result(value)


class BatchJob(QObject):
    """Runs `fn(pipeline, item)` for each item, one at a time, through a ModelRunner.

    One item at a time keeps cancel quick and lets the live view run between items.
    `item_done(item, result, error)` fires for every item that ran; `finished(cancelled)` once.
    """

    progress = Signal(int, int)  # items done, total
    item_done = Signal(object, object, object)  # item, result (or None), error (or None)
    finished = Signal(bool)  # True when cancelled

    def __init__(self, runner: ModelRunner, items: Sequence, fn: Callable[[FacePipeline, Any], Any],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.items = list(items)
        self.fn = fn
        self.done = 0
        self.cancelled = False
        self.running = False
        self._future: Future | None = None
        self._relay = FutureRelay(self)

    def start(self) -> None:
        """Begin with the first item."""
        self.running = True
        self.progress.emit(0, len(self.items))
        self._next()

    def cancel(self) -> None:
        """Stop after the item that is running now (its result is dropped)."""
        if not self.running:
            return
        self.cancelled = True
        if self._future is not None:
            self._future.cancel()
        self._finish()

    def _next(self) -> None:
        if self.cancelled:
            return
        if self.done >= len(self.items):
            self._finish()
            return
        item = self.items[self.done]
        fn = self.fn
        self._future = self._relay.watch(
            self.runner.run_on_worker(lambda pipeline: fn(pipeline, item)),
            lambda result: self._on_item(item, result, None),
            lambda exc: self._on_item(item, None, exc),
        )

    def _on_item(self, item: Any, result: Any, error: BaseException | None) -> None:
        if self.cancelled:
            return
        self.done += 1
        self.item_done.emit(item, result, error)
        self.progress.emit(self.done, len(self.items))
        self._next()

    def _finish(self) -> None:
        if self.running:
            self.running = False
            self.finished.emit(self.cancelled)
