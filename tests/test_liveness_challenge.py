"""The active challenge, Qt-free: ask for a head turn (or a blink), check it with the mesh, in clip time."""

from __future__ import annotations

import numpy as np
import pytest
from liveness_helpers import jittered, similarity, turned, warped

from kiosk.diagnostics.photo_attacks import sheet_homography
from kiosk.liveness.challenge import Challenge, ChallengeRule, ChallengeState
from kiosk.liveness.decision import ChallengeKind

FPS = 10.0
NOISE_PX = 0.4  # each frame's mesh noise
JITTER_PX = NOISE_PX * 2 ** 0.5  # what the planarity cue measures: the residual between two such frames


@pytest.fixture(scope="module")
def mesh(pipeline, astronaut_rgb) -> np.ndarray:
    return pipeline.analyze(astronaut_rgb)[0].mesh


def run(challenge: Challenge, meshes, t0: float = 0.0, blinks=()) -> list[ChallengeState]:
    states = []
    for i, m in enumerate(meshes):
        states.append(challenge.update(t0 + i / FPS, m, blinked=i in blinks, jitter_px=JITTER_PX))
    return states


def test_a_head_turned_when_asked_passes(mesh):
    rng = np.random.default_rng(0)
    challenge = Challenge(ChallengeKind.TURN, 0.0)
    states = run(challenge, [jittered(turned(mesh, min(25, 2.5 * i)), rng, NOISE_PX) for i in range(20)])
    assert ChallengeState.PASSED in states
    passed_at = states.index(ChallengeState.PASSED)
    assert 4 <= passed_at <= 8  # once the turn reached ~12 degrees, not before
    assert states[-1] is ChallengeState.PASSED  # and it stays passed
    assert challenge.best_turn_deg >= ChallengeRule().turn_deg


def test_a_photo_tilted_and_carried_when_asked_fails(mesh):
    rng = np.random.default_rng(1)
    base = sheet_homography((300, 400), 0.8, (320, 240), 0, 0, 0)
    photo = [jittered(warped(mesh, sheet_homography((300, 400), 0.8, (320 + 4 * i, 240), 0, 3 * i, 0)
                             @ np.linalg.inv(base)), rng, NOISE_PX) for i in range(20)]
    challenge = Challenge(ChallengeKind.TURN, 0.0)
    states = run(challenge, photo)
    assert ChallengeState.PASSED not in states
    assert states[-1] is ChallengeState.FAILED


def test_nothing_done_times_out_and_stays_over(mesh):
    rng = np.random.default_rng(2)
    challenge = Challenge(ChallengeKind.TURN, 10.0, ChallengeRule(timeout_s=3.0))
    states = run(challenge, [jittered(mesh, rng, NOISE_PX) for _ in range(40)], t0=10.0)
    assert states[29] is ChallengeState.ASKING  # 2.9 s
    assert states[31] is ChallengeState.TIMED_OUT  # 3.1 s
    assert challenge.update(20.0, turned(mesh, 30), jitter_px=JITTER_PX) is ChallengeState.TIMED_OUT
    assert challenge.state.over


def test_a_small_sway_is_not_a_turn(mesh):
    rng = np.random.default_rng(3)
    centre = tuple(mesh[:, :2].mean(0))
    sway = [jittered(warped(turned(mesh, 4 * np.sin(i / 3)), similarity(i, 0, 0, 1.0, centre)), rng, NOISE_PX)
            for i in range(30)]
    states = run(Challenge(ChallengeKind.TURN, 0.0), sway)
    assert ChallengeState.PASSED not in states


def test_the_blink_challenge_passes_on_a_blink_after_the_question(mesh):
    challenge = Challenge(ChallengeKind.BLINK, 0.0)
    states = run(challenge, [mesh] * 20, blinks={12})
    assert states[11] is ChallengeState.ASKING and states[12] is ChallengeState.PASSED
    assert run(Challenge(ChallengeKind.BLINK, 0.0), [mesh] * 60)[-1] is ChallengeState.TIMED_OUT


def test_frames_without_a_mesh_wait(mesh):
    challenge = Challenge(ChallengeKind.TURN, 0.0)
    assert challenge.update(0.1, None, jitter_px=JITTER_PX) is ChallengeState.ASKING
    assert challenge.update(0.2, mesh, jitter_px=JITTER_PX) is ChallengeState.ASKING
