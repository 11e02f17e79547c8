"""Face Mesh V2 landmarks and the alignment built on them, on the vendored public-domain photo."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from kiosk.vision.align import ALIGNED_POINTS, align_mesh, mesh_template, mesh_template_five
from kiosk.vision.detectors import create_detector
from kiosk.vision.landmarks import (
    EYE_LEFT_OUTER,
    EYE_RIGHT_OUTER,
    IRIS_LEFT,
    IRIS_RIGHT,
    N_POINTS,
    FaceMesh,
    Roi,
)
from kiosk.vision.synthetic_masks import MaskStyle, paint_mask


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    return FaceMesh()


@pytest.fixture(scope="module")
def astronaut_face(astronaut_rgb):
    found = create_detector("mediapipe", still=True).detect(astronaut_rgb)
    assert len(found) == 1
    return found.xyxy[0], found.keypoints[0][:2]


def _eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[IRIS_RIGHT, :2] - points[IRIS_LEFT, :2]))


def test_roi_maps_its_centre_to_the_middle_of_the_crop_and_turns_it_upright():
    roi = Roi(200.0, 100.0, 80.0, math.radians(30))
    m = roi.matrix(256)
    assert m @ np.array([200.0, 100.0, 1.0]) == pytest.approx([128, 128])
    # A point on the rotated "right" direction of the face lands straight right of the centre.
    p = np.array([200 + 40 * math.cos(math.radians(30)), 100 + 40 * math.sin(math.radians(30)), 1.0])
    assert m @ p == pytest.approx([256, 128], abs=1e-6)


def test_mesh_finds_478_points_on_the_face(mesh, astronaut_rgb, astronaut_face):
    box, eyes = astronaut_face
    result = mesh.landmarks(astronaut_rgb, box, eyes)
    assert result.points.shape == (N_POINTS, 3) and result.face_prob > 0.99
    assert result.crop.shape == (256, 256, 3)
    x1, y1, x2, y2 = box
    inside = ((result.points[:, 0] > x1 - 10) & (result.points[:, 0] < x2 + 10)
              & (result.points[:, 1] > y1 - 30) & (result.points[:, 1] < y2 + 10))
    assert inside.mean() > 0.97
    left, right, nose, mouth_l, mouth_r = result.five()
    assert left[0] < nose[0] < right[0] and mouth_l[0] < mouth_r[0]
    assert max(left[1], right[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    # The detector's own eye points (YuNet's) are near the mesh's eye centres.
    assert np.linalg.norm(eyes - result.five()[:2], axis=1).max() < 0.2 * _eye_distance(result.points)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_painted_mask_barely_moves_the_eyes(mesh, astronaut_rgb, astronaut_face, seed):
    """The reason for the mesh: under a mask its eyes stay put (YuNet's moved 11-13% of the eye
    distance on lfw-dev); measured here on the public-domain photo with a mask painted in the test."""
    box, eyes = astronaut_face
    bare = mesh.landmarks(astronaut_rgb, box, eyes)
    rng = np.random.default_rng(seed)
    masked_rgb = paint_mask(astronaut_rgb, bare.five(), MaskStyle.random(rng), rng)
    found = create_detector("mediapipe", still=True).detect(masked_rgb)
    assert len(found) >= 1
    masked = mesh.landmarks(masked_rgb, found.xyxy[0], found.keypoints[0][:2])
    iod = _eye_distance(bare.points)
    for idx in (EYE_LEFT_OUTER, EYE_RIGHT_OUTER, IRIS_LEFT, IRIS_RIGHT):
        assert np.linalg.norm(masked.points[idx, :2] - bare.points[idx, :2]) < 0.05 * iod
    # In the aligned 112 px crop the eyes stay within 3 px (measured 2.1-2.5 px here; YuNet 5-point
    # alignment moved them ~5 px on lfw-dev): the guessed mouth under the mask pulls a little.
    from kiosk.vision.align import mesh_alignment

    def aligned_eyes(points: np.ndarray) -> np.ndarray:
        m = mesh_alignment(points)
        return points[[IRIS_LEFT, IRIS_RIGHT], :2] @ m[:, :2].T + m[:, 2]

    assert np.linalg.norm(aligned_eyes(masked.points) - aligned_eyes(bare.points), axis=1).max() < 3.0
    a, b = align_mesh(astronaut_rgb, bare.points), align_mesh(masked_rgb, masked.points)
    assert np.abs(a[90:110, 40:72].astype(int) - b[90:110, 40:72].astype(int)).mean() > 20  # the mask


def test_a_face_the_mesh_does_not_see_scores_low(mesh):
    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)
    assert mesh.landmarks(noise, np.array([100, 100, 200, 200], np.float32)).face_prob < 1e-3


def test_following_a_face_from_the_previous_frame(mesh, astronaut_rgb, astronaut_face):
    box, eyes = astronaut_face
    first = mesh.landmarks(astronaut_rgb, box, eyes)
    moved = np.roll(astronaut_rgb, (6, -8), axis=(0, 1))
    followed = mesh.follow(moved, first.points, box + np.array([-8, 6, -8, 6], np.float32), eyes)
    assert np.abs(followed.five()[:2] - (first.five()[:2] + [-8, 6])).max() < 0.05 * _eye_distance(first.points)


def test_alignment_puts_the_mesh_on_its_template(mesh, astronaut_rgb, astronaut_face):
    """All 468 face points, least squares, onto the learned template: the eyes land where the
    ArcFace geometry has them (within a few pixels of 112), for the whole face, not 5 points."""
    box, eyes = astronaut_face
    result = mesh.landmarks(astronaut_rgb, box, eyes)
    from kiosk.vision.align import mesh_alignment

    m = mesh_alignment(result.points)
    mapped = result.points[:, :2] @ m[:, :2].T + m[:, 2]
    template = mesh_template()
    assert template.shape == (N_POINTS, 2)
    err = np.linalg.norm(mapped[:ALIGNED_POINTS] - template[:ALIGNED_POINTS], axis=1)
    assert np.median(err) < 2.0
    five = mesh_template_five()
    assert five[0] == pytest.approx([38.0, 51.4], abs=1.5) and five[1] == pytest.approx([73.8, 51.4], abs=1.5)
    aligned = align_mesh(astronaut_rgb, result.points)
    assert aligned.shape == (112, 112, 3)
    # A copy rotated by 20 degrees aligns to (nearly) the same crop.
    h, w = astronaut_rgb.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)
    turned = cv2.warpAffine(astronaut_rgb, rot, (w, h))
    found = create_detector("mediapipe", still=True).detect(turned)
    again = align_mesh(turned, mesh.landmarks(turned, found.xyxy[0], found.keypoints[0][:2]).points)
    assert np.abs(again[30:100, 20:92].astype(int) - aligned[30:100, 20:92].astype(int)).mean() < 12


def test_the_pipeline_skips_a_face_whose_landmarks_fail(pipeline):
    from kiosk.vision.types import Detections

    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)
    fake = Detections(np.array([[100, 100, 200, 200]], np.float32), np.array([0.9], np.float32),
                      np.zeros((1, 5, 2), np.float32))
    frame = pipeline.analyze_detections(noise, fake)
    assert frame.faces == [] and len(frame.rejected) == 1
    assert "not clear enough" in frame.rejected[0].reason and frame.rejected[0].face_prob < 1e-3


def test_a_stored_loose_crop_gives_the_same_template(pipeline, astronaut_rgb):
    face = pipeline.analyze(astronaut_rgb)[0]
    assert face.face_crop is not None and face.face_crop.shape == (256, 256, 3)
    again = pipeline.analyze_crop(face.face_crop)
    assert again is not None
    assert float(face.embedding @ again.embedding) > 0.97
