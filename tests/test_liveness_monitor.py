"""The per-track liveness monitor: the passive model's rate limit, modes, final decisions, forgetting.

Frames are fed in lockstep with a clip clock; the passive model is the real one (vendored).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from liveness_helpers import jittered, similarity, turned, warped

from kiosk.config import LivenessConfig
from kiosk.liveness import NOT_CHECKED, ChallengeKind, Liveness, LivenessMonitor, Reason
from kiosk.liveness.decision import Cues
from kiosk.liveness.fusion import Evidence, decide, passive_evidence, planarity_evidence
from kiosk.liveness.monitor import LivenessSettings, settings_from_config


@pytest.fixture(scope="module")
def face(pipeline, astronaut_rgb):
    return pipeline.analyze(astronaut_rgb)[0]


@pytest.fixture(scope="module")
def scorer():
    from kiosk.liveness.passive import PassiveScorer

    return PassiveScorer()


def feed(monitor: LivenessMonitor, frame, meshes, fps: float, track_id: int = 1, t0: float = 0.0):
    """Feed a track's meshes at `fps`; returns (decisions, clip times at which a passive pass ran)."""
    decisions, pass_times = [], []
    for i, mesh in enumerate(meshes):
        t = t0 + i / fps
        before = monitor.passes
        box = np.array([mesh[:, 0].min(), mesh[:, 1].min(), mesh[:, 0].max(), mesh[:, 1].max()])
        decisions.append(monitor.observe(track_id, t, frame, box, mesh))
        if monitor.passes > before:
            pass_times.append(t)
    return decisions, pass_times


def still_meshes(mesh, n, seed=0):
    rng = np.random.default_rng(seed)
    return [jittered(mesh, rng, 0.3) for _ in range(n)]


@pytest.mark.parametrize("fps", [5.0, 12.5, 30.0])
def test_the_passive_model_runs_at_most_once_a_second_per_track(face, astronaut_rgb, scorer, fps):
    monitor = LivenessMonitor(LivenessSettings(mode="passive"), scorer)
    seconds = 4.0
    decisions, times = feed(monitor, astronaut_rgb, still_meshes(face.mesh, int(seconds * fps)), fps)
    assert all(d.state is Liveness.UNSURE for d in decisions)  # a still face: nothing to go on but the model
    assert times, "the passive model never ran"
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(times, times[1:]))
    assert len(times) == monitor.passes <= 1 + math.floor((seconds - 0.2) / 1.0)
    assert len(times) >= 3  # ... and it does keep running while the track is unsure


def test_each_track_has_its_own_schedule(face, astronaut_rgb, scorer):
    monitor = LivenessMonitor(LivenessSettings(mode="passive"), scorer)
    meshes = still_meshes(face.mesh, 25)
    for i, mesh in enumerate(meshes):
        for tid in (1, 2):
            monitor.observe(tid, i / 10, astronaut_rgb, face.box, mesh)
    assert monitor.tracks[1].passive_probs and len(monitor.tracks[1].passive_probs) == len(monitor.tracks[2].passive_probs)
    assert monitor.passes == 2 * len(monitor.tracks[1].passive_probs) <= 2 * 3


def test_the_pass_uses_the_best_frame_since_the_last(face, astronaut_rgb, scorer):
    monitor = LivenessMonitor(LivenessSettings(mode="passive"), scorer)
    blurred = np.ascontiguousarray(np.repeat(np.repeat(astronaut_rgb[::4, ::4], 4, 0), 4, 1))
    frames = [blurred, blurred, astronaut_rgb, blurred]  # the sharp one is the third
    for i, frame in enumerate(frames):
        monitor.observe(1, i * 0.1, frame, face.box, face.mesh)
    assert monitor.passes == 1
    assert monitor.tracks[1].passive_probs[0] == pytest.approx(scorer.score(astronaut_rgb, face.mesh), abs=1e-6)


def test_off_checks_nothing_and_loads_no_model(face, astronaut_rgb):
    monitor = LivenessMonitor(LivenessSettings(mode="off"))
    assert monitor.observe(1, 0.0, astronaut_rgb, face.box, face.mesh) is NOT_CHECKED
    assert monitor.decision(1) is NOT_CHECKED and NOT_CHECKED.live
    assert monitor._scorer is None and not monitor.tracks


def test_a_head_that_turns_is_judged_live_and_stays_live(face, astronaut_rgb, scorer):
    rng = np.random.default_rng(4)
    centre = tuple(face.mesh[:, :2].mean(0))
    meshes = [jittered(warped(turned(face.mesh, 8 * math.sin(i / 3)), similarity(2 * i, 0, 0, 1.0, centre)), rng, 0.3)
              for i in range(40)]
    monitor = LivenessMonitor(LivenessSettings(mode="passive"), scorer)
    decisions, _ = feed(monitor, astronaut_rgb, meshes, 10.0)
    first_live = next(i for i, d in enumerate(decisions) if d.live)
    assert decisions[first_live].reason is Reason.MOVES_LIKE_A_HEAD
    assert all(d.live for d in decisions[first_live:])  # final: no second opinion on a greeted face
    passes = monitor.passes
    monitor.observe(1, 10.0, astronaut_rgb, face.box, face.mesh)
    assert monitor.passes == passes  # nothing runs on a decided track


