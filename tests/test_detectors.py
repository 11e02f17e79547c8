"""Face detectors: the contract (5 ArcFace points, best first), the merge rule, masked recall."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared

from kiosk.capture.images import load_rgb
from kiosk.vision.detectors import FULL_PASS_EVERY, FusionRule, YuNetDetector, create_detector, fuse
from kiosk.vision.types import Detections


@pytest.fixture(scope="module")
def detectors():
    """Every detector option once per module (MediaPipe graphs are slow to build)."""
    return {
        "mediapipe": create_detector("mediapipe"),
        "mediapipe-still": create_detector("mediapipe", still=True),
        "mediapipe-short": create_detector("mediapipe", "mediapipe-short"),
        "yunet": create_detector("yunet"),
    }


def _plausible_face(found: Detections) -> None:
    assert found.has_five_points
    box, (r_eye, l_eye, nose, m_right, m_left) = found.xyxy[0], found.keypoints[0]
    x1, y1, x2, y2 = box
    assert np.all((found.keypoints[0] >= [x1, y1]) & (found.keypoints[0] <= [x2, y2]))
    assert r_eye[0] < nose[0] < l_eye[0]  # ArcFace order: the subject's right eye is left in the image
    assert m_right[0] < m_left[0]
    assert max(r_eye[1], l_eye[1]) < nose[1] < min(m_right[1], m_left[1])


@pytest.mark.parametrize("name", ["mediapipe", "mediapipe-still", "mediapipe-short", "yunet"])
def test_finds_the_astronaut_with_five_points_in_place(detectors, astronaut_rgb, name):
    found = detectors[name].detect(astronaut_rgb)
    assert len(found) == 1
    # The face is at about x 180-270, y 60-175 in the 512x512 portrait.
    cx, cy = (found.xyxy[0, :2] + found.xyxy[0, 2:]) / 2
    assert 190 < cx < 260 and 90 < cy < 150
    _plausible_face(found)


@pytest.mark.parametrize("name", ["mediapipe", "mediapipe-still", "yunet"])
@pytest.mark.parametrize("value", [0, 128, 255])
def test_blank_images_have_no_faces(detectors, name, value):
    found = detectors[name].detect(np.full((480, 640, 3), value, np.uint8))
    assert len(found) == 0
    assert found.keypoints.shape == (0, 5, 2)


def test_scores_are_sorted_best_first(detectors, astronaut_rgb):
    face = astronaut_rgb[40:200, 150:300]
    canvas = np.full((480, 900, 3), 90, np.uint8)
    canvas[40:200, 40:190] = face
    canvas[150:470, 500:800] = cv2.resize(face, (300, 320))
    found = detectors["mediapipe"].detect(canvas)
    assert len(found) == 2
    assert found.score[0] >= found.score[1]


def test_small_photos_are_upscaled_and_mapped_back(astronaut_rgb):
    # A 128-px photo: the face is ~25 px wide, below what YuNet finds at native size.
    small = cv2.resize(astronaut_rgb, (128, 128), interpolation=cv2.INTER_AREA)
    found = YuNetDetector(score_threshold=0.5, min_side=640).detect(small)
    assert len(found) >= 1
    assert np.all(found.xyxy[0] >= -2) and np.all(found.xyxy[0] <= 130)  # in the small photo's pixels
    cx = (found.xyxy[0, 0] + found.xyxy[0, 2]) / 2
    assert 45 < cx < 68  # 512-px face centre ~225 -> ~56


def _dets(boxes, scores) -> Detections:
    n = len(boxes)
    return Detections(np.asarray(boxes, np.float32).reshape(n, 4), np.asarray(scores, np.float32),
                      np.zeros((n, 5, 2), np.float32))


def test_fuse_accepts_confident_or_agreeing_boxes_only():
    rule = FusionRule()
    a = _dets([[0, 0, 100, 100], [200, 0, 300, 100], [400, 0, 500, 100]], [0.9, 0.4, 0.4])
    b = _dets([[5, 5, 105, 105], [205, 5, 305, 105], [600, 0, 700, 100]], [0.8, 0.4, 0.3])
    groups = fuse([(a, rule.strong_blazeface), (b, rule.strong_yunet)], rule.agree)
    # Face 1: both confident, one group. Face 2: both weak but agreeing. Faces 3 and 4: one
    # weak detector each, rejected.
    assert [sorted(g) for g in groups] == [[(0, 0), (1, 0)], [(0, 1), (1, 1)]]


def test_fuse_of_nothing_is_nothing():
    assert fuse([(Detections.empty(6), 0.5), (Detections.empty(), 0.5)], 0.35) == []


@pytest.mark.data
def test_finds_faces_in_held_out_masked_photos(detectors):
    root = shared("masked-real")
    # Folders with int(name) % 4 == 0 train the mask classifier (tools/train_mask_classifier.py).
    held_out = [f for d in sorted(root.iterdir()) if int(d.name) % 4 != 0 for f in sorted(d.iterdir())]
    sample = held_out[::8]  # ~40 photos spread over every held-out folder
    assert len(sample) >= 20
    found = [len(detectors["mediapipe-still"].detect(load_rgb(f))) > 0 for f in sample]
    # Measured 0.974 over all 313 held-out photos; BlazeFace alone found 0.80.
    assert np.mean(found) >= 0.9


def _frame(astronaut_rgb) -> np.ndarray:
    """A 640x480 camera frame with the astronaut's face, which BlazeFace sees confidently."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[40:440, 120:520] = cv2.resize(astronaut_rgb[0:400, 30:430], (400, 400))
    return frame


def test_live_video_runs_yunet_only_where_blazeface_is_unsure(astronaut_rgb):
    live = create_detector("mediapipe")
    frame = _frame(astronaut_rgb)
    assert live._blazeface[0].detect(frame).score.min() >= FusionRule().strong_blazeface
    none = np.zeros((0, 4), np.float32)  # frames of a video where nothing is tracked yet
    found = [live.detect(frame, tracked=none) for _ in range(2 * FULL_PASS_EVERY)]
    # The first frame and every FULL_PASS_EVERY-th after it look with YuNet too; the others do not.
    assert live.yunet_runs == 2
    assert all(len(f) == 1 for f in found)
    # The face keeps BlazeFace's box whether YuNet looked or not: the box does not jump.
    assert all(np.array_equal(f.xyxy, found[0].xyxy) for f in found)
    # A tracked face BlazeFace does not see (say, a masked one only YuNet found) makes YuNet look.
    before = live.yunet_runs
    live.detect(frame, tracked=np.array([[0, 0, 100, 100], found[0].xyxy[0]], np.float32))
    assert live.yunet_runs == before + 1
    # An empty frame (a masked face BlazeFace misses could be there) always asks YuNet.
    for _ in range(3):
        live.detect(np.full((480, 640, 3), 90, np.uint8), tracked=none)
    assert live.yunet_runs == before + 4
    # A lone image (no video around it) always gets both detectors.
    live.detect(frame, tracked=none)
    live.detect(frame)
    assert live.yunet_runs == before + 5


def test_photos_always_run_both_detectors(astronaut_rgb):
    still = create_detector("mediapipe", still=True)
    for _ in range(3):
        found = still.detect(_frame(astronaut_rgb))
    assert still.yunet_runs == 3
    yunet = YuNetDetector(score_threshold=0.35, min_side=640).detect(_frame(astronaut_rgb))
    assert np.array_equal(found.xyxy[0], yunet.xyxy[0])  # a photo's face keeps YuNet's box, as tuned
