"""Face detectors behind one small interface, chosen by name from the config.

- `mediapipe` (default): MediaPipe's BlazeFace *and* YuNet on the whole frame, merged. BlazeFace
  alone misses many masked faces (74-84% found on masked-real), YuNet alone misses others; a face
  counts when either is confident, or when both see it at a lower score. Detectors give boxes
  and rough points; the landmarks that align a face come from the face mesh.
  `still=True` (photos: enrolment, import, CLI) also runs the other BlazeFace range, which
  finds close-up faces that full-range misses, for ~2-5 ms more.
- `yunet`: YuNet alone on the whole frame.

Small images are upscaled for YuNet (to `min_side`): its smallest anchors are ~10 px, and the
faces in small photos are smaller than that. BlazeFace runs in LiteRT (kiosk.vision.blazeface),
not in MediaPipe's Tasks runtime, whose library posts usage metrics to Google.

Live video (`still=False`, frames of one video given with their `tracked` boxes, as
kiosk.recognition.live does; a lone image always gets both detectors) runs YuNet only where
BlazeFace is unsure: a frame whose BlazeFace faces are all confident and cover every face being
tracked skips it (YuNet costs ~4x BlazeFace:
20-27 ms of CPU against 6 on this 2-core machine). YuNet still runs on every frame with no
confident face, with a score in BlazeFace's unsure band, with a tracked face BlazeFace does not
see (a masked face only YuNet found keeps YuNet running while it is tracked), and at least on
every FULL_PASS_EVERY-th frame, so a face BlazeFace misses beside one it sees is found within
a few frames. A live face BlazeFace sees confidently keeps BlazeFace's box on every frame, with
or without YuNet, so its box does not jump between the two detectors' shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from kiosk.config import DETECTOR_NAMES
from kiosk.models import verified_model_path
from kiosk.vision.blazeface import BlazeFace
from kiosk.vision.geometry import iou_matrix
from kiosk.vision.native_logs import native_stderr_quiet
from kiosk.vision.types import Detections

SAME_FACE_IOU = 0.3  # BlazeFace and YuNet boxes of one face overlap with IoU ~0.7 (5th pct 0.38)
FULL_PASS_EVERY = 5  # live: YuNet runs on at least every 5th frame (0.2 s at 25 fps)


class FaceDetector(Protocol):
    """Finds faces in an RGB uint8 image."""

    def detect(self, rgb: np.ndarray, tracked: np.ndarray | None = None) -> Detections:
        """Faces with 5 ArcFace-order landmarks, sorted by score (best first). `tracked`: the
        boxes (n, 4) of the faces being tracked in this video, if any (a hint to skip work)."""
        ...


class YuNetDetector:
    """OpenCV's YuNet (5 landmarks) on the frame resized so its long side is in [min_side, max_side]."""

    def __init__(self, score_threshold: float = 0.6, max_side: int = 640, nms: float = 0.3,
                 min_side: int = 0) -> None:
        path = verified_model_path("yunet")
        with native_stderr_quiet():
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms, 50)
        self._max_side = max_side
        self._min_side = min_side
        self._size: tuple[int, int] = (0, 0)

    def detect(self, rgb: np.ndarray, tracked: np.ndarray | None = None) -> Detections:
        """Faces in the whole image (`tracked` is not used: YuNet always looks at all of it)."""
        long_side = max(rgb.shape[:2])
        if long_side > self._max_side:
            scale = self._max_side / long_side
        elif long_side < self._min_side:
            scale = self._min_side / long_side
        else:
            scale = 1.0
        if scale == 1.0:
            return self._run(rgb, 1.0)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        return self._run(cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=interp), 1.0 / scale)

    def _run(self, rgb: np.ndarray, unscale: float) -> Detections:
        h, w = rgb.shape[:2]
        if (w, h) != self._size:
            self._net.setInputSize((w, h))
            self._size = (w, h)
        # YuNet was trained on BGR frames (cvtColor: the same pixels as a reversed copy, faster).
        _, faces = self._net.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if faces is None or len(faces) == 0:
            return Detections.empty()
        faces = faces[np.argsort(-faces[:, 14])]
        xyxy = np.stack([faces[:, 0], faces[:, 1], faces[:, 0] + faces[:, 2], faces[:, 1] + faces[:, 3]], 1)
        kps = faces[:, 4:14].reshape(-1, 5, 2)
        return Detections(
            (xyxy * unscale).astype(np.float32), faces[:, 14].astype(np.float32), (kps * unscale).astype(np.float32)
        )


