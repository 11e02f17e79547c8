"""The liveness check on development data: real clips are not refused, photo clips are caught.

Clips go through the live loop's vision and tracker (`kiosk.diagnostics.liveness_clips.record`)
and the check frame by frame in clip time, so the outcome does not depend on the machine's speed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import shared

from kiosk.capture.images import load_rgb
from kiosk.config import LivenessConfig
from kiosk.diagnostics.arrivals import FPS, masked_copy
from kiosk.diagnostics.liveness_clips import first_photo, real_clips, record, split_people
from kiosk.diagnostics.liveness_eval import SAMPLES, replay
from kiosk.diagnostics.photo_attacks import attack_frames
from kiosk.liveness import Liveness, Reason
from kiosk.liveness.blinks import BlinkCounter
from kiosk.liveness.monitor import settings_from_config, sharpness
from kiosk.liveness.passive import PassiveScorer
from kiosk.liveness.planarity import PlanarityCue
from kiosk.vision.pipeline import FacePipeline

pytestmark = pytest.mark.data

PASSIVE = settings_from_config(LivenessConfig(mode="passive"))
MOTION_ONLY = dataclasses.replace(PASSIVE, calibration=dataclasses.replace(PASSIVE.calibration, passive_clip=0.0))


@pytest.fixture(scope="module")
def scorer() -> PassiveScorer:
    return PassiveScorer()


@pytest.fixture(scope="module")
def recorded_real(pipeline):
    return [record(pipeline, frames, fps, name, "real") for name, frames, fps in real_clips(shared("video"))]


def test_no_real_clip_track_is_refused_and_the_moving_heads_are_live(recorded_real, scorer):
    outcomes = [o for clip in recorded_real for o in replay(clip, PASSIVE, scorer)]
    assert len(outcomes) >= 6
    assert not [o for o in outcomes if o.decision.state is Liveness.ATTACK]
    live = {o.clip for o in outcomes if o.decision.live}
    assert {"head-pose-face-detection-female.gif", "head-pose-face-detection-male.gif",
            "head-pose-face-detection-female-and-male.gif"} <= live


def test_a_real_head_reads_far_from_flat(recorded_real, scorer):
    clip = next(c for c in recorded_real if c.name == "head-pose-face-detection-female.gif")
    (outcome,) = replay(clip, PASSIVE, scorer)
    assert outcome.decision.cues.planarity is not None and outcome.decision.cues.planarity > 1.0


@pytest.fixture(scope="module")
def photo_clips(pipeline):
    """Simulated attacks from two development photos: the walk-up clip (a photo carried to the
    camera in its plane), bare and with a painted mask."""
    lfw = shared("lfw-dev", "images")
    still = FacePipeline(still=True)
    rng = np.random.default_rng(11)
    clips = []
    for person in split_people(lfw, "report")[:2]:
        bare = load_rgb(first_photo(lfw, person))
        for look, photo in (("bare", bare), ("masked", masked_copy(still, bare, rng))):
            assert photo is not None
            frames = attack_frames("walk_up", photo, np.random.default_rng(int(rng.integers(1 << 31))))
            clips.append(record(pipeline, (next(frames) for _ in range(int(4 * FPS))), FPS,
                                f"walk_up/{look}/{person}", "walk_up", look))
    return clips


def _main_track(outcomes):
    """The photo's own track (the longest): the detector can also put a short-lived second box on
    part of a masked face, whose mesh is garbage; the check must not call that one live either."""
    return max(outcomes, key=lambda o: o.frames)


def test_a_photo_carried_to_the_camera_is_an_attack_and_never_live(photo_clips, scorer):
    for clip in photo_clips:
        outcomes = replay(clip, PASSIVE, scorer)
        assert outcomes, f"{clip.name}: no track"
        assert not [o for o in outcomes if o.decision.live], clip.name
        main = _main_track(outcomes)
        assert main.decision.state is Liveness.ATTACK, (clip.name, main.decision)
        assert main.decided_after_s is not None and main.decided_after_s <= 3.0


def test_the_motion_cues_alone_find_the_carried_photo_flat(photo_clips, scorer):
    """Without the passive model's say (a print it would call real), the mesh still catches it."""
    for clip in photo_clips:
        outcomes = replay(clip, MOTION_ONLY, scorer)
        assert not [o for o in outcomes if o.decision.live], clip.name
        main = _main_track(outcomes)
        assert main.decision.state is Liveness.ATTACK and main.decision.reason is Reason.FLAT, (clip.name, main.decision)


def test_the_passive_model_on_the_labelled_samples(pipeline, scorer):
    folder = shared("..", "models", "minifasnet", "samples")
    still = FacePipeline(still=True)
    scores = {}
    for name, kind in SAMPLES.items():
        rgb = load_rgb(folder / name)
        face = still.analyze(rgb, max_faces=1)[0]
        scores[name] = (kind, scorer.score(rgb, face.mesh))
    assert all(p >= 0.5 for kind, p in scores.values() if kind == "real"), scores
    for name in ("minivision_image_F1.jpg", "minivision_image_F2.jpg", "vietmoney_fake_002.jpg", "vietmoney_fake_003.jpg"):
        assert scores[name][1] < 0.5, (name, scores[name])


def _blinks(frames) -> int:
    """Blinks counted as the monitor counts them (with the planarity cue's jitter)."""
    counter, cue = BlinkCounter(), PlanarityCue()
    for f in frames:
        cue.update(f.t, f.mesh)
        counter.update(f.t, f.mesh, sharpness(f.face), cue.jitter_px)
    return counter.blinks


def test_blinks_are_seen_on_the_real_clip_and_not_on_the_photos(recorded_real, photo_clips):
    clip = next(c for c in recorded_real if c.name == "head-pose-face-detection-female-and-male.gif")
    counts = sorted(_blinks(frames) for frames in clip.tracks.values())
    assert counts[-1] >= 3 and counts[0] >= 1  # she blinks ~5 times in 4.5 s, he once or twice
    assert sum(_blinks(frames) for c in photo_clips for frames in c.tracks.values()) == 0
