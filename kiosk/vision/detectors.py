"""Face detectors behind one small interface, chosen by name from the config.

- `mediapipe` (default): MediaPipe's BlazeFace (full- or short-range) finds faces; YuNet,
  run on each face crop, refines them to the 5 ArcFace landmarks (MediaPipe has no mouth
  corners, which misaligns masked faces); when MediaPipe finds nothing, YuNet on the whole
  frame is the fallback (MediaPipe misses many masked faces).
- `yunet`: YuNet alone on the whole frame.
"""

from __future__ import annotations

import weakref
from typing import Protocol

import cv2
import numpy as np

from kiosk.models import verified_model_path
from kiosk.vision.types import Detections


class FaceDetector(Protocol):
    """Finds faces in an RGB uint8 image."""

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces with 5 ArcFace-order landmarks, sorted by score (best first)."""
        ...


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (n,4) with every box in b (m,4)."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)


class YuNetDetector:
    """OpenCV's YuNet (5 landmarks). Works on the frame shrunk to `max_side`."""

    def __init__(self, score_threshold: float = 0.6, max_side: int = 640, nms: float = 0.3) -> None:
        path = verified_model_path("yunet")
        self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms, 50)
        self._max_side = max_side
        self._size: tuple[int, int] = (0, 0)

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in the whole image."""
        scale = min(1.0, self._max_side / max(rgb.shape[:2]))
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return self._run(small, 1.0 / scale)

    def _run(self, rgb: np.ndarray, unscale: float) -> Detections:
        h, w = rgb.shape[:2]
        if (w, h) != self._size:
            self._net.setInputSize((w, h))
            self._size = (w, h)
        # YuNet was trained on BGR frames.
        _, faces = self._net.detect(np.ascontiguousarray(rgb[:, :, ::-1]))
        if faces is None or len(faces) == 0:
            return Detections.empty()
        faces = faces[np.argsort(-faces[:, 14])]
        xyxy = np.stack([faces[:, 0], faces[:, 1], faces[:, 0] + faces[:, 2], faces[:, 1] + faces[:, 3]], 1)
        kps = faces[:, 4:14].reshape(-1, 5, 2)
        return Detections(
            (xyxy * unscale).astype(np.float32), faces[:, 14].astype(np.float32), (kps * unscale).astype(np.float32)
        )

    def refine(self, rgb: np.ndarray, box: np.ndarray, crop_side: int = 192) -> Detections:
        """Run YuNet on an enlarged square crop around `box`; results in frame pixels."""
        x1, y1, x2, y2 = box
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = max(x2 - x1, y2 - y1) * 0.9
        sx, sy = int(round(cx - half)), int(round(cy - half))
        side = int(round(2 * half))
        if side < 8:
            return Detections.empty()
        # Pad with edge pixels so faces at the border keep a centred crop.
        pad = side
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        crop = padded[sy + pad : sy + pad + side, sx + pad : sx + pad + side]
        scale = crop_side / side
        crop = cv2.resize(crop, (crop_side, crop_side), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        found = self._run(crop, 1.0 / scale)
        if not len(found):
            return found
        offset = np.array([sx, sy], np.float32)
        return Detections(
            found.xyxy + np.tile(offset, 2), found.score, found.keypoints + offset
        )


class MediaPipeDetector:
    """MediaPipe BlazeFace for detection, YuNet on the crop for the 5 landmarks."""

    def __init__(
        self,
        model: str = "mediapipe-full",
        score_threshold: float = 0.5,
        refiner: YuNetDetector | None = None,
        fallback: bool = True,
    ) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        path = verified_model_path(model)
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=path.read_bytes()),
            min_detection_confidence=score_threshold,
        )
        self._mp_image = __import__("mediapipe").Image
        self._mp_format = __import__("mediapipe").ImageFormat.SRGB
        self._detector = vision.FaceDetector.create_from_options(options)
        # mediapipe's own __del__ fails when it runs during interpreter shutdown;
        # a finalizer closes the graph earlier (at exit, or when we are collected).
        self._finalizer = weakref.finalize(self, _close_quietly, self._detector)
        self._yunet = refiner or YuNetDetector(score_threshold=0.5)
        self._fallback = fallback

    def close(self) -> None:
        """Release MediaPipe's graph now rather than at interpreter exit."""
        self._finalizer()

    def detect_blazeface(self, rgb: np.ndarray) -> Detections:
        """MediaPipe alone: boxes and its 6 keypoints (no refinement)."""
        h, w = rgb.shape[:2]
        image = self._mp_image(image_format=self._mp_format, data=np.ascontiguousarray(rgb))
        result = self._detector.detect(image)
        if not result.detections:
            return Detections.empty(k=6)
        boxes, scores, kps = [], [], []
        for det in result.detections:
            bb = det.bounding_box
            boxes.append([bb.origin_x, bb.origin_y, bb.origin_x + bb.width, bb.origin_y + bb.height])
            scores.append(det.categories[0].score if det.categories else 0.0)
            kps.append([[k.x * w, k.y * h] for k in det.keypoints])
        order = np.argsort(-np.asarray(scores))
        return Detections(
            np.asarray(boxes, np.float32)[order],
            np.asarray(scores, np.float32)[order],
            np.asarray(kps, np.float32).reshape(len(boxes), -1, 2)[order],
        )

    def detect(self, rgb: np.ndarray) -> Detections:
        """BlazeFace boxes refined to 5 points by YuNet; YuNet on the frame if BlazeFace is empty."""
        coarse = self.detect_blazeface(rgb)
        boxes, scores, kps = [], [], []
        for i in range(len(coarse)):
            refined = self._yunet.refine(rgb, coarse.xyxy[i])
            if len(refined):
                best = int(np.argmax(_iou(coarse.xyxy[i : i + 1], refined.xyxy)[0]))
                boxes.append(refined.xyxy[best])
                kps.append(refined.keypoints[best])
            else:
                boxes.append(coarse.xyxy[i])
                kps.append(five_from_blazeface(coarse.keypoints[i]))
            scores.append(coarse.score[i])
        if boxes:
            return Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32), np.asarray(kps, np.float32))
        if self._fallback:
            return self._yunet.detect(rgb)
        return Detections.empty()


def _close_quietly(detector) -> None:
    """Close a MediaPipe task; at interpreter exit its dispatcher may already be gone."""
    try:
        detector.close()
    except Exception:  # noqa: BLE001 - at exit: mark closed so mediapipe's __del__ stays quiet
        detector._handle = None


def five_from_blazeface(kps6: np.ndarray) -> np.ndarray:
    """Approximate the 5 ArcFace points from BlazeFace's 6 (eyes, nose, mouth centre, ears).

    Mouth corners are placed on either side of the mouth centre, parallel to the eye line,
    at the typical ArcFace ratio (mouth width ~ 0.83 x eye distance).
    """
    right_eye, left_eye, nose, mouth = kps6[0], kps6[1], kps6[2], kps6[3]
    eye_vec = left_eye - right_eye
    half = eye_vec * (29.18 / 35.24) / 2
    return np.stack([right_eye, left_eye, nose, mouth - half, mouth + half]).astype(np.float32)


DETECTORS = ("mediapipe", "yunet")


def create_detector(name: str, mediapipe_model: str = "mediapipe-full") -> FaceDetector:
    """Build the detector named in the config."""
    if name == "mediapipe":
        return MediaPipeDetector(model=mediapipe_model)
    if name == "yunet":
        return YuNetDetector()
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
