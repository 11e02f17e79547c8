"""`face-kiosk watch`: the kiosk's recognition and decisions without a window.

One process, one set of models, one gallery, one or more sources. Each source gets its own
tracker (kiosk.recognition.live.LiveRecognizer) and its own KioskSession (the same Qt-free flow
the fullscreen kiosk renders), so its events carry its own kiosk id. Events go to a callback
(the CLI prints them as JSON lines) and to the event bus (webhooks, MQTT, host notifications).

- Files and image folders are read frame by frame, every frame analysed, in order; time is the
  media's own (frame n of a 25 fps clip is at n/25 s), so a run is reproducible and ends at the
  end of the file.
- Cameras and streams are read on their own threads (kiosk.capture.reader.FrameReader, newest
  frame wins, reconnect with backoff) until `stop()` (SIGINT/SIGTERM in the CLI).
- A source named `exit` (or `exit-...`) is an exit camera: it signs out whoever it recognises
  (kiosk.checkin.session), and the other cameras' cooldowns forget them, so coming back in is a
  new visit. The end-of-day sign-out (kiosk.frontdesk.EndOfDaySchedule) runs at start and at
  every retention check.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiosk.capture.reader import CameraState, CameraStatus, FrameReader, Mailbox
from kiosk.capture.sources import Frame, FrameSource, SourceError, make_source
from kiosk.checkin.session import KioskSession, MediaClock, Publish
from kiosk.config import Config
from kiosk.events.bus import SinkStatus
from kiosk.events.event import KioskEvent
from kiosk.events.metrics import KioskMetrics
from kiosk.events.status import Health, kiosk_health
from kiosk.frontdesk.schedule import EndOfDaySchedule
from kiosk.gallery.api import GalleryStore
from kiosk.gallery.retention import CHECK_EVERY_S, RetentionSchedule
from kiosk.recognition.live import LiveRecognizer
from kiosk.recognition.recognizer import Recognizer
from kiosk.vision.pipeline import FacePipeline

if TYPE_CHECKING:
    from kiosk.liveness import PassiveScorer

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class WatchSource:
    """A source to watch and the kiosk id its events carry."""

    name: str
    spec: str


@dataclass
class _Camera:
    source: WatchSource
    live: LiveRecognizer
    session: KioskSession
    frames: Iterator[Frame] | None = None  # files: read in order here
    reader: FrameReader | None = None  # cameras and streams: read on their thread
    mailbox: Mailbox[Frame] | None = None
    status: CameraStatus | None = None
    last_frame_at: float | None = None
    ended: bool = False


def parse_sources(specs: list[str], kiosk: str) -> list[WatchSource]:
    """`--source` values: "SPEC" or "NAME=SPEC" (NAME: the kiosk id of that source's events)."""
    out = []
    for i, spec in enumerate(specs, 1):
        name, sep, rest = spec.partition("=")
        if sep and name and "/" not in name and ":" not in name and name.replace("-", "").replace("_", "").isalnum():
            out.append(WatchSource(name, rest))
        else:
            out.append(WatchSource(kiosk if len(specs) == 1 else f"{kiosk}-{i}", spec))
    if len({s.name for s in out}) != len(out):
        raise SourceError("two sources have the same name; name them: --source door=0 --source dock=1")
    return out


class HeadlessRunner:
    """Watches the sources until they end (files) or `stop()` (cameras). One thread runs it."""

    def __init__(self, config: Config, gallery: GalleryStore, pipeline: FacePipeline, sources: list[WatchSource],
                 *, on_event: Callable[[KioskEvent], None] | None = None, publish: Publish | None = None,
                 metrics: KioskMetrics | None = None, retention: RetentionSchedule | None = None,
                 on_first_frame: Callable[[], None] | None = None, passive: PassiveScorer | None = None) -> None:
        """`retention`: the purge that runs at start and then daily (kiosk.gallery.retention); the
        runner asks it whether the day changed every `retention_check_s` seconds.
        `on_first_frame`: called once, when the first frame has been analysed (start-up time).
        `passive`: the passive liveness model, loaded already (kiosk.recognition.preload); the
        cameras share it, as they share the pipeline (one thread runs them all)."""
        self._passive = passive
        self.config = config
        self.gallery = gallery
        self.pipeline = pipeline
        self.metrics = metrics
        self._on_event = on_event
        self._publish = publish
        self.retention = retention
        self._on_first_frame = on_first_frame
        self.retention_check_s = CHECK_EVERY_S
        self._stop = threading.Event()
        self._ids = itertools.count(1)
        self._clocks: dict[str, MediaClock] = {}
        self.cameras = [self._camera(s) for s in sources]
        self.end_of_day = EndOfDaySchedule(self.cameras[0].session.frontdesk) if self.cameras else None
        self.frames_processed = 0

    def _camera(self, source: WatchSource) -> _Camera:
        live = LiveRecognizer(Recognizer(self.config, self.gallery, self.pipeline), passive=self._passive)
        media = MediaClock()

        def emit(event: KioskEvent) -> None:
            if self.metrics is not None:
                self.metrics.event(event.event, source.name)
            # The bus first: a failing printer (a closed stdout) must not cost the integrations.
            if self._publish is not None:
                self._publish(event)
            if self._on_event is not None:
                self._on_event(event)

        # The flow's time is the frames' own (media time for files, capture time for cameras).
        session = KioskSession(self.gallery, self.config, kiosk=source.name, publish=emit, flow_clock=media,
                               on_sign_out=self._signed_out)
        self._clocks[source.name] = media
        return _Camera(source, live, session)

    def _signed_out(self, person_id: int) -> None:
        """An exit camera signed someone out: the entrances' cooldowns forget them."""
        for cam in self.cameras:
            cam.session.checkins.forget(person_id)

    def _scheduled(self) -> None:
        """The daily chores: the retention purge, the end-of-day sign-out."""
        if self.retention is not None:
            self.retention.run_if_due()
        if self.end_of_day is not None:
            self.end_of_day.run_if_due()

    # -- lifecycle ------------------------------------------------------------------------

    def open(self) -> None:
        """Open every source: files now (a file that cannot be read is an error), cameras on
        their reader threads (they retry by themselves)."""
        camera_size = (self.config.camera.width, self.config.camera.height)
        for cam in self.cameras:
            source = make_source(cam.source.spec, loop=False, camera_size=camera_size)
            if source.live:
                cam.mailbox = Mailbox()
                cam.reader = FrameReader(functools.partial(make_source, cam.source.spec, camera_size=camera_size),
                                         cam.mailbox, functools.partial(setattr, cam, "status"),
                                         description=cam.source.spec, ids=self._ids)
                cam.reader.start()
            else:
                source.open()  # SourceError for an unreadable file: one line, non-zero exit
                cam.frames = _media_frames(source, self._ids)
                cam.status = CameraStatus(CameraState.LIVE, source.description)

    def stop(self) -> None:
        """Ask the run to end (from a signal handler or another thread)."""
        self._stop.set()

    def close(self) -> None:
        """Release the cameras (on their own threads) and the models."""
        for cam in self.cameras:
            if cam.reader is not None:
                cam.reader.stop()
            if cam.mailbox is not None:
                cam.mailbox.close()
        for cam in self.cameras:
            if cam.reader is not None:
                cam.reader.join(6.0)

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        """Analyse frames until every file ended (exit 0) or `stop()`; returns frames analysed."""
        self._scheduled()
        next_check = time.monotonic() + self.retention_check_s
        while not self._stop.is_set():
            busy = False
            for cam in self.cameras:
                frame = self._next_frame(cam)
                if frame is None:
                    continue
                busy = True
                self._process(cam, frame)
            if all(cam.ended for cam in self.cameras):
                break
            if not busy:
                for cam in self.cameras:
                    if cam.frames is None:
                        self._clocks[cam.source.name].t = time.monotonic()
                        cam.session.tick()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.retention_check_s
                self._scheduled()
        return self.frames_processed

    def _next_frame(self, cam: _Camera) -> Frame | None:
        if cam.ended:
            return None
        if cam.frames is not None:
            frame = next(cam.frames, None)
            if frame is None:
                cam.ended = True
                cam.status = CameraStatus(CameraState.ENDED, cam.source.spec)
            return frame
        assert cam.mailbox is not None
        frame = cam.mailbox.take(0.05 / max(1, len(self.cameras)))
        if cam.status is not None and cam.status.state is CameraState.ENDED:
            cam.ended = True
        return frame

    def _process(self, cam: _Camera, frame: Frame) -> None:
        started = time.perf_counter()
        result = cam.live.process(frame)
        self._clocks[cam.source.name].t = frame.timestamp
        cam.session.observe(result)
        cam.live.liveness.focus = cam.session.liveness_focus
        cam.last_frame_at = time.monotonic()
        self.frames_processed += 1
        if self.frames_processed == 1 and self._on_first_frame is not None:
            self._on_first_frame()
        if self.metrics is not None:
            self.metrics.frame(cam.source.name, (time.perf_counter() - started) * 1e3)

    # -- status ---------------------------------------------------------------------------

    def health(self, sinks: list[SinkStatus] | None = None) -> Health:
        """For the status endpoint: the stalest camera decides."""
        now = time.monotonic()
        ages = [now - c.last_frame_at for c in self.cameras if c.last_frame_at is not None]
        states = [c.status.state for c in self.cameras if c.status is not None]
        state = "running" if states and all(s in (CameraState.LIVE, CameraState.ENDED) for s in states) else (
            states[0].value if states else "starting")
        return kiosk_health(last_frame_age_s=max(ages) if ages else None, camera_state=state,
                            gallery_size=self.cameras[0].live.gallery_people() if self.cameras else 0,
                            sinks=sinks or [])


def _media_frames(source: FrameSource, ids: Iterator[int]) -> Iterator[Frame]:
    """Every frame of a finite source, stamped with its media time (n / fps)."""
    step = 1.0 / (source.fps or 25.0)
    try:
        for n in itertools.count():
            rgb = source.read()
            if rgb is None:
                return
            yield Frame(next(ids), rgb, n * step)
    finally:
        source.close()


def describe_event(event: KioskEvent, *, names: bool = True) -> str:
    """One human-readable line (stderr with -v); `names=False` says "person 12" instead of the name."""
    if event.event == "arrival":
        score = "" if event.score is None else f" ({event.score:.2f})"
        name = event.person if names and event.person is not None else f"person {event.person_id}"
        who = f"{name}{score}{'' if event.logged else ', in cooldown'}"
    elif event.event == "unknown":
        who = "an unknown visitor: sent to the receptionist"
    elif event.event in ("sign_in", "sign_out"):
        who = f"{event.person} signed {'in' if event.event == 'sign_in' else 'out'}"
    elif event.event == "presentation_attack":
        why = (event.liveness or {}).get("reason", "")
        who = f"refused: a photo or a screen held up to the camera ({why})"
    else:
        who = "asked to lower the mask"
    local = event.time.astimezone().strftime("%H:%M:%S")
    return f"{local} {event.kiosk} t={event.t:.1f}s track {event.track}: {who}{', masked' if event.masked else ''}"

