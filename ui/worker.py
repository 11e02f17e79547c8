"""The live window's inference thread: one long-lived QThread, start -> stop() -> wait().

The capture reader (kiosk.capture.reader.FrameReader, its own thread) puts frames into a one-slot
mailbox; this thread takes the newest, runs kiosk.recognition.live.LiveRecognizer on it and publishes a
typed FrameResult. The GUI never waits for it: the video widget pulls `latest_frame()` and
`latest_result()` on its own timer, and the signals below only carry small typed objects.

Everything that touches the models runs here (LiteRT interpreters and OpenCV nets stay on one
thread); other threads hand work in through `run_on_worker`, `set_source`,
`apply_config` and `set_embed_all`, which are queued and run between frames.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QThread, Signal

from kiosk.capture.reader import CameraState, CameraStatus, FrameReader, Mailbox
from kiosk.capture.sources import Frame, FrameSource, make_source
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.gallery.api import GalleryStore
from kiosk.recognition.live import FrameResult, LiveRecognizer, RateMeter, Timings
from kiosk.recognition.recognizer import Recognizer
from kiosk.recognition.tracking import TrackerConfig
from kiosk.vision.pipeline import FacePipeline

if TYPE_CHECKING:
    from kiosk.recognition.preload import ModelPreload

log = logging.getLogger(__name__)

T = TypeVar("T")
SourceSpec = str | Callable[[], FrameSource]
# How long the loop sleeps waiting for a frame before it looks at queued jobs again.
_POLL_S = 0.05
# A reader stuck in a blocking read (a stream past its timeout) is abandoned after this.
_READER_JOIN_S = 6.0


@dataclass(frozen=True)
class WorkerStats:
    """A snapshot for the status bar (read from the GUI thread)."""

    camera: CameraStatus
    processed_fps: float  # frames analysed per second
    recognitions_per_s: float  # faces embedded and matched per second
    dropped: int  # frames the analysis never saw (newer ones replaced them)
    frames_read: int
    frames_analysed: int
    recognitions_total: int
    gallery_people: int
    model_version: str
    models_ready: bool
    timings: Timings
    warning: str | None


def describe_source(spec: SourceSpec | None) -> str:
    """A short label for a source spec (before it is opened)."""
    if spec is None:
        return "no source"
    return spec if isinstance(spec, str) else getattr(spec, "description", "custom source")


class LiveWorker(QThread):
    """Camera reader + recognition for the live window. Start once; `stop()` then `wait()`."""

    result_ready = Signal(object)  # FrameResult, every analysed frame
    camera_status = Signal(object)  # CameraStatus, on every state change
    person_arrived = Signal(object)  # kiosk.recognition.tracking.Arrival, once per track
    models_ready = Signal(str)  # model version, once the models are loaded
    failed = Signal(str)  # the models could not load: video runs on, nobody is recognised

    def __init__(
        self,
        config: Config,
        gallery: GalleryStore,
        source: SourceSpec | None,
        *,
        tracker_config: TrackerConfig | None = None,
        pipeline_factory: Callable[[Config], FacePipeline] | None = None,
        models: ModelPreload | None = None,
        lockstep: bool = False,
        parent=None,
    ) -> None:
        """`lockstep=True` analyses every frame of a file at media time (`gui --every-frame`,
        tests, benchmarks); see kiosk.capture.reader.FrameReader. `models`: the models already
        loading since the app started (kiosk.recognition.preload), taken when the worker starts."""
        super().__init__(parent)
        self.setObjectName("face-kiosk-inference")
        self.config = config
        self.gallery = gallery
        self._source_spec = source
        self._lockstep = lockstep
        self._tracker_config = tracker_config
        self._models = models
        self._pipeline_factory = pipeline_factory or (models.pipeline if models else lambda cfg: FacePipeline(cfg.vision))
        self.mailbox: Mailbox[Frame] = Mailbox()
        self._ids = itertools.count(1)
        self._reader: FrameReader | None = None
        self._live: LiveRecognizer | None = None
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._latest_result: FrameResult | None = None
        self._liveness_focus: int | None = None  # the kiosk screen's visitor (set_liveness_focus)
        self._processed = RateMeter()
        self._recognitions = RateMeter()
        self._camera = CameraStatus(CameraState.CONNECTING, describe_source(source))
        self._models_ready = False
        self._model_version = ""
        self._warning: str | None = None
        self._gallery_people = 0
        self._ending = False

    # -- what the GUI reads (any thread) -------------------------------------------------

    def latest_frame(self) -> Frame | None:
        """The newest captured frame (the display shows it even when analysis lags)."""
        return self.mailbox.latest

    def latest_result(self) -> FrameResult | None:
        """The newest analysis result (its frame may be a little older than latest_frame)."""
        return self._latest_result

    def stats(self) -> WorkerStats:
        """Rates and counters for the status bar."""
        result = self._latest_result
        return WorkerStats(
            camera=self._camera,
            processed_fps=self._processed.rate(),
            recognitions_per_s=self._recognitions.rate(),
            dropped=self.mailbox.dropped,
            frames_read=self.mailbox.put_count,
            frames_analysed=self._processed.total,
            recognitions_total=self._recognitions.total,
            gallery_people=self._gallery_people,
            model_version=self._model_version,
            models_ready=self._models_ready,
            timings=result.timings if result else Timings(),
            warning=self._warning,
        )

    @property
    def lockstep(self) -> bool:
        """True when files are replayed frame by frame at their own time (the kiosk window then
        runs its decisions on that time too)."""
        return self._lockstep

    @property
    def camera(self) -> CameraStatus:
        """The camera's last reported state."""
        return self._camera

    # -- requests (any thread; they run on the worker between frames) ---------------------

    def stop(self) -> None:
        """Ask the thread to finish (returns at once; then call `wait()`)."""
        self._stop.set()
        self.mailbox.close()

    def set_source(self, source: SourceSpec) -> None:
        """Switch to another source: the old one is closed by its own reader thread."""
        self._source_spec = source
        self._camera = CameraStatus(CameraState.CONNECTING, describe_source(source))
        self._jobs.put(lambda: self._start_reader(source))

    def apply_config(self, config: Config) -> None:
        """Use new settings: thresholds at once, a new detector/embedder after a model reload."""
        self._jobs.put(lambda: self._apply_config(config))

    def set_embed_all(self, on: bool) -> None:
        """Embed every face on every frame (for capturing enrollment samples), or only as needed."""
        def job() -> None:
            if self._live is not None:
                self._live.embed_all = on
        self._jobs.put(job)

    def set_liveness_focus(self, track_id: int | None) -> None:
        """The track the kiosk screen faces (kiosk.checkin.session.KioskSession.liveness_focus):
        in active liveness mode only that visitor may be asked to turn their head."""
        if track_id == self._liveness_focus:
            return
        self._liveness_focus = track_id

        def job() -> None:
            if self._live is not None:
                self._live.liveness.focus = track_id
        self._jobs.put(job)

    def run_on_worker(self, fn: Callable[[FacePipeline], T]) -> Future[T]:
        """Run `fn(pipeline)` on this thread between frames; the Future holds its result.

        For short model work from other windows (e.g. making enrollment samples) without a
        second copy of the models. Fails with KioskError when the models are not loaded.
        """
        future: Future[T] = Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                if self._live is None:
                    raise KioskError("the recognition models are not loaded")
                future.set_result(fn(self._live.pipeline))
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)

        if self._stop.is_set():
            future.set_exception(KioskError("the live worker has stopped"))
        else:
            self._jobs.put(job)
        return future

    # -- thread --------------------------------------------------------------------------

    def run(self) -> None:  # noqa: D102 - QThread entry point
        try:
            if self._source_spec is not None:
                self._start_reader(self._source_spec)
            self._load_models(self.config)
            while not self._stop.is_set():
                self._run_jobs()
                frame = self.mailbox.take(_POLL_S)
                if self._live is None:
                    continue
                if frame is None:  # idle (no camera, or between frames): keep the status current
                    self._gallery_people = self._live.gallery_people()
                    continue
                self._analyse(frame)
        except Exception as exc:  # the thread must end cleanly whatever happens
            log.exception("live worker failed")
            self.failed.emit(f"recognition stopped: {exc}")
        finally:
            self._stop_reader()
            self._close_models()
            self._cancel_jobs()

    def _analyse(self, frame: Frame) -> None:
        assert self._live is not None
        try:
            result = self._live.process(frame)
        except KioskError as exc:
            log.warning("frame %d: %s", frame.frame_id, exc)
            return
        self._latest_result = result
        self._warning = result.warning
        self._gallery_people = result.gallery_people
        self._processed.tick()
        if result.recognitions:
            self._recognitions.tick(count=result.recognitions)
        self.result_ready.emit(result)
        for arrival in result.arrivals:
            self.person_arrived.emit(arrival)

    def _run_jobs(self) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            try:
                job()
            except Exception:
                log.exception("worker job failed")

    def _cancel_jobs(self) -> None:
        # Jobs still queued run now, without models (their futures fail instead of hanging);
        # a queued source switch starts no reader once the thread is ending.
        self._ending = True
        self._run_jobs()
        self._ending = False

    def _load_models(self, config: Config) -> None:
        try:
            # No warm-up run: each model runs once as it loads (the embedder, the mesh, the passive
            # model); a whole-pipeline pass on a portrait here cost 0.15-0.25 s of CPU before
            # the first frame and saved the first frame ~0.02 s (the detector's first call).
            pipeline = self._pipeline_factory(config)
            passive = self._models.passive(config) if self._models is not None else None
        except KioskError as exc:
            log.error("models not loaded: %s", exc)
            self.failed.emit(str(exc))
            return
        embed_all = self._live.embed_all if self._live is not None else False
        self._close_models()
        self._live = LiveRecognizer(Recognizer(config, self.gallery, pipeline), self._tracker_config, passive=passive)
        self._live.embed_all = embed_all
        self._live.liveness.focus = self._liveness_focus
        self.config = config
        self._model_version = pipeline.model_version
        self._models_ready = True
        self.models_ready.emit(pipeline.model_version)

    def _apply_config(self, config: Config) -> None:
        same_models = config.vision.model_copy(update={"mask_threshold": None}) == \
            self.config.vision.model_copy(update={"mask_threshold": None})
        if self._live is None or not same_models:
            self._models_ready = False
            self._load_models(config)
            return
        # Same models: only the decision rules change; tracks carry on.
        self._live.update_config(config)
        self.config = config

    def _close_models(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            close = getattr(live.pipeline.detector, "close", None)
            if close is not None:
                close()

    def _on_camera_status(self, status: CameraStatus) -> None:
        # Called on the reader thread; Qt queues the signal to the GUI thread.
        self._camera = status
        self.camera_status.emit(status)

    def _start_reader(self, spec: SourceSpec) -> None:
        self._stop_reader()
        if self._ending:
            return
        if isinstance(spec, str):
            camera = self.config.camera
            factory: Callable[[], FrameSource] = lambda: make_source(  # noqa: E731
                spec, camera_size=(camera.width, camera.height))
        else:
            factory = spec
        reader = FrameReader(factory, self.mailbox, self._on_camera_status,
                             description=describe_source(spec), ids=self._ids, lockstep=self._lockstep)
        self._reader = reader
        reader.start()

    def _stop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is None:
            return
        reader.stop()
        if not reader.join(_READER_JOIN_S):
            # A blocking read in a driver: the daemon thread ends with it; never kill a thread.
            log.warning("%s: the reader did not stop in %.0f s; leaving it", reader.description, _READER_JOIN_S)
