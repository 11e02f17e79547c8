"""Typed results passed between the vision stages (validated shapes, numpy inside)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Faces found in one image: boxes in pixels, scores, and optional keypoints.

    `keypoints` is (n, k, 2) in pixels; k = 5 (eyes, nose, mouth corners: the ArcFace
    order) after refinement, 6 for raw MediaPipe points, 0 when the detector has none.
    """

    xyxy: np.ndarray
    score: np.ndarray
    keypoints: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must be (n, 4), got {self.xyxy.shape}")
        if self.score.shape != (n,):
            raise ValueError(f"score must be (n,), got {self.score.shape}")
        if self.keypoints.ndim != 3 or self.keypoints.shape[0] != n or self.keypoints.shape[2] != 2:
            raise ValueError(f"keypoints must be (n, k, 2), got {self.keypoints.shape}")

    @classmethod
    def empty(cls, k: int = 5) -> Detections:
        """No faces."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, k, 2), np.float32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def take(self, index: np.ndarray | list[int]) -> Detections:
        """A subset, in the given order."""
        index = np.asarray(index, dtype=int)
        return Detections(self.xyxy[index], self.score[index], self.keypoints[index])

    @property
    def has_five_points(self) -> bool:
        """True when every face has the 5 ArcFace landmarks."""
        return int(self.keypoints.shape[1]) == 5


@dataclass(frozen=True)
class Quality:
    """Per-face capture quality, used for hints ("move closer") and enrollment gates."""

    face_px: float  # inter-ocular distance in pixels x 2.5 ~ face width
    sharpness: float  # variance of the Laplacian on the aligned crop
    brightness: float  # mean luma 0..255 of the aligned crop
    yaw: float  # -1 (turned to its left) .. 1 (right), from landmark symmetry
    pitch: float  # rough up/down from landmarks, 0 = level


@dataclass
class FaceAnalysis:
    """Everything the pipeline knows about one face."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    det_score: float
    landmarks: np.ndarray  # (5, 2): eye centres, nose tip, mouth corners (from the mesh)
    aligned: np.ndarray  # 112x112x3 RGB uint8
    masked: bool
    mask_score: float
    embedding: np.ndarray  # (D,) float32, L2-normalised
    quality: Quality
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    mesh: np.ndarray | None = None  # (478, 3) face-mesh points in image pixels (what aligned it)
    face_prob: float = 1.0  # the mesh's confidence that its crop shows a face
    face_crop: np.ndarray | None = None  # (256, 256, 3) upright loose crop the mesh ran on

    @property
    def area(self) -> float:
        """Box area in pixels, to pick the largest face."""
        x1, y1, x2, y2 = self.box
        return float(max(0.0, x2 - x1) * max(0.0, y2 - y1))


@dataclass(frozen=True)
class RejectedFace:
    """A detected face that was not aligned (its landmarks failed), and why."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    det_score: float
    face_prob: float
    reason: str  # one line for the CLI and the live window's hint


@dataclass(frozen=True)
class FrameFaces:
    """What the pipeline made of one image: faces ready to match, and faces it had to skip."""

    faces: list[FaceAnalysis]
    rejected: list[RejectedFace] = field(default_factory=list)
