"""Qt-free stand-ins for the threads the controllers use (kiosk.enrollment.threads):
runners and writers whose jobs the test runs when it wants, and a tiny event loop for `post`."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from kiosk.vision.pipeline import FacePipeline

T = TypeVar("T")


def _run(fn: Callable[[], Any], future: Future[Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn())
    except Exception as exc:  # handed to whoever waits on the future
        future.set_exception(exc)


class ManualRunner:
    """A ModelRunner whose jobs wait until the test runs them (`run_next`, `run_all`)."""

    def __init__(self, pipeline: FacePipeline) -> None:
        self.pipeline = pipeline
        self.jobs: list[tuple[Callable[[FacePipeline], Any], Future[Any]]] = []

    def run_on_worker(self, fn: Callable[[FacePipeline], T]) -> Future[T]:
        future: Future[T] = Future()
        self.jobs.append((fn, future))
        return future

    def run_next(self) -> None:
        fn, future = self.jobs.pop(0)
        _run(lambda: fn(self.pipeline), future)

    def run_all(self) -> None:
        while self.jobs:
            self.run_next()


class ImmediateRunner:
    """A ModelRunner that runs each job at once, on the caller's thread."""

    def __init__(self, pipeline: FacePipeline) -> None:
        self.pipeline = pipeline
        self.calls = 0

    def run_on_worker(self, fn: Callable[[FacePipeline], T]) -> Future[T]:
        self.calls += 1
        future: Future[T] = Future()
        _run(lambda: fn(self.pipeline), future)
        return future


class ThreadRunner:
    """A ModelRunner with its own thread (like the live worker); `close()` joins it."""

    def __init__(self, pipeline: FacePipeline) -> None:
        self.pipeline = pipeline
        self.calls = 0
        self.threads: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-models")

    def run_on_worker(self, fn: Callable[[FacePipeline], T]) -> Future[T]:
        self.calls += 1

        def job() -> T:
            self.threads.add(threading.current_thread().name)
            return fn(self.pipeline)

        return self._pool.submit(job)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class ManualWriter:
    """A Writer whose jobs wait until the test runs them."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], Any], Future[Any]]] = []

    def submit(self, fn: Callable[[], T], /) -> Future[T]:
        future: Future[T] = Future()
        self.jobs.append((fn, future))
        return future

    def run_next(self) -> None:
        fn, future = self.jobs.pop(0)
        _run(fn, future)

    def run_all(self) -> None:
        while self.jobs:
            self.run_next()


class ImmediateWriter:
    """A Writer that runs each job at once (and counts them)."""

    def __init__(self) -> None:
        self.calls = 0

    def submit(self, fn: Callable[[], T], /) -> Future[T]:
        self.calls += 1
        future: Future[T] = Future()
        _run(fn, future)
        return future


class Loop:
    """The controller's thread in a test: `post` queues callbacks, `run_until` runs them."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.thread = threading.current_thread()

    def post(self, callback: Callable[[], None]) -> None:
        self._queue.put(callback)

    def run_pending(self) -> int:
        n = 0
        while True:
            try:
                callback = self._queue.get_nowait()
            except queue.Empty:
                return n
            assert threading.current_thread() is self.thread
            callback()
            n += 1

    def run_until(self, predicate: Callable[[], bool], limit_s: float = 60.0) -> bool:
        """Run callbacks until `predicate()` holds (a hang guard, not a timing assertion)."""
        end = time.monotonic() + limit_s
        while not predicate():
            if time.monotonic() > end:
                return False
            try:
                callback = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            callback()
        return True
