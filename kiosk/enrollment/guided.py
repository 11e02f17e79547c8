"""Guided capture of enrollment samples from a live camera, Qt-free.

A plan of steps ("look at the camera", "turn a little to your left", ...) is filled one
slot at a time: each analysed frame is offered, the gates judge it, and after
`hold_frames` good frames in a row the face is captured for the current step. Any slot can
be retaken. The enrollment dialog only draws what `offer` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from kiosk.enrollment.gates import Gate, GateConfig, Pose, Verdict, check_frame
from kiosk.vision.types import FaceAnalysis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureStep:
    """One sample to take: what to tell the visitor and which pose the gates expect."""

    instruction: str
    pose: Pose = Pose.FRONTAL
    reference: bool = False  # the reference sample must be unmasked unless the operator allows it
    label: str = ""  # short caption under the thumbnail
    wear_mask: bool = False  # a sample in the visitor's own mask (only with match.use_masked_samples)


DEFAULT_STEPS: tuple[CaptureStep, ...] = (
    CaptureStep("Look straight at the camera", Pose.FRONTAL, reference=True, label="straight"),
    CaptureStep("Turn your head a little to your left", Pose.LEFT, label="left"),
    CaptureStep("Now turn a little to your right", Pose.RIGHT, label="right"),
    CaptureStep("Look at the camera again", Pose.FRONTAL, label="straight"),
    CaptureStep("Once more, straight at the camera", Pose.FRONTAL, label="straight"),
)
# Asked for only when masked visitors are also matched against their own-mask samples
# (MatchConfig.use_masked_samples; off by default, docs/matching.md has why).
MASKED_STEPS: tuple[CaptureStep, ...] = (
    CaptureStep("If you wear a mask, put it on now and look at the camera", Pose.FRONTAL,
                label="in mask", wear_mask=True),
)


def capture_plan(use_masked_samples: bool) -> tuple[CaptureStep, ...]:
    """The steps of the guided capture for this configuration."""
    return DEFAULT_STEPS + (MASKED_STEPS if use_masked_samples else ())


@dataclass(frozen=True)
class CaptureSettings:
    """How strict and how fast the guided capture is."""

    gates: GateConfig = field(default_factory=GateConfig)
    # Good frames in a row before a capture: one lucky frame between two blurred ones is not kept.
    hold_frames: int = 2
    # Seconds between two captures, so the samples are not five copies of one moment.
    min_interval_s: float = 0.5
    # A turn step takes a frontal face after this long: some visitors cannot or will not turn,
    # and a frontal sample is still worth more than no sample.
    turn_patience_s: float = 4.0

    def __post_init__(self) -> None:
        if self.hold_frames < 1:
            raise ValueError("hold_frames must be at least 1")
        if self.min_interval_s < 0 or self.turn_patience_s < 0:
            raise ValueError("intervals cannot be negative")


@dataclass(frozen=True)
class CapturedSample:
    """A face taken for one step of the plan."""

    face: FaceAnalysis
    step: int
    timestamp: float
    relaxed: bool = False  # a turn step that was taken facing the camera


@dataclass(frozen=True)
class Offer:
    """What one offered frame did: the verdict to show, and the sample it produced, if any."""

    verdict: Verdict
    step: int | None  # the step being filled (None when every slot is full)
    instruction: str
    captured: CapturedSample | None = None
    relaxed: bool = False  # the current turn step now accepts a frontal face


class GuidedCapture:
    """Fills the slots of a capture plan from offered frames. Not thread-safe (GUI thread)."""

    def __init__(self, steps: Sequence[CaptureStep] = DEFAULT_STEPS, settings: CaptureSettings | None = None,
                 allow_masked_reference: bool = False) -> None:
        if not steps:
            raise ValueError("a capture plan needs at least one step")
        self.steps = tuple(steps)
        self.settings = settings or CaptureSettings()
        self.allow_masked_reference = allow_masked_reference
        self.slots: list[CapturedSample | None] = [None] * len(self.steps)
        self._good = 0
        self._last_capture: float | None = None
        self._step_started: float | None = None
        self._step_index: int | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def current(self) -> int | None:
        """Index of the step being filled (the first empty slot), None when all are full."""
        for i, slot in enumerate(self.slots):
            if slot is None:
                return i
        return None

    @property
    def done(self) -> bool:
        """True when every slot holds a sample."""
        return self.current is None

    @property
    def samples(self) -> list[CapturedSample]:
        """The captured samples, in plan order."""
        return [s for s in self.slots if s is not None]

    def retake(self, index: int) -> None:
        """Empty slot `index`; it is filled next (before later empty slots)."""
        if not 0 <= index < len(self.slots):
            raise IndexError(f"no capture step {index}")
        self.slots[index] = None
        self._good = 0
        self._step_index = None

    def reset(self) -> None:
        """Empty every slot."""
        self.slots = [None] * len(self.steps)
        self._good = 0
        self._step_index = None
        self._last_capture = None

    # -- frames --------------------------------------------------------------------------

    def verdict_for(self, faces: Sequence[FaceAnalysis], frame_size: tuple[int, int], step: int) -> Verdict:
        """The gates of step `step` on a frame (without capturing anything)."""
        spec = self.steps[step]
        allow_mask = not spec.reference or self.allow_masked_reference
        return check_frame(faces, frame_size, self.settings.gates, spec.pose, allow_mask,
                           require_mask=spec.wear_mask)

    def offer(self, faces: Sequence[FaceAnalysis], frame_size: tuple[int, int], timestamp: float) -> Offer:
        """Judge one analysed frame for the current step; capture when it has been good long enough."""
        index = self.current
        if index is None:
            verdict = check_frame(faces, frame_size, self.settings.gates, Pose.FRONTAL, True)
            return Offer(verdict, None, "All samples taken")
        if self._step_index != index:
            self._step_index, self._step_started, self._good = index, timestamp, 0
        spec = self.steps[index]
        verdict = self.verdict_for(faces, frame_size, index)
        relaxed = False
        instruction = spec.instruction
        if spec.pose is not Pose.FRONTAL:
            waited = timestamp - (self._step_started if self._step_started is not None else timestamp)
            if waited >= self.settings.turn_patience_s:
                instruction = f"{spec.instruction} (or just look at the camera)"
                if not verdict.passed and verdict.failed_only(Gate.POSE):
                    frontal = check_frame(faces, frame_size, self.settings.gates, Pose.FRONTAL,
                                          not spec.reference or self.allow_masked_reference)
                    if frontal.passed:
                        verdict, relaxed = frontal, True
        if not verdict.passed:
            self._good = 0
            return Offer(verdict, index, instruction, relaxed=relaxed)
        self._good += 1
        recent = self._last_capture is not None and timestamp - self._last_capture < self.settings.min_interval_s
        if self._good < self.settings.hold_frames or recent:
            return Offer(verdict, index, instruction, relaxed=relaxed)
        assert verdict.face is not None
        sample = CapturedSample(verdict.face, index, timestamp, relaxed)
        self.slots[index] = sample
        self._last_capture = timestamp
        self._good = 0
        log.info("enrollment: captured step %d (%s)%s", index + 1, spec.label or spec.pose.value,
                 " facing the camera" if relaxed else "")
        return Offer(verdict, index, instruction, captured=sample, relaxed=relaxed)
