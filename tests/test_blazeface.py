"""BlazeFace in LiteRT (kiosk/vision/blazeface.py) gives what MediaPipe's Tasks runtime gave.

The pinned numbers below are the Tasks runtime's own output (mediapipe 1.2.3, FaceDetector,
min_detection_confidence 0.35) on the vendored portrait and on that portrait in an odd-sized
canvas (a letterbox that falls between pixels), measured before mediapipe was dropped
(tools/compare_blazeface.py has the comparison on the development photos).
"""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.errors import ModelError
from kiosk.vision import blazeface
from kiosk.vision.blazeface import (
    SPECS,
    BlazeFace,
    anchor_centres,
    decode,
    letterbox_maps,
    tasks_boxes,
    weighted_nms,
)

# model, image -> (box as Tasks gives it, score, the 6 keypoints in pixels)
TASKS = {
    ("mediapipe-full", "photo"): ([172, 68, 275, 171], 0.91206, [
        [202.48, 104.07], [246.66, 105.78], [224.49, 132.54], [223.33, 148.07], [178.11, 107.24], [268.89, 111.50]]),
    ("mediapipe-full", "canvas"): ([128, 237, 178, 287], 0.88149, [
        [142.91, 251.99], [164.05, 254.10], [151.70, 262.72], [151.20, 272.92], [132.44, 257.21], [176.46, 262.71]]),
    ("mediapipe-short", "photo"): ([177, 82, 272, 177], 0.92174, [
        [201.50, 104.90], [245.85, 109.10], [220.43, 127.26], [219.82, 148.61], [178.19, 115.72], [272.20, 123.87]]),
    ("mediapipe-short", "canvas"): ([123, 240, 188, 305], 0.36443, [
        [145.22, 264.57], [162.02, 258.68], [156.75, 267.73], [160.49, 278.45], [136.00, 276.19], [176.65, 261.63]]),
}


@pytest.fixture(scope="module")
def images(astronaut_rgb) -> dict[str, np.ndarray]:
    canvas = np.full((517, 333, 3), 90, np.uint8)
    canvas[200:456, 40:296] = astronaut_rgb[::2, ::2]
    return {"photo": astronaut_rgb, "canvas": canvas}


@pytest.mark.parametrize(("model", "image"), sorted(TASKS))
def test_the_same_faces_as_mediapipes_tasks_runtime(model, image, images):
    box, score, keypoints = TASKS[(model, image)]
    found = BlazeFace(model, 0.35).detect(images[image])
    assert len(found) == 1
    assert found.xyxy[0].tolist() == box
    assert found.score[0] == pytest.approx(score, abs=2e-5)
    np.testing.assert_allclose(found.keypoints[0], keypoints, atol=0.011)


def test_anchors_follow_mediapipes_ssd_options():
    short, full = anchor_centres(SPECS["mediapipe-short"]), anchor_centres(SPECS["mediapipe-full"])
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # Short range: 16x16 cells of stride 8, two anchors each, then 8x8 cells of stride 16, six each.
    np.testing.assert_allclose(short[:4], [[0.5 / 16, 0.5 / 16]] * 2 + [[1.5 / 16, 0.5 / 16]] * 2)
    np.testing.assert_allclose(short[512:518], [[0.5 / 8, 0.5 / 8]] * 6)
    np.testing.assert_allclose(short[-1], [7.5 / 8, 7.5 / 8])
    # Full range: one anchor per cell of a 48x48 grid, row by row.
    np.testing.assert_allclose(full[[0, 1, 48, 2303]], [[0.5 / 48, 0.5 / 48], [1.5 / 48, 0.5 / 48],
                                                      [0.5 / 48, 1.5 / 48], [47.5 / 48, 47.5 / 48]])


def test_decoding_offsets_scales_and_clips_scores():
    spec = SPECS["mediapipe-full"]
    raw = np.zeros((1, 2304, 16), np.float32)
    logits = np.full((1, 2304, 1), -1e4, np.float32)  # clipped to -100: no overflow warning
    logits[0, 49, 0] = 1e4  # anchor (1.5, 1.5) / 48, clipped to +100: score 1
    raw[0, 49, :4] = [19.2, -9.6, 38.4, 19.2]  # x, y offsets and w, h in input pixels (192)
    raw[0, 49, 4:6] = [9.6, 0.0]  # first keypoint
    boxes, scores, kps = decode(raw, logits, spec, 0.5)
    cx, cy = 1.5 / 48 + 0.1, 1.5 / 48 - 0.05
    np.testing.assert_allclose(boxes, [[cx - 0.1, cy - 0.05, cx + 0.1, cy + 0.05]], atol=1e-6)
    assert scores.tolist() == [1.0]
    np.testing.assert_allclose(kps[0, 0], [1.5 / 48 + 0.05, 1.5 / 48], atol=1e-6)
    np.testing.assert_allclose(kps[0, 1], [1.5 / 48, 1.5 / 48], atol=1e-6)  # no offset: the anchor
    raw[0, 49, 2] = -1.0  # a negative width: dropped, as MediaPipe drops it
    assert len(decode(raw, logits, spec, 0.5)[1]) == 0


