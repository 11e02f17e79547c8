"""Synthetic arrivals at the kiosk, made from still photos, and what the kiosk decides on each.

A visitor "walks up": their photo is composited onto a plain lobby-like background and grows
from ~70 to ~140 px of face over the clip, drifting a little, with small tilts, exposure
changes, sensor noise and now and then motion blur. A masked arrival has a mask painted on the
photo once (it moves with the face). Every frame goes through the live window's own code
(LiveRecognizer: detection, mesh, tracking, fused track probes, votes) and the kiosk's state
machine (KioskFlow with the kiosk's timing), at the clip's own time, so the outcome does not
depend on the machine's speed.

An arrival that is asked to lower the mask does so: from then on the clip shows the same photo
without the mask. Outcomes: greeted as the right person, greeted as someone else, sent to the
receptionist (unknown), asked to lower the mask (and what happened after).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.capture.sources import Frame
from kiosk.checkin.flow import FlowTiming, KioskFlow, Screen, observe_result
from kiosk.checkin.session import MediaClock
from kiosk.config import Config
from kiosk.gallery.api import GalleryStore
from kiosk.recognition.live import LiveRecognizer
from kiosk.recognition.recognizer import Recognizer
from kiosk.vision.pipeline import FacePipeline
from kiosk.vision.synthetic_masks import MaskStyle, paint_mask

FPS = 10.0  # frames the analysis sees per second of the clip (a loaded 2-core kiosk manages 10-20)
FRAME_SIZE = (640, 480)
# The screens that decide an arrival, by the name its outcome gives the first of them.
FIRST_DECISIONS = {Screen.GREETING: "greeted", Screen.UNKNOWN: "unknown", Screen.LOWER_MASK: "lower-mask"}


@dataclass(frozen=True)
class ArrivalOutcome:
    """What the kiosk did with one arrival."""

    truth: int | None  # the person's gallery id (None: a stranger)
    masked: bool  # arrived wearing a mask
    first: str  # first decision: "greeted", "unknown", "lower-mask" or "none" (the clip ended first)
    person: int | None  # who was greeted (first or after lowering the mask)
    final: str  # "greeted", "unknown" or "none" once the clip is over
    seconds: float  # clip time of the first decision

    @property
    def greeted_right(self) -> bool:
        """Greeted as themselves (an enrolled visitor), at once or after lowering the mask."""
        return self.final == "greeted" and self.truth is not None and self.person == self.truth

    @property
    def greeted_wrong(self) -> bool:
        """Greeted as somebody else (for a stranger: greeted at all)."""
        return self.final == "greeted" and self.person != self.truth


def walk_up_frames(photo: np.ndarray, rng: np.random.Generator, seconds: float = 3.0) -> Iterator[np.ndarray]:
    """Frames of a visitor walking up to the camera (`photo` already holds any mask); endless
    after `seconds` (the visitor stands at the kiosk)."""
    w, h = FRAME_SIZE
    background = lobby_background(rng)
    drift = rng.uniform(-40, 40)
    tilt = rng.uniform(-6, 6)
    gain = rng.uniform(0.75, 1.15)
    n = max(2, int(seconds * FPS))
    i = 0
    while True:
        p = min(1.0, i / (n - 1))
        scale = 0.55 + 0.55 * p  # LFW's face (~110 px in 250 px) grows from ~60 to ~120 px
        angle = tilt * math.sin(2.3 * p + rng.uniform(-0.05, 0.05))
        cx = w / 2 + drift * (1 - p) + rng.normal(0, 1.5)
        cy = h * 0.45 + rng.normal(0, 1.5)
        m = cv2.getRotationMatrix2D((photo.shape[1] / 2, photo.shape[0] / 2), angle, scale)
        m[:, 2] += (cx - photo.shape[1] / 2, cy - photo.shape[0] / 2)
        mask = cv2.warpAffine(np.full(photo.shape[:2], 255, np.uint8), m, (w, h))
        face = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR)
        alpha = cv2.GaussianBlur(mask, (0, 0), 3)[..., None].astype(np.float32) / 255
        frame = alpha * face + (1 - alpha) * background
        frame = frame * (gain + rng.normal(0, 0.02)) + rng.normal(0, 4, frame.shape)
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        if rng.random() < 0.15:  # a step: motion blur along the walk
            k = int(rng.integers(3, 8))
            frame = cv2.filter2D(frame, -1, np.full((1, k), 1 / k, np.float32))
        yield frame
        i += 1


def walk_on_bare(bare: np.ndarray, seed: int, frame: int) -> Iterator[np.ndarray]:
    """The same walk-up (the same `seed`) from after `frame` on, without the mask: the visitor
    lowered it when asked."""
    frames = walk_up_frames(bare, np.random.default_rng(seed))
    for _ in range(frame + 1):
        next(frames)
    return frames


def lobby_background(rng: np.random.Generator) -> np.ndarray:
    """A plain lobby-like wall: a random colour, a vertical light ramp, blurred grain."""
    w, h = FRAME_SIZE
    base = rng.uniform(60, 200, 3)
    ramp = np.linspace(-25, 25, h)[:, None, None] * rng.uniform(0.5, 1.5)
    bg = np.broadcast_to(base, (h, w, 3)) + ramp
    return cv2.GaussianBlur(np.clip(bg + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.float32), (0, 0), 2)


def run_arrival(pipeline: FacePipeline, gallery: GalleryStore, config: Config, bare: np.ndarray,
                masked: np.ndarray | None, truth: int | None, rng: np.random.Generator,
                max_seconds: float = 12.0) -> ArrivalOutcome:
    """One arrival through the live recognizer and the kiosk flow, at clip time."""
    clock = MediaClock()
    timing = FlowTiming.from_config(config.kiosk)
    flow = KioskFlow(None, timing, clock=clock)
    live = LiveRecognizer(Recognizer(config, gallery, pipeline))
    seed = int(rng.integers(1 << 31))
    frames = walk_up_frames(masked if masked is not None else bare, np.random.default_rng(seed))
    first, first_at, person = "none", 0.0, None
    lowered = False
    for i in range(int(max_seconds * FPS)):
        clock.t = i / FPS
        result = live.process(Frame(i + 1, next(frames), clock.t))
        state = observe_result(flow, result)
        screen = state.screen
        if screen is Screen.LOWER_MASK and not lowered and masked is not None:
            lowered = True
            frames = walk_on_bare(bare, seed, i)
        if first == "none" and screen in FIRST_DECISIONS:
            first, first_at = FIRST_DECISIONS[screen], clock.t
        if screen is Screen.GREETING:
            person = state.person_id
            return ArrivalOutcome(truth, masked is not None, first, person, "greeted", first_at)
        if screen is Screen.UNKNOWN:
            return ArrivalOutcome(truth, masked is not None, first, None, "unknown", first_at)
    return ArrivalOutcome(truth, masked is not None, first, None, "none", first_at)


@dataclass(frozen=True)
class ArrivalSummary:
    """Shares of arrivals by outcome, for one kind of arrival (enrolled/stranger x bare/masked)."""

    arrivals: int
    greeted_right: float
    greeted_wrong: float
    receptionist: float  # sent to the receptionist (unknown), at once or after being asked
    asked_to_unmask: float  # asked to lower the mask first
    undecided: float  # nothing decided within the clip
    median_s: float  # median clip time to the first decision


def summarise(outcomes: Sequence[ArrivalOutcome]) -> ArrivalSummary:
    """The shares over a list of outcomes."""
    n = max(1, len(outcomes))
    decided = [o.seconds for o in outcomes if o.first != "none"]
    return ArrivalSummary(
        arrivals=len(outcomes),
        greeted_right=sum(o.greeted_right for o in outcomes) / n,
        greeted_wrong=sum(o.greeted_wrong for o in outcomes) / n,
        receptionist=sum(o.final == "unknown" for o in outcomes) / n,
        asked_to_unmask=sum(o.first == "lower-mask" for o in outcomes) / n,
        undecided=sum(o.final == "none" for o in outcomes) / n,
        median_s=float(np.median(decided)) if decided else 0.0,
    )


def masked_copy(pipeline: FacePipeline, photo: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The photo with a random mask painted on its largest face (None: no face found)."""
    faces = pipeline.analyze(photo, max_faces=1)
    if not faces:
        return None
    return paint_mask(photo, faces[0].landmarks, MaskStyle.random(rng), rng)


def as_dict(summary: ArrivalSummary) -> dict[str, float]:
    """For --json."""
    return dataclasses.asdict(summary)