@dataclass(frozen=True)
class FusionRule:
    """When a candidate box counts as a face.

    A candidate counts when its own detector is confident (`strong`), or when two different
    detectors both see it (overlapping boxes) with at least `agree` each. Chosen on the training
    folders of masked-real plus LFW/deepface photos (false boxes); see tools/measure_masks.py.
    """

    strong_blazeface: float = 0.5
    strong_yunet: float = 0.5
    agree: float = 0.35


def fuse(candidates: list[tuple[Detections, float]], agree: float) -> list[list[tuple[int, int]]]:
    """Group candidate boxes from several detectors into faces.

    `candidates` holds (detections, strong threshold) per detector. Returns one group per
    accepted face, best score first; a group lists (detector index, row) of its members.
    """
    rows = [(src, i) for src, (det, _) in enumerate(candidates) for i in range(len(det))]
    if not rows:
        return []
    boxes = np.stack([candidates[s][0].xyxy[i] for s, i in rows])
    scores = np.array([candidates[s][0].score[i] for s, i in rows], np.float32)
    strong = np.array([candidates[s][1] for s, _ in rows], np.float32)
    source = np.array([s for s, _ in rows])
    overlap = iou_matrix(boxes, boxes) > SAME_FACE_IOU
    other = source[:, None] != source[None, :]
    seconded = (overlap & other & (scores[None, :] >= agree)).any(1)
    accepted = (scores >= strong) | ((scores >= agree) & seconded)
    groups: list[list[int]] = []
    for j in np.argsort(-scores, kind="stable"):
        if not accepted[j]:
            continue
        home = next((g for g in groups if overlap[j, g[0]]), None)
        if home is None:
            groups.append([int(j)])
        else:
            home.append(int(j))
    return [[rows[j] for j in g] for g in groups]


