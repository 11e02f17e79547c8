"""The vendored portrait carried up to the camera, as `tests/test_watch.py` makes its clips (the
walk-up, 4 s a visit, JPEG-compressed as an MJPG file): the liveness check calls it flat like a
photo, bare and masked, with or without the passive model's say, and never live. No shared data
needed; the clip goes through the live vision and tracker, the check through it in clip time."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from kiosk.config import LivenessConfig
from kiosk.diagnostics.arrivals import FPS, walk_up_frames
from kiosk.diagnostics.liveness_clips import record
from kiosk.diagnostics.liveness_eval import replay
from kiosk.liveness import Liveness, Reason
from kiosk.liveness.monitor import settings_from_config
from kiosk.liveness.passive import PassiveScorer
from kiosk.vision.synthetic_masks import MaskStyle, paint_mask

PASSIVE = settings_from_config(LivenessConfig(mode="passive"))
MOTION_ONLY = dataclasses.replace(PASSIVE, calibration=dataclasses.replace(PASSIVE.calibration, passive_clip=0.0))


def visit(photo: np.ndarray, seed: int) -> list[np.ndarray]:
    """One visit of test_watch's clips: a 2 s walk-up, then standing, 4 s, through JPEG."""
    frames = walk_up_frames(photo, np.random.default_rng(seed), seconds=2.0)
    out = []
    for _ in range(int(4 * FPS)):
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(next(frames), cv2.COLOR_RGB2BGR))
        assert ok
        out.append(cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return out


@pytest.mark.parametrize("masked", [False, True])
def test_the_portrait_carried_to_the_camera_is_flat_like_a_photo(pipeline, astronaut_rgb, masked):
    photo = astronaut_rgb
    if masked:
        face = pipeline.analyze(astronaut_rgb)[0]
        photo = paint_mask(astronaut_rgb, face.landmarks, MaskStyle.random(np.random.default_rng(3)))
    clip = record(pipeline, visit(photo, seed=int(masked)), FPS, "portrait", "walk_up", "masked" if masked else "bare")
    assert len(clip.tracks) == 1
    scorer = PassiveScorer()
    for settings in (PASSIVE, MOTION_ONLY):
        (outcome,) = replay(clip, settings, scorer)
        assert outcome.decision.state is Liveness.ATTACK and outcome.decision.reason is Reason.FLAT, outcome.decision
        assert outcome.decided_after_s is not None and outcome.decided_after_s <= 3.5
