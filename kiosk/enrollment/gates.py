"""Quality gates for enrollment samples: pass/fail per gate, with a reason a visitor understands.

Every limit was measured on real frames (../shared/data/video clips, LFW photos with
controlled blur, scale and exposure); docs/enrollment.md has the numbers and how they were
chosen. The gates only read what the pipeline already measured (`FaceAnalysis.quality`,
its landmarks and mask score), so checking a frame costs nothing beyond detection.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from kiosk.enrollment.samples import prominence, the_person
from kiosk.vision.quality import QualityLimits, QualityProblem
from kiosk.vision.types import FaceAnalysis


class Pose(enum.Enum):
    """The head pose a capture step asks for (the visitor's own left and right)."""

    FRONTAL = "frontal"
    LEFT = "left"
    RIGHT = "right"


class Gate(enum.Enum):
    """One check on a frame, in the order they are reported."""

    FACE = "face"  # a face is there at all
    ONE_FACE = "one face"
    IN_FRAME = "in frame"
    SIZE = "size"
    SHARPNESS = "sharpness"
    EXPOSURE = "exposure"
    POSE = "pose"
    MASK = "mask"


@dataclass(frozen=True)
class GateConfig:
    """The gate values (see docs/enrollment.md for the measurements behind them)."""

    # Face box width in pixels; 60 keeps the frontal frames of the 480x270 clips (60-77 px).
    min_face_px: float = 60.0
    # Laplacian variance of the eye band of the aligned crop: below ~25 the genuine score of
    # blurred LFW photos starts to fall (median 0.77 -> 0.72 at 17-25, 0.64 at 7-11).
    min_sharpness: float = 25.0
    # Mean luma of the aligned face: darker than 40 or brighter than 210 loses >= 0.03 of
    # genuine score on LFW; webcams in a lobby sit at 80-175.
    min_brightness: float = 40.0
    max_brightness: float = 210.0
    # Yaw from the landmarks (0 frontal, +-1 a strong turn). Frontal samples: |yaw| <= 0.25;
    # turned samples 0.25..0.6 (LFW's genuine scores drop beyond |yaw| 0.7).
    max_frontal_yaw: float = 0.25
    min_turn_yaw: float = 0.25
    max_turn_yaw: float = 0.6
    # Pitch from the landmarks; LFW's 1st-99th percentiles are -0.04..0.14.
    min_pitch: float = -0.12
    max_pitch: float = 0.22
    # Mask score above which the reference sample is refused: 99% of real masked faces
    # (masked-real) score >= 0.73, 2% of unmasked LFW faces score >= 0.7.
    max_mask_score: float = 0.7
    # The face box must stay this far (fraction of the frame) from the edges.
    edge_margin: float = 0.02
    # Another face at least this fraction of the largest one's area means two people.
    second_face_area: float = 0.5

    @property
    def quality(self) -> QualityLimits:
        """The size, sharpness and exposure limits, in the one quality rule (pose is the gates' own)."""
        return QualityLimits(self.min_face_px, self.min_sharpness, self.min_brightness, self.max_brightness,
                             max_yaw=float("inf"), min_pitch=float("-inf"), max_pitch=float("inf"))

    def __post_init__(self) -> None:
        if not self.min_brightness < self.max_brightness:
            raise ValueError("min_brightness must be below max_brightness")
        if not 0 <= self.max_frontal_yaw <= self.min_turn_yaw < self.max_turn_yaw:
            raise ValueError("yaw limits must satisfy 0 <= frontal <= turn min < turn max")
        if not self.min_pitch < self.max_pitch:
            raise ValueError("min_pitch must be below max_pitch")


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict on one frame."""

    gate: Gate
    passed: bool
    reason: str = ""  # what to tell the visitor when it failed ("" when passed)
    value: float | None = None  # the measured value, for tooltips and logs


@dataclass(frozen=True)
class Verdict:
    """All gates on one frame: the face they judged (the largest) and whether it may be captured."""

    results: tuple[GateResult, ...]
    face: FaceAnalysis | None

    @property
    def passed(self) -> bool:
        """True when every gate passed."""
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[GateResult, ...]:
        """The gates that refused the frame, in report order."""
        return tuple(r for r in self.results if not r.passed)

    @property
    def reason(self) -> str:
        """The first reason the frame was refused ('' when it passed)."""
        failed = self.failed
        return failed[0].reason if failed else ""

    def failed_only(self, gate: Gate) -> bool:
        """True when `gate` is the only gate that refused the frame."""
        failed = self.failed
        return len(failed) == 1 and failed[0].gate is gate


def _ok(gate: Gate, value: float | None = None) -> GateResult:
    return GateResult(gate, True, "", value)


def _no(gate: Gate, reason: str, value: float | None = None) -> GateResult:
    return GateResult(gate, False, reason, value)


def _pose_result(face: FaceAnalysis, pose: Pose, cfg: GateConfig) -> GateResult:
    q = face.quality
    if not cfg.min_pitch <= q.pitch <= cfg.max_pitch:
        return _no(Gate.POSE, "keep your head level and look at the camera", q.pitch)
    # yaw > 0: the nose points to the image's right, i.e. the visitor turned to their own left
    # (measured on head-pose-face-detection-female.gif, an unmirrored camera).
    yaw = q.yaw
    if pose is Pose.FRONTAL:
        if abs(yaw) > cfg.max_frontal_yaw:
            return _no(Gate.POSE, "turn to the camera", yaw)
        return _ok(Gate.POSE, yaw)
    signed = yaw if pose is Pose.LEFT else -yaw
    side = pose.value
    if signed > cfg.max_turn_yaw:
        return _no(Gate.POSE, "not so far - turn back a little", yaw)
    if signed < -cfg.max_frontal_yaw:
        return _no(Gate.POSE, f"turn the other way, to your {side}", yaw)
    if signed < cfg.min_turn_yaw:
        return _no(Gate.POSE, f"turn a little to your {side}", yaw)
    return _ok(Gate.POSE, yaw)


def check_face(face: FaceAnalysis, frame_size: tuple[int, int], config: GateConfig | None = None,
               pose: Pose = Pose.FRONTAL, allow_mask: bool = True,
               require_mask: bool = False) -> tuple[GateResult, ...]:
    """The per-face gates (in frame, size, sharpness, exposure, pose, mask) for one face."""
    cfg = config or GateConfig()
    q = face.quality
    w, h = frame_size
    x1, y1, x2, y2 = (float(v) for v in face.box)
    mx, my = cfg.edge_margin * w, cfg.edge_margin * h
    results = []
    if x1 < mx or y1 < my or x2 > w - mx or y2 > h - my:
        too_big = (x2 - x1) > 0.6 * w or (y2 - y1) > 0.8 * h
        results.append(_no(Gate.IN_FRAME, "move back a little" if too_big else "move to the middle of the picture"))
    else:
        results.append(_ok(Gate.IN_FRAME))
    problems = cfg.quality.problems(q)
    results.append(_no(Gate.SIZE, "move closer", q.face_px) if QualityProblem.TOO_SMALL in problems
                   else _ok(Gate.SIZE, q.face_px))
    results.append(_no(Gate.SHARPNESS, "hold still - image is blurred", q.sharpness)
                   if QualityProblem.BLURRED in problems else _ok(Gate.SHARPNESS, q.sharpness))
    if QualityProblem.TOO_DARK in problems:
        results.append(_no(Gate.EXPOSURE, "too dark - more light on the face", q.brightness))
    elif QualityProblem.TOO_BRIGHT in problems:
        results.append(_no(Gate.EXPOSURE, "too bright - avoid direct light", q.brightness))
    else:
        results.append(_ok(Gate.EXPOSURE, q.brightness))
    results.append(_pose_result(face, pose, cfg))
    if not allow_mask and face.mask_score >= cfg.max_mask_score:
        results.append(_no(Gate.MASK, "please remove your mask for this photo", face.mask_score))
    elif require_mask and not face.masked:
        results.append(_no(Gate.MASK, "please put your mask on for this photo", face.mask_score))
    else:
        results.append(_ok(Gate.MASK, face.mask_score))
    return tuple(results)


def check_frame(faces: Sequence[FaceAnalysis], frame_size: tuple[int, int], config: GateConfig | None = None,
                pose: Pose = Pose.FRONTAL, allow_mask: bool = True, require_mask: bool = False) -> Verdict:
    """Judge one frame for an enrollment sample: exactly one person, and that face good enough.

    Faces much smaller than the largest (people far behind) do not count as a second person.
    """
    cfg = config or GateConfig()
    if not faces:
        return Verdict((_no(Gate.FACE, "look at the camera - no face found"),), None)
    shape = (frame_size[1], frame_size[0])
    person = the_person(faces, shape, cfg.second_face_area)
    face = person if person is not None else max(faces, key=lambda f: prominence(f, shape))
    others = 0 if person is not None else sum(
        1 for f in faces if f is not face and prominence(f, shape) >= cfg.second_face_area * prominence(face, shape))
    head = [_ok(Gate.FACE)]
    if others:
        head.append(_no(Gate.ONE_FACE, "only one person, please", float(others + 1)))
    else:
        head.append(_ok(Gate.ONE_FACE, 1.0))
    return Verdict(tuple(head) + check_face(face, frame_size, cfg, pose, allow_mask, require_mask), face)
