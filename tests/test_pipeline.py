"""The vision pipeline on a real face photo (vendored) and on inputs made in the test."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk.vision.align import ARCFACE_112, align_mesh, similarity_transform
from kiosk.vision.synthetic_masks import MaskStyle, paint_mask


def test_similarity_transform_recovers_a_known_warp():
    angle, scale, shift = np.deg2rad(20), 1.7, np.array([15.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_112 @ rot.T + shift
    matrix = similarity_transform(src, ARCFACE_112)
    mapped = src @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, ARCFACE_112, atol=1e-3)


def test_astronaut_face_is_found_aligned_and_embedded(pipeline, astronaut_rgb):
    faces = pipeline.analyze(astronaut_rgb)
    assert len(faces) == 1
    face = faces[0]
    x1, y1, x2, y2 = face.box
    assert 150 < x1 < x2 < 300 and 40 < y1 < y2 < 200  # her face, not the flag or the helmet
    right_eye, left_eye, nose, mouth_r, mouth_l = face.landmarks
    assert right_eye[0] < left_eye[0] and mouth_r[0] < mouth_l[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_r[1], mouth_l[1])
    assert face.aligned.shape == (112, 112, 3) and face.aligned.dtype == np.uint8
    assert face.embedding.shape == (pipeline.embedding.dim,)
    assert abs(np.linalg.norm(face.embedding) - 1) < 1e-4
    assert not face.masked
    assert abs(face.quality.yaw) < 0.3


def test_same_face_moved_and_scaled_matches_itself(pipeline, astronaut_rgb):
    a = pipeline.analyze(astronaut_rgb)[0].embedding
    moved = cv2.resize(np.roll(astronaut_rgb, (40, -30), axis=(0, 1)), None, fx=0.8, fy=0.8)
    b = pipeline.analyze(moved)[0].embedding
    flipped_colours = pipeline.analyze(astronaut_rgb[:, :, ::-1].copy())[0].embedding
    assert float(a @ b) > 0.8
    # BGR handed in by mistake must not look like the same face's RGB (colour order matters).
    assert float(a @ flipped_colours) < float(a @ b)


def test_no_face_in_blank_and_noise(pipeline):
    assert pipeline.analyze(np.full((480, 640, 3), 127, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    assert pipeline.analyze(noise) == []


def test_several_faces_are_all_returned_largest_first(pipeline, astronaut_rgb):
    face = astronaut_rgb[40:240, 130:330]
    canvas = np.full((400, 900, 3), 200, np.uint8)
    canvas[100:300, 50:250] = face
    canvas[50:350, 450:750] = cv2.resize(face, (300, 300))
    faces = pipeline.analyze(canvas)
    assert len(faces) == 2
    assert faces[0].box[0] > 400 and faces[0].area > faces[1].area
    assert float(faces[0].embedding @ faces[1].embedding) > 0.7


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_painted_mask_covers_the_lower_face_only(astronaut_rgb, pipeline, seed):
    face = pipeline.analyze(astronaut_rgb)[0]
    masked = paint_mask(astronaut_rgb, face.landmarks, MaskStyle.random(np.random.default_rng(seed)))
    diff = np.abs(align_mesh(masked, face.mesh).astype(int) - face.aligned.astype(int)).sum(axis=2)
    assert diff[90:110, 40:72].mean() > 20  # mouth and chin are covered
    assert diff[36:52, 30:82].mean() < 2  # the eyes are not


@pytest.mark.parametrize("painted", ["left", "right"])
def test_each_face_gets_its_own_mask_flag(pipeline, astronaut_rgb, painted):
    """Two people in one frame, one of them masked: only that one is flagged (both orders,
    so neither the first nor the last face's mask score can stand in for the other's)."""
    face = astronaut_rgb[40:240, 130:330]
    canvas = np.full((300, 700, 3), 200, np.uint8)
    canvas[50:250, 40:240] = face
    canvas[50:250, 460:660] = face
    found = sorted(pipeline.analyze(canvas), key=lambda f: f.box[0])
    assert len(found) == 2
    target = found[0] if painted == "left" else found[1]
    canvas = paint_mask(canvas, target.landmarks, MaskStyle(), np.random.default_rng(0))
    faces = sorted(pipeline.analyze(canvas), key=lambda f: f.box[0])
    assert len(faces) == 2
    flags = [f.masked for f in faces]
    assert flags == ([True, False] if painted == "left" else [False, True])
    scores = [f.mask_score for f in faces]
    masked_score, bare_score = (scores[0], scores[1]) if painted == "left" else (scores[1], scores[0])
    assert masked_score >= pipeline.mask_classifier.threshold > bare_score