class MediaPipeDetector:
    """BlazeFace and YuNet on the whole frame, merged into one box per face.

    Boxes only matter here: the landmarks for alignment come from the face mesh
    (kiosk.vision.landmarks). Each face keeps its detector's 5 rough points (YuNet's, or
    BlazeFace's turned into 5), whose eyes set the rotation of the mesh's first crop.
    """

    def __init__(
        self,
        model: str = "mediapipe-full",
        still: bool = False,
        rule: FusionRule | None = None,
        min_side: int = 640,
    ) -> None:
        self.rule = rule or FusionRule()
        low = min(self.rule.agree, self.rule.strong_blazeface)
        self._blazeface = [BlazeFace(model, low)]
        if still:
            other = "mediapipe-short" if model == "mediapipe-full" else "mediapipe-full"
            self._blazeface.append(BlazeFace(other, low))
        # Whole-frame YuNet, upscaling small images (its smallest anchors are ~10 px).
        self._yunet = YuNetDetector(score_threshold=min(self.rule.agree, self.rule.strong_yunet), min_side=min_side)
        self.live = not still  # YuNet only where BlazeFace is unsure; BlazeFace's boxes kept
        self._since_full = FULL_PASS_EVERY  # frames since YuNet last ran: the first frame gets it
        self.yunet_runs = 0  # frames YuNet ran on (the benchmark reports the share)

    def detect_blazeface(self, rgb: np.ndarray) -> Detections:
        """The primary BlazeFace alone: boxes and its 6 keypoints (for the benchmark)."""
        found = self._blazeface[0].detect(rgb)
        return found.take(np.flatnonzero(found.score >= self.rule.strong_blazeface))

    def detect(self, rgb: np.ndarray, tracked: np.ndarray | None = None) -> Detections:
        """Merged BlazeFace + YuNet faces with 5 rough points each, best first (live video:
        YuNet only where BlazeFace is unsure, see the module's docstring)."""
        blaze = [b.detect(rgb) for b in self._blazeface]
        if self.live and tracked is not None and self._blazeface_is_sure(blaze[0], tracked):
            self._since_full += 1
            return self._merge(blaze, Detections.empty())
        self._since_full = 1
        self.yunet_runs += 1
        return self._merge(blaze, self._yunet.detect(rgb))

    def _blazeface_is_sure(self, found: Detections, tracked: np.ndarray) -> bool:
        if self._since_full >= FULL_PASS_EVERY or not len(found):
            return False
        candidates = found.score >= min(self.rule.agree, self.rule.strong_blazeface)
        confident = found.score >= self.rule.strong_blazeface
        if (candidates & ~confident).any():
            return False  # a score YuNet could second (or not): ask it
        if not len(tracked):
            return True
        seen = iou_matrix(np.asarray(tracked, np.float32).reshape(-1, 4), found.xyxy[confident]) > SAME_FACE_IOU
        return bool(seen.any(1).all())

    def _merge(self, blaze: list[Detections], yunet: Detections) -> Detections:
        candidates = [(d, self.rule.strong_blazeface) for d in blaze] + [(yunet, self.rule.strong_yunet)]
        yunet_src = len(blaze)
        boxes, scores, kps = [], [], []
        for group in fuse(candidates, self.rule.agree):
            scores.append(max(candidates[s][0].score[i] for s, i in group))
            from_yunet = [i for s, i in group if s == yunet_src]
            # Members come best first: the group's best BlazeFace box, if any.
            src, i = next(((s, i) for s, i in group if s != yunet_src), (yunet_src, -1))
            sure_blazeface = src != yunet_src and candidates[src][0].score[i] >= self.rule.strong_blazeface
            if from_yunet and not (self.live and sure_blazeface):
                best = max(from_yunet, key=lambda i: yunet.score[i])
                boxes.append(yunet.xyxy[best])
                kps.append(yunet.keypoints[best])
                continue
            boxes.append(candidates[src][0].xyxy[i])
            kps.append(five_from_blazeface(candidates[src][0].keypoints[i]))
        if not boxes:
            return Detections.empty()
        order = np.argsort(-np.asarray(scores), kind="stable")
        return Detections(np.asarray(boxes, np.float32)[order], np.asarray(scores, np.float32)[order],
                          np.asarray(kps, np.float32)[order])


def five_from_blazeface(kps6: np.ndarray) -> np.ndarray:
    """Approximate the 5 ArcFace points from BlazeFace's 6 (eyes, nose, mouth centre, ears).

    Mouth corners are placed on either side of the mouth centre, parallel to the eye line,
    at the typical ArcFace ratio (mouth width ~ 0.83 x eye distance).
    """
    right_eye, left_eye, nose, mouth = kps6[0], kps6[1], kps6[2], kps6[3]
    eye_vec = left_eye - right_eye
    half = eye_vec * (29.18 / 35.24) / 2
    return np.stack([right_eye, left_eye, nose, mouth - half, mouth + half]).astype(np.float32)


def create_detector(name: str, mediapipe_model: str = "mediapipe-full", still: bool = False) -> FaceDetector:
    """Build the detector named in the config (`kiosk.config.DetectorName`).

    `still=True` is for single photos (enrolment, import, CLI): it adds the other BlazeFace range
    for close-ups, a few ms per image that live video need not spend.
    """
    factories: dict[str, Callable[[], FaceDetector]] = {
        "mediapipe": lambda: MediaPipeDetector(model=mediapipe_model, still=still),
        "yunet": lambda: YuNetDetector(min_side=640),
    }
    assert set(factories) == set(DETECTOR_NAMES), "kiosk.config.DetectorName and the detectors disagree"
    if name not in factories:
        raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")
    return factories[name]()