def test_a_carried_photo_is_judged_flat(face, astronaut_rgb, scorer):
    rng = np.random.default_rng(5)
    centre = tuple(face.mesh[:, :2].mean(0))
    meshes = [jittered(warped(face.mesh, similarity(3 * i, -i, 0.5 * i, 1 + 0.01 * i, centre)), rng, 0.3)
              for i in range(40)]
    monitor = LivenessMonitor(LivenessSettings(mode="passive"), scorer)
    decisions, _ = feed(monitor, astronaut_rgb, meshes, 10.0)
    assert decisions[-1].state is Liveness.ATTACK and decisions[-1].reason is Reason.FLAT
    assert not any(d.live for d in decisions)
    assert decisions[-1].as_dict()["state"] == "attack"


def test_active_mode_asks_an_unsure_visitor_and_refuses_one_who_does_not_answer(face, astronaut_rgb, scorer):
    settings = settings_from_config(LivenessConfig(mode="active", challenge_after_s=1.5, challenge_timeout_s=3.0))
    monitor = LivenessMonitor(settings, scorer)
    decisions, _ = feed(monitor, astronaut_rgb, still_meshes(face.mesh, 60), 10.0)
    asked = [i for i, d in enumerate(decisions) if d.challenge is ChallengeKind.TURN]
    assert asked and asked[0] == 15  # 1.5 s after the first frame
    assert decisions[asked[0] - 1].challenge is None
    assert decisions[-1].state is Liveness.ATTACK and decisions[-1].reason is Reason.CHALLENGE_FAILED
    assert decisions[-1].cues.challenge == "timed out"


def test_active_mode_a_turn_when_asked_makes_the_face_live(face, astronaut_rgb, scorer):
    settings = settings_from_config(LivenessConfig(mode="active", challenge_after_s=1.0))
    monitor = LivenessMonitor(settings, scorer)
    rng = np.random.default_rng(6)
    meshes = still_meshes(face.mesh, 12) + [jittered(turned(face.mesh, min(25, 3 * i)), rng, 0.3) for i in range(15)]
    decisions, _ = feed(monitor, astronaut_rgb, meshes, 10.0)
    assert decisions[-1].live
    assert decisions[-1].cues.challenge == "passed"


def test_retain_forgets_ended_tracks(face, astronaut_rgb, scorer):
    monitor = LivenessMonitor(LivenessSettings(mode="passive"), scorer)
    for tid in (1, 2, 3):
        monitor.observe(tid, 0.0, astronaut_rgb, face.box, face.mesh)
    monitor.retain([2])
    assert set(monitor.tracks) == {2}
    assert monitor.decision(1).reason is Reason.WAITING


def test_settings_refuse_a_faster_passive_schedule_or_an_unknown_mode():
    with pytest.raises(ValueError, match="once per track per second|at least 1 s"):
        LivenessSettings(passive_interval_s=0.5)
    with pytest.raises(ValueError, match="mode"):
        LivenessSettings(mode="sometimes")


def test_fusion_no_single_weak_cue_decides():
    cues = Cues(passes=1)
    # One passive pass, however sure, is half its weight: not an attack on its own.
    assert passive_evidence(-20.0, 1) > -2.944
    assert decide(Evidence(passive=passive_evidence(-20.0, 1)), cues)[0] is Liveness.UNSURE
    # Two passes a second apart that agree: an attack, for its texture.
    state, _, reason = decide(Evidence(passive=passive_evidence(-6.0, 2)), Cues(passes=2))
    assert state is Liveness.ATTACK and reason is Reason.TEXTURE
    # The model's "real" alone never makes a face live.
    assert decide(Evidence(passive=passive_evidence(20.0, 5)), Cues(passes=5))[0] is Liveness.UNSURE
    # A flat track is flat only when it moved and is large enough to tell.
    assert planarity_evidence(0.0, 1.0, 60.0) == -1.0
    assert planarity_evidence(0.0, 0.0, 60.0) == 0.0
    assert planarity_evidence(0.0, 1.0, 20.0) == 0.0
    assert planarity_evidence(0.4, 1.0, 60.0) == 0.0  # the undecided middle
    assert planarity_evidence(1.5, 0.0, 20.0) == 1.0  # a head's change counts however little it moved
    assert planarity_evidence(None, 1.0, 60.0) == 0.0
