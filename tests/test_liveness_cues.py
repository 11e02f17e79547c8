"""The liveness check's mesh cues: a plane's motion leaves no residual, a head's does; blinks.

The meshes are the vendored portrait's real face mesh, moved as a photo moves (homographies)
or as a head turns (a 3-D rotation of its points), with the model's jitter added.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from liveness_helpers import blinking, jittered, similarity, turned, warped

from kiosk.diagnostics.photo_attacks import sheet_homography
from kiosk.liveness.blinks import BlinkCounter, eye_openness
from kiosk.liveness.fusion import DEFAULT_CALIBRATION
from kiosk.liveness.mesh_motion import (
    eye_distance,
    homography_residual,
    mesh_motion,
    out_of_plane_turn,
)
from kiosk.liveness.planarity import PlanarityCue


@pytest.fixture(scope="module")
def mesh(pipeline, astronaut_rgb) -> np.ndarray:
    return pipeline.analyze(astronaut_rgb)[0].mesh


def test_a_photo_carried_turned_and_tilted_moves_as_a_plane(mesh):
    centre = tuple(mesh[:, :2].mean(0))
    for hom in (similarity(40, -25, 12, 1.3, centre),
                sheet_homography((300, 400), 0.8, (300, 220), roll_deg=5, tilt_y_deg=20, tilt_x_deg=-15)
                @ np.linalg.inv(sheet_homography((300, 400), 0.8, (320, 240), 0, 0, 0))):
        moved = mesh_motion(mesh, warped(mesh, hom))
        assert moved.residual < 1e-4
        assert moved.shift > 0.3  # it did move, a lot


def test_a_turning_head_leaves_a_residual_no_homography_explains(mesh):
    for yaw, pitch in ((12, 0), (0, 12), (8, 8)):
        moved = mesh_motion(mesh, turned(mesh, yaw, pitch))
        assert moved.residual > 0.02  # eye distances; the mesh's jitter alone leaves ~0.005-0.015
        assert moved.turn_deg == pytest.approx(math.hypot(yaw, pitch), abs=1.5)


def test_a_roll_in_the_image_plane_is_no_turn(mesh):
    centre = tuple(mesh[:, :2].mean(0))
    assert out_of_plane_turn(mesh, warped(mesh, similarity(0, 0, 25, 1.0, centre))) < 0.5
    assert out_of_plane_turn(mesh, turned(mesh, 20)) == pytest.approx(20, abs=1.0)


def test_degenerate_points_give_no_finite_residual():
    flat = np.zeros((478, 3), np.float32)
    assert homography_residual(flat, flat) == math.inf
    with pytest.raises(ValueError, match="478"):
        mesh_motion(flat[:10], flat[:10])


def _feed(cue: PlanarityCue, meshes, fps: float = 10.0):
    reading = None
    for i, m in enumerate(meshes):
        reading = cue.update(i / fps, m)
    return reading


def test_planarity_is_flat_for_a_carried_photo_and_not_for_a_turning_head(mesh):
    rng = np.random.default_rng(0)
    centre = tuple(mesh[:, :2].mean(0))
    # A photo carried up to the camera: grows, drifts and turns in its plane; the mesh jitters.
    photo = [jittered(warped(mesh, similarity(3 * i, -i, 0.3 * i, 1 + 0.015 * i, centre)), rng, 0.4)
             for i in range(40)]
    flat = _feed(PlanarityCue(), photo)
    assert flat.value is not None and flat.value <= DEFAULT_CALIBRATION.flat_full
    assert flat.moved > 0.9
    # A head doing the same and turning a few degrees to and fro.
    head = [jittered(warped(turned(mesh, 6 * math.sin(i / 4)), similarity(3 * i, -i, 0.3 * i, 1 + 0.015 * i, centre)),
                     rng, 0.4) for i in range(40)]
    live = _feed(PlanarityCue(), head)
    assert live.value is not None and live.value > DEFAULT_CALIBRATION.head_start


def test_planarity_waits_for_enough_frames(mesh):
    cue = PlanarityCue()
    readings = [cue.update(i / 10, mesh) for i in range(12)]
    assert readings[0].value is None and readings[0].frames == 0
    assert readings[10].frames < cue.rule.min_frames  # the 1 s lag leaves few frames yet
    assert readings[-1].value is None


def _blink_run(mesh, openness, sharp=None, jitter_at=None, fps=10.0):
    rng = np.random.default_rng(1)
    counter = BlinkCounter()
    ended = []
    for i, o in enumerate(openness):
        m = jittered(blinking(mesh, o), rng, 0.15)
        if jitter_at is not None and i == jitter_at:
            m = jittered(m, rng, 3.0)
        if counter.update(i / fps, m, None if sharp is None else sharp[i], jitter_px=0.15 * 2 ** 0.5):
            ended.append(i)
    return counter, ended


def test_a_blink_is_both_eyes_closing_and_opening_within_half_a_second(mesh):
    left, right = eye_openness(blinking(mesh, 0.2))
    assert max(left, right) < 0.5 * min(eye_openness(mesh))
    counter, ended = _blink_run(mesh, [1.0] * 8 + [0.2, 0.15] + [1.0] * 6 + [0.3] + [1.0] * 5)
    assert counter.blinks == 2 and ended == [10, 17]


def test_one_eye_a_long_closure_or_a_squint_is_no_blink(mesh):
    rng = np.random.default_rng(2)
    counter = BlinkCounter()
    for i in range(20):  # one eye only (a wink, or the mesh losing one lid)
        o = 0.1 if i in (8, 9) else 1.0
        counter.update(i / 10, jittered(blinking(mesh, o, eyes=(0,)), rng, 0.15), jitter_px=0.2)
    assert counter.blinks == 0
    counter, _ = _blink_run(mesh, [1.0] * 8 + [0.1] * 10 + [1.0] * 5)  # eyes shut for a second
    assert counter.blinks == 0
    counter, _ = _blink_run(mesh, [1.0] * 8 + [0.7] * 2 + [1.0] * 5)  # a squint
    assert counter.blinks == 0


def test_a_drop_on_an_unsteady_or_blurred_frame_is_no_blink(mesh):
    openness = [1.0] * 8 + [0.2] + [1.0] * 6
    counter, _ = _blink_run(mesh, openness, jitter_at=8)  # the whole mesh jumped on that frame
    assert counter.blinks == 0
    sharp = [200.0] * len(openness)
    sharp[8] = 60.0  # motion blur: a third of the usual sharpness
    counter, _ = _blink_run(mesh, openness, sharp=sharp)
    assert counter.blinks == 0
    counter, _ = _blink_run(mesh, openness, sharp=[200.0] * len(openness))
    assert counter.blinks == 1


def test_eye_distance_is_in_pixels(mesh):
    scaled = mesh.copy()
    scaled[:, :2] *= 2
    assert eye_distance(scaled) == pytest.approx(2 * eye_distance(mesh), rel=1e-4)
