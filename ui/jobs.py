"""The threads behind the enrollment dialog and the gallery manager (their controllers,
kiosk.enrollment.controller and kiosk.enrollment.gallery_admin, decide what runs where).

- Outcomes come back to the GUI thread through `gui_post()`, the controllers' `post`: a
  `concurrent.futures.Future` completed on any thread (the live worker, the writer, a private
  pipeline) hands its result over with `future.add_done_callback(...)` -> `post(...)`.
- Gallery writes go to one writer thread, `gallery_writer()`: a single-worker executor (Anki's
  taskman pattern), so the database is written from one thread only. The main window makes
  one and hands it to every dialog it opens; a dialog opened on its own makes its own.
- Model work goes to a `ModelRunner`: the live window's worker (`LiveWorker.run_on_worker`,
  one camera and one set of models for everything) or, for a window opened without it, a
  `PipelineThread` (a private pipeline on its own thread).

Why not superqt. `thread_worker` runs on QThreadPool's shared threads, any of them, which fits
neither the one writer nor the models (LiteRT interpreters and OpenCV nets are used from one
thread only). `ensure_main_thread` was used for `post` and crashed the test suite
(segfault, about one full run in four, PySide6 6.11): called from a plain Python thread it
asks Qt for that thread's QThread and creates a QObject there (see PYSIDE-2254). `GuiPost`,
the one small replacement, only emits a queued signal from the other thread to a QObject that
lives on the GUI thread, which PySide6 supports. Nothing here blocks the GUI thread.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from kiosk.config import Config
from kiosk.enrollment.threads import Post
from kiosk.errors import KioskError
from kiosk.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

T = TypeVar("T")

WRITER_THREAD = "face-kiosk-gallery-writer"


class GuiPost(QObject):
    """Runs callbacks on the GUI thread (a controller's `Post`); see the module doc.

    From another thread the callback is queued (the GUI's event loop runs it); on the GUI
    thread it runs at once. One instance lives as long as the application: `gui_post()`.
    """

    _posted = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._posted.connect(self._run)  # AutoConnection: queued when emitted from another thread

    def post(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the GUI thread (safe to call from any thread)."""
        with contextlib.suppress(RuntimeError):  # the application is gone: nobody to tell
            self._posted.emit(callback)

    @Slot(object)
    def _run(self, callback: Callable[[], None]) -> None:
        callback()


_gui_post: GuiPost | None = None


def gui_post() -> Post:
    """The application's `Post` to the GUI thread (first call: on the GUI thread, after QApplication)."""
    global _gui_post
    app = QCoreApplication.instance()
    if _gui_post is None or _gui_post.parent() is not app:
        _gui_post = GuiPost(app)  # deleted with the application
    return _gui_post.post


def gallery_writer() -> ThreadPoolExecutor:
    """A new writer thread for the gallery; its owner calls `shutdown()` when done with it."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=WRITER_THREAD)


class PipelineThread:
    """A private FacePipeline on its own thread (a ModelRunner), loaded by the first job.

    For a dialog opened without the live window. `close()` drops the queued jobs, waits for
    the running one and lets the models go on their own thread, after their last use.
    """

    def __init__(self, config: Config, factory: Callable[[Config], FacePipeline] | None = None) -> None:
        self.config = config
        self._factory = factory or (lambda cfg: FacePipeline(cfg.vision, still=True))
        self._pipeline: FacePipeline | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="face-kiosk-models")
        self._futures: list[Future[object]] = []
        self._closing = False

    @property
    def closing(self) -> bool:
        """`close()` has started: new jobs fail at once."""
        return self._closing

    def run_on_worker(self, fn: Callable[[FacePipeline], T]) -> Future[T]:
        """Run `fn(pipeline)` on the pipeline's thread (loading the models the first time)."""
        if self._closing:
            failed: Future[T] = Future()
            failed.set_exception(KioskError("this window is closing"))
            return failed
        future = self._pool.submit(lambda: fn(self._get()))
        self._futures = [f for f in self._futures if not f.done()] + [future]  # type: ignore[list-item]
        return future

    def _get(self) -> FacePipeline:
        if self._pipeline is None:
            self._pipeline = self._factory(self.config)
        return self._pipeline

    def _release(self) -> None:
        self._pipeline = None

    def close(self) -> None:
        """Drop the queued jobs, wait for the running one, release the models (idempotent)."""
        if self._closing:
            return
        self._closing = True
        for future in self._futures:
            future.cancel()  # only jobs that have not started yet
        self._futures = []
        self._pool.submit(self._release)  # never dropped
        self._pool.shutdown(wait=True)