def test_weighted_suppression_averages_a_face_by_score_and_keeps_others_apart():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [3.0, 3.0, 4.0, 4.0]])
    scores = np.array([0.6, 0.9, 0.5])
    kps = np.zeros((3, 6, 2))
    kps[:, :, 0] = [[0.0], [1.0], [5.0]]
    out_boxes, out_scores, out_kps = weighted_nms(boxes, scores, kps)
    assert out_scores.tolist() == [0.9, 0.5]  # the best box's own score
    np.testing.assert_allclose(out_boxes[0], [0.06, 0.0, 1.06, 1.0])  # (0.6 * 0 + 0.9 * 0.1) / 1.5
    np.testing.assert_allclose(out_kps[0, :, 0], 0.6)
    np.testing.assert_allclose(out_boxes[1], boxes[2])
    # IoU must be above the threshold to merge (MediaPipe's `>`).
    touching = np.array([[0.0, 0.0, 1.0, 1.0], [0.5, 0.0, 1.5, 1.0]])  # IoU 1/3
    assert len(weighted_nms(touching, np.array([0.9, 0.8]), np.zeros((2, 6, 2)), iou=1 / 3)[1]) == 2
    assert len(weighted_nms(touching, np.array([0.9, 0.8]), np.zeros((2, 6, 2)), iou=0.33)[1]) == 1


def test_boxes_take_the_tasks_apis_whole_pixel_form():
    """Truncated to whole pixels; the origin clamped to the image, the size kept, the right and
    bottom edges left alone. The cases: the portrait cut by each edge, our float boxes and what
    the Tasks runtime returned for them."""
    found = tasks_boxes(np.array([[-28.07, 70.17, 77.31, 175.55],  # cut by the left edge
                                  [162.69, -41.0, 283.83, 80.15],  # the top
                                  [166.2, 63.99, 276.5, 174.3],  # the right (240 px wide)
                                  [172.13, 66.88, 277.53, 172.29]]))  # the bottom (150 px high)
    assert found.tolist() == [[0, 70, 105, 175], [162, 0, 283, 121], [166, 63, 276, 173], [172, 66, 277, 171]]


def test_an_image_of_the_input_size_is_sampled_pixel_for_pixel():
    whole, fraction = letterbox_maps(192, 192, 192)
    rows, cols = np.mgrid[0:192, 0:192]
    assert (whole[..., 0] == cols).all() and (whole[..., 1] == rows).all() and (fraction == 0).all()
    with pytest.raises(ValueError):
        whole[0, 0, 0] = 1  # cached and shared: read-only


def test_the_letterbox_is_undone(astronaut_rgb):
    """A wide frame (bars added above and below by the letterbox) and a square one with the same
    bars already in it make the same input: the same face, 100 px apart vertically."""
    detector = BlazeFace("mediapipe-full", 0.5)
    wide = np.zeros((512, 712, 3), np.uint8)
    wide[:, 100:612] = astronaut_rgb
    square = np.zeros((712, 712, 3), np.uint8)
    square[100:612] = wide
    in_wide, in_square = detector.detect(wide), detector.detect(square)
    assert len(in_wide) == len(in_square) == 1
    assert in_wide.score[0] == in_square.score[0]
    np.testing.assert_allclose(in_wide.xyxy[0], in_square.xyxy[0] - [0, 100, 0, 100], atol=1)  # whole pixels
    np.testing.assert_allclose(in_wide.keypoints[0], in_square.keypoints[0] - [0, 100], atol=0.01)
    np.testing.assert_allclose(in_wide.keypoints[0, :2], TASKS[("mediapipe-full", "photo")][2][:2] + np.array([100, 0]),
                               atol=0.03 * (in_wide.xyxy[0, 2] - in_wide.xyxy[0, 0]))  # the eyes, where they are


def test_a_model_that_is_not_the_expected_blazeface_is_refused(monkeypatch):
    monkeypatch.setitem(blazeface.SPECS, "mediapipe-full", SPECS["mediapipe-short"])
    with pytest.raises(ModelError, match="is not the BlazeFace model 'mediapipe-full'"):
        BlazeFace("mediapipe-full")
    with pytest.raises(ModelError, match="no BlazeFace model 'yunet'"):
        BlazeFace("yunet")


def test_not_an_rgb_image_is_refused():
    detector = BlazeFace("mediapipe-short")
    for bad in (np.zeros((64, 64), np.uint8), np.zeros((64, 64, 4), np.uint8), np.zeros((0, 64, 3), np.uint8)):
        with pytest.raises(ValueError, match="an RGB image"):
            detector.detect(bad)
    assert len(detector.detect(np.zeros((64, 64, 3), np.uint8))) == 0
