"""Per-frame work of the live window, Qt-free: detect, track, recognise when needed.

`LiveRecognizer.process(frame)` turns one captured frame into a typed `FrameResult` that
the GUI only draws. It runs on the inference thread (ui.worker), in `face-kiosk watch`
(kiosk.checkin.headless) and in tests/benchmarks without Qt.

It asks the gallery at most once a second whether anything changed (`data_version`, which
sees other processes' writes too: `face-kiosk people remove` while the kiosk runs); when it
did, the templates are read again and every track votes its identity again, so a removed
person is not greeted again and someone enrolled elsewhere is.

Every face is also fed to the liveness check (kiosk.recognition.liveness_feed): its track's
decision (live, attack, unsure) is on the `TrackedFace`; the kiosk flow acts on it.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiosk.capture.sources import Frame
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.liveness import NOT_CHECKED, LivenessDecision
from kiosk.recognition.learning import LearnCandidate, learning_enabled
from kiosk.recognition.liveness_feed import LivenessFeed
from kiosk.recognition.matching import Matcher
from kiosk.recognition.recognizer import Recognizer
from kiosk.recognition.tracking import Arrival, Identity, Tracker, TrackerConfig
from kiosk.recognition.verdict import Verdict
from kiosk.security.sqlcipher import DB_ERRORS
from kiosk.vision.quality import QualityLimits, QualityProblem, quality_score
from kiosk.vision.types import FaceAnalysis, Quality, RejectedFace

if TYPE_CHECKING:
    from kiosk.liveness import PassiveScorer
    from kiosk.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)


class Hint(enum.Enum):
    """What the person in front of the camera could do for a better recognition."""

    TOO_FAR = "move closer"
    TOO_DARK = "too dark"
    BLURRED = "hold still"
    TURN = "turn to the camera"


#: The live window's hint limits (looser than the enrollment gates: a hint, not a refusal).
HINT_LIMITS = QualityLimits(min_face_px=50, min_sharpness=12, min_brightness=50, max_yaw=0.6,
                            min_pitch=-0.35, max_pitch=0.35)
_HINTS = {QualityProblem.TOO_SMALL: Hint.TOO_FAR, QualityProblem.TOO_DARK: Hint.TOO_DARK,
          QualityProblem.BLURRED: Hint.BLURRED, QualityProblem.TURNED: Hint.TURN}


def quality_hints(q: Quality, limits: QualityLimits = HINT_LIMITS) -> tuple[Hint, ...]:
    """The hints a face's quality calls for (empty when it is good)."""
    found = limits.problems(q)
    return tuple(h for p, h in _HINTS.items() if p in found)


@dataclass(frozen=True)
class TrackedFace:
    """One face on one frame, with the identity its track has voted so far."""

    track_id: int
    identity: Identity
    masked: bool  # the track's smoothed mask state
    analysis: FaceAnalysis  # box, landmarks, aligned crop; embedding only when `recognised`
    hints: tuple[Hint, ...]
    recognised: bool  # embedded and matched on this very frame
    last_vote: Verdict | None = None  # the track's latest raw recognition (score, threshold, candidate)
    epoch: int = 0  # how often the track's identity was decided afresh (Track.epoch: gallery changed, mask off)
    liveness: LivenessDecision = NOT_CHECKED  # the track's liveness decision (NOT_CHECKED: the check is off)

    @property
    def box(self) -> np.ndarray:
        """x1, y1, x2, y2 in frame pixels."""
        return self.analysis.box

    @property
    def quality(self) -> Quality:
        """Capture quality of this face on this frame."""
        return self.analysis.quality


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent on each stage of one frame."""

    detect_ms: float = 0.0
    analyse_ms: float = 0.0  # align + mask flag + quality
    embed_ms: float = 0.0  # embedding + matching (0 when no face needed it)
    total_ms: float = 0.0
    liveness_ms: float = 0.0  # the liveness check of every face (inside total_ms, not embed_ms)


@dataclass(frozen=True)
class FrameResult:
    """Everything the GUI draws for one frame: faces, arrivals, timings."""

    frame_id: int
    timestamp: float  # capture time of the frame (time.monotonic)
    frame_size: tuple[int, int]  # (w, h)
    faces: tuple[TrackedFace, ...]
    arrivals: tuple[Arrival, ...]
    timings: Timings
    recognitions: int  # faces embedded on this frame
    gallery_people: int
    model_version: str
    warning: str | None = None  # e.g. the gallery was made by another model
    rejected: tuple[RejectedFace, ...] = ()  # faces found but not aligned (landmarks failed), with why
    # Tracks confirmed on the bare face on this frame, with the masked frames they may teach
    # (kiosk.recognition.learning; only while learning is on).
    confirmations: tuple[LearnCandidate, ...] = ()

    @property
    def named(self) -> tuple[TrackedFace, ...]:
        """Faces shown with a name."""
        return tuple(f for f in self.faces if f.identity.known)


class RateMeter:
    """Events per second over a sliding window of monotonic timestamps (thread-safe)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.total = 0

    def tick(self, now: float | None = None, count: int = 1) -> None:
        """Record `count` events at `now`."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for _ in range(count):
                self._times.append(now)
            self.total += count
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        """Events per second in the last window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            return len(self._times) / self.window_s


