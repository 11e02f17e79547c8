"""Capture quality of one face: size, sharpness, exposure and pose from its landmarks."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.vision.align import mesh_template_five
from kiosk.vision.types import FaceAnalysis, Quality

# Pitch from the mesh's 5 points: the nose tip's height between the eye line and the mouth line,
# relative to the frontal template's. The mesh's nose tip moves about twice as far for the same
# head tilt as the 5-point detector's did, which the capture gates' limits were measured with;
# mapped back to that scale by the fit on lfw-dev faces (mesh = 2.04 x detector - 0.115), so
# docs/enrollment.md's numbers keep their meaning.
_PITCH_SLOPE, _PITCH_OFFSET = 2.04, -0.115


def _frontal_nose_ratio(five: np.ndarray) -> float:
    return float((five[2, 1] - five[:2, 1].mean()) / (five[3:, 1].mean() - five[:2, 1].mean()))


def measure_quality(box: np.ndarray, landmarks: np.ndarray, aligned: np.ndarray) -> Quality:
    """Quality numbers for hints ("move closer", "too dark") and enrollment gates."""
    gray = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY)
    # Sharpness on the eye band only: a mask's flat cloth would otherwise read as blur.
    eyes = gray[30:75, 16:96]
    sharpness = float(cv2.Laplacian(eyes, cv2.CV_64F).var())
    brightness = float(gray[30:100, 20:92].mean())
    right_eye, left_eye, nose, mouth_r, mouth_l = landmarks.astype(np.float64)
    eye_mid = (right_eye + left_eye) / 2
    eye_dist = max(float(np.linalg.norm(left_eye - right_eye)), 1e-6)
    eye_dir = (left_eye - right_eye) / eye_dist
    # Nose offset along the eye line, relative to half the eye distance: 0 frontal, +-1 strong turn.
    yaw = float(np.clip(np.dot(nose - eye_mid, eye_dir) / (eye_dist / 2), -1.5, 1.5))
    mouth_mid = (mouth_r + mouth_l) / 2
    normal = np.array([-eye_dir[1], eye_dir[0]])
    span = max(float(np.dot(mouth_mid - eye_mid, normal)), 1e-6)
    raw_pitch = float(np.dot(nose - eye_mid, normal) / span - _frontal_nose_ratio(mesh_template_five()))
    pitch = (raw_pitch - _PITCH_OFFSET) / _PITCH_SLOPE
    return Quality(
        face_px=float(box[2] - box[0]),
        sharpness=sharpness,
        brightness=brightness,
        yaw=yaw,
        pitch=pitch,
    )


def quality_score(face: FaceAnalysis) -> float:
    """One number in 0..1 to rank samples (size, sharpness, frontal pose)."""
    q = face.quality
    size = min(1.0, q.face_px / 160.0)
    sharp = min(1.0, q.sharpness / 300.0)
    frontal = max(0.0, 1.0 - abs(q.yaw))
    return float(round((size + sharp + frontal) / 3.0, 4))


class QualityProblem(enum.Enum):
    """What is wrong with how a face was captured."""

    TOO_SMALL = "too small"
    BLURRED = "blurred"
    TOO_DARK = "too dark"
    TOO_BRIGHT = "too bright"
    TURNED = "turned away"


@dataclass(frozen=True)
class QualityLimits:
    """Where capture quality becomes a problem (the one rule; the live window's hints and the
    enrollment gates each pass their own values, measured in docs/enrollment.md)."""

    min_face_px: float = 50.0
    min_sharpness: float = 12.0
    min_brightness: float = 50.0
    max_brightness: float = 256.0
    max_yaw: float = 0.6
    min_pitch: float = -0.35
    max_pitch: float = 0.35

    def problems(self, q: Quality) -> tuple[QualityProblem, ...]:
        """The problems of one face's quality, in a fixed order (empty when it is good)."""
        out = []
        if q.face_px < self.min_face_px:
            out.append(QualityProblem.TOO_SMALL)
        if q.sharpness < self.min_sharpness:
            out.append(QualityProblem.BLURRED)
        if q.brightness < self.min_brightness:
            out.append(QualityProblem.TOO_DARK)
        elif q.brightness > self.max_brightness:
            out.append(QualityProblem.TOO_BRIGHT)
        if abs(q.yaw) > self.max_yaw or not self.min_pitch <= q.pitch <= self.max_pitch:
            out.append(QualityProblem.TURNED)
        return tuple(out)