#: How often (seconds, at most) the live recognizer asks the gallery whether it changed.
GALLERY_POLL_S = 1.0


class LiveRecognizer:
    """Detect on every frame, recognise only the tracks that need it. One per worker thread.

    `embed_all=True` embeds every face on every frame (an enrollment dialog capturing samples
    wants the embeddings); otherwise the tracker decides. `clock` (monotonic seconds) paces the
    gallery polls (GALLERY_POLL_S). `passive`: the passive liveness model when it was loaded
    already (kiosk.recognition.preload); else the check loads its own on first use.
    """

    def __init__(self, recognizer: Recognizer, tracker_config: TrackerConfig | None = None,
                 hint_limits: QualityLimits | None = None, *, clock: Callable[[], float] = time.monotonic,
                 passive: PassiveScorer | None = None) -> None:
        self.recognizer = recognizer
        self._clock = clock
        self._next_poll = float("-inf")
        self._gallery_version: int | None = None
        # One mask rule: the pipeline's threshold (config.vision.mask_threshold, else the
        # classifier's), here on the track's smoothed score. Masked frames are kept for
        # learning only while it is on.
        base = tracker_config or TrackerConfig()
        self._learn_views = base.learn_views
        self.tracker = Tracker(dataclasses.replace(
            base, mask_threshold=recognizer.pipeline.mask_threshold,
            learn_views=base.learn_views if learning_enabled(recognizer.config.match) else 0))
        self.hint_limits = hint_limits or HINT_LIMITS
        self.liveness = LivenessFeed(recognizer.config.liveness, passive)
        self.embed_all = False
        self._templates_seen: object | None = None
        self._people = 0
        self._stale_warning: str | None = None

    @property
    def pipeline(self) -> FacePipeline:
        """The FacePipeline in use (owned by the recognizer)."""
        return self.recognizer.pipeline

    def update_config(self, config: Config) -> None:
        """New decision rules (thresholds, mask threshold) on the same models; tracks carry on
        but vote their identity again under the new rules."""
        self.recognizer = Recognizer(config, self.recognizer.gallery, self.pipeline)
        threshold = config.vision.mask_threshold or self.pipeline.mask_classifier.threshold
        self.pipeline.mask_threshold = threshold
        self.tracker.config = dataclasses.replace(
            self.tracker.config, mask_threshold=threshold,
            learn_views=self._learn_views if learning_enabled(config.match) else 0)
        for track in self.tracker.tracks.values():
            track.mask_threshold = threshold
        self.tracker.forget_identities()
        self.liveness.update_config(config.liveness)

    def gallery_people(self) -> int:
        """People in the gallery for the model in use (cheap: the templates are cached)."""
        self._matcher_or_warning()
        return self._people

    def poll_gallery(self) -> bool:
        """Ask the gallery whether any process changed it (at most once per GALLERY_POLL_S);
        True when it did since the last poll (its templates are then read again)."""
        now = self._clock()
        if now < self._next_poll:
            return False
        self._next_poll = now + GALLERY_POLL_S
        try:
            version = self.recognizer.gallery.data_version()
        except (KioskError,) + DB_ERRORS as exc:  # a locked or vanished file: keep the templates we have
            log.warning("could not ask the gallery for changes: %s", exc)
            return False
        changed = self._gallery_version is not None and version != self._gallery_version
        self._gallery_version = version
        if changed:
            log.info("the gallery changed (this or another process): its templates are read again")
        return changed

    def _matcher_or_warning(self) -> tuple[Matcher | None, str | None]:
        self.poll_gallery()
        try:
            matcher = self.recognizer.matcher
        except KioskError as exc:  # e.g. templates of another model: detect and track, but name nobody
            return None, str(exc)
        if matcher.templates is not self._templates_seen:
            if self._templates_seen is not None:
                log.info("gallery changed: voting every track's identity again")
                self.tracker.forget_identities()
            self._templates_seen = matcher.templates
            self._people = matcher.templates.n_people if len(matcher.templates) else 0
            stale = self.recognizer.gallery.people_without(self.pipeline.model_version)
            self._stale_warning = (
                f"{stale} enrolled {'person is' if stale == 1 else 'people are'} not recognised: enrolled with an "
                "earlier face-kiosk; run `face-kiosk people reembed`" if stale else None)
        return matcher, self._stale_warning

    def learn_candidate(self, track_id: int, person_id: int) -> LearnCandidate | None:
        """What a track in view may teach once a receptionist confirmed it is `person_id` (the
        receptionist's route of kiosk.recognition.learning; None: nothing safe to learn)."""
        if track_id not in self.tracker.tracks:
            return None
        candidate = self.tracker.learn_candidate(track_id, person_id, confirmed_by="receptionist")
        return None if candidate is None else dataclasses.replace(candidate, model_version=self.pipeline.model_version)

    def process(self, frame: Frame) -> FrameResult:
        """Detect, track and (where needed) recognise the faces of one frame."""
        t0 = time.perf_counter()
        pipeline = self.pipeline
        rgb = frame.rgb
        found = pipeline.detect(rgb, self.tracker.boxes())
        t1 = time.perf_counter()
        # A face that continues a track starts its landmarks from the track's last ones (one
        # mesh pass instead of a search from the detector's box, as MediaPipe tracks).
        previous = [self.tracker.last_mesh(tid) if tid is not None else None
                    for tid in self.tracker.peek(found.xyxy)]
        frame_faces = pipeline.analyze_detections(rgb, found, embed=False, previous=previous)
        faces = frame_faces.faces
        t2 = time.perf_counter()
        now = frame.timestamp
        track_ids = self.tracker.update(
            np.stack([f.box for f in faces]) if faces else np.zeros((0, 4), np.float32),
            now,
            np.array([f.mask_score for f in faces], np.float32),
        )
        for tid, face in zip(track_ids, faces):
            self.tracker.tracks[tid].mesh = face.mesh
        decisions = self.liveness.observe(frame, track_ids, faces, self.tracker.tracks)
        t_live = time.perf_counter()  # the recognition's time (embed_ms) starts after the check
        qualities = [quality_score(f) for f in faces]
        matcher, warning = self._matcher_or_warning()
        need = [
            i for i, tid in enumerate(track_ids)
            if matcher is not None and (self.embed_all or self.tracker.needs_recognition(tid, qualities[i], now))
        ]
        arrivals: list[Arrival] = []
        confirmations: list[LearnCandidate] = []
        if need:
            assert matcher is not None  # nothing is needed without one
            embeddings = pipeline.embed_aligned(np.stack([faces[i].aligned for i in need]))
            for k, i in enumerate(need):
                faces[i].embedding = embeddings[k]
                # The track's smoothed mask state picks the thresholds, not one frame's flag.
                faces[i].masked = self.tracker.tracks[track_ids[i]].masked
            # Decide on the track, not the frame: the probe is the quality-weighted mean of the
            # track's best frames so far (this one included), matched at the fused-probe thresholds.
            fused = [self.tracker.fuse(track_ids[i], faces[i].embedding, qualities[i], faces[i].masked)
                     for i in need]
            matches = matcher.identify(np.stack([v for v, _ in fused]), np.array([faces[i].masked for i in need]),
                                       np.array([n > 1 for _, n in fused]))
            for i, verdict in zip(need, matches):
                tid = track_ids[i]
                arrival = self.tracker.add_recognition(tid, verdict, qualities[i], now, frame.frame_id)
                if arrival is not None:
                    arrivals.append(arrival)
                if self.tracker.config.learn_views:
                    self.tracker.keep_view(tid, faces[i], qualities[i], verdict)
                    confirmed = self.tracker.confirmation(tid)
                    if confirmed is not None:
                        confirmations.append(dataclasses.replace(confirmed, model_version=pipeline.model_version))
        t3 = time.perf_counter()
        recognised = set(need)
        tracked = tuple(
            TrackedFace(
                track_id=tid,
                identity=self.tracker.identity(tid),
                masked=self.tracker.tracks[tid].masked,
                analysis=face,
                hints=quality_hints(face.quality, self.hint_limits),
                recognised=i in recognised,
                last_vote=self.tracker.last_vote(tid),
                epoch=self.tracker.tracks[tid].epoch,
                liveness=decisions[i],
            )
            for i, (tid, face) in enumerate(zip(track_ids, faces))
        )
        return FrameResult(
            frame_id=frame.frame_id,
            timestamp=frame.timestamp,
            frame_size=frame.size,
            faces=tracked,
            arrivals=tuple(arrivals),
            timings=Timings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t_live) * 1e3, (t3 - t0) * 1e3,
                            self.liveness.last_ms),
            recognitions=len(need),
            gallery_people=self._people,
            model_version=pipeline.model_version,
            warning=warning,
            rejected=tuple(frame_faces.rejected),
            confirmations=tuple(confirmations),
        )
