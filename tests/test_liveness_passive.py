"""The passive model: its crop geometry (as the original), its box from the mesh, its sha256 check;
the liveness settings and the eval's confidence bounds."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kiosk import models
from kiosk.config import Config, LivenessConfig
from kiosk.diagnostics.confidence import binomial_cdf, rate_text, upper_bound
from kiosk.errors import ModelError
from kiosk.liveness import Liveness, Reason
from kiosk.liveness.monitor import settings_from_config
from kiosk.liveness.passive import PassiveInput, PassiveScorer, crop_patch, passive_box
from kiosk.liveness.still import STILL_LIVE_AT, judge_still
from kiosk.resources import resource_path
from kiosk.vision.detectors import YuNetDetector
from kiosk.vision.geometry import iou_matrix


def ramp(h: int = 200, w: int = 300) -> np.ndarray:
    """An image whose pixel values say where they are: channel 0 = x, channel 1 = y."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs % 256, ys % 256, np.zeros_like(xs)], axis=2).astype(np.uint8)


def test_the_crop_is_the_box_scaled_about_its_centre():
    img = ramp()
    patch = crop_patch(img, np.array([130, 80, 150, 100]), 2.0, side=40)  # 40x40 around (140, 90)
    assert patch[0, 0, 0] == 120 and patch[0, 0, 1] == 70
    assert patch[-1, -1, 0] == 159 and patch[-1, -1, 1] == 109


def test_a_crop_leaving_the_image_is_moved_back_inside_not_clipped():
    img = ramp()
    patch = crop_patch(img, np.array([0, 0, 20, 20]), 2.7, side=54)  # would start at -17
    assert patch[0, 0, 0] == 0 and patch[0, 0, 1] == 0
    assert patch[-1, -1, 0] == 53  # still 54 pixels wide: moved, not cut
    right = crop_patch(img, np.array([280, 180, 300, 200]), 2.0, side=40)
    assert right[-1, -1, 0] == 299 % 256 and right[-1, -1, 1] == 199


def test_a_box_too_large_for_the_scale_is_scaled_less():
    img = ramp()
    patch = crop_patch(img, np.array([100, 50, 200, 150]), 4.0, side=199)  # 400 px would not fit: 199
    assert patch.shape == (199, 199, 3)
    assert patch[0, 0, 1] == 0  # the whole image's height


def test_the_passive_box_from_the_mesh_sits_where_yunet_puts_its_box(pipeline, astronaut_rgb):
    face = pipeline.analyze(astronaut_rgb)[0]
    yunet = YuNetDetector().detect(astronaut_rgb).xyxy[0]
    assert iou_matrix(passive_box(face.mesh)[None], yunet[None])[0, 0] > 0.8
    # The same box whichever detector found the face: it depends on the mesh only.
    assert np.allclose(passive_box(face.mesh), passive_box(face.mesh.copy()))


def test_the_scorer_gives_a_probability_and_the_crops_are_bgr(pipeline, astronaut_rgb):
    scorer = PassiveScorer()
    face = pipeline.analyze(astronaut_rgb)[0]
    p = scorer.score(astronaut_rgb, face.mesh)
    assert 0.0 <= p <= 1.0
    cut = PassiveInput.cut(astronaut_rgb, passive_box(face.mesh))
    assert len(cut.crops) == 2 and all(c.shape == (80, 80, 3) for c in cut.crops)
    rgb_crop = crop_patch(astronaut_rgb, passive_box(face.mesh), 2.7)
    assert np.array_equal(cut.crops[0], rgb_crop[..., ::-1])
    assert scorer.score_input(cut) == pytest.approx(p)


@pytest.fixture
def model_copy(tmp_path, monkeypatch):
    root = tmp_path / "resources"
    shutil.copytree(resource_path("models"), root / "models")
    monkeypatch.setattr(models, "resource_path", lambda *parts: root.joinpath(*parts))
    return root / "models"


@pytest.mark.parametrize("key", ["minifasnet-v2", "minifasnet-v1se"])
def test_an_altered_passive_model_is_refused(model_copy, key):
    target = model_copy / models.MODELS[key].filename
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="altered"):
        PassiveScorer()


def test_a_missing_passive_model_is_refused(model_copy):
    (model_copy / models.MODELS["minifasnet-v1se"].filename).unlink()
    with pytest.raises(ModelError, match="missing"):
        PassiveScorer()


def test_a_still_is_judged_by_the_passive_model_alone():
    assert judge_still(STILL_LIVE_AT).state is Liveness.LIVE
    assert judge_still(0.2).state is Liveness.ATTACK and judge_still(0.2).reason is Reason.TEXTURE
    assert judge_still(0.9).reason is Reason.STILL_PASSIVE and judge_still(0.9).cues.passes == 1


def test_liveness_config_is_bounded_and_strict():
    assert Config().liveness.mode in ("off", "passive", "active")
    for bad in ({"mode": "sometimes"}, {"passive_interval_s": 0.5}, {"live_score": 1.0}, {"live_score": 0.5},
                {"attack_score": 0.45}, {"challenge_timeout_s": 60}, {"colour": "red"}):
        with pytest.raises(ValueError):
            LivenessConfig.model_validate(bad)
    settings = settings_from_config(LivenessConfig(mode="active", live_score=0.9, challenge="blink"))
    assert settings.mode == "active" and settings.challenge.value == "blink"
    assert settings.calibration.live_at == pytest.approx(np.log(9.0))


def test_upper_bounds_match_the_exact_binomial():
    assert upper_bound(0, 10) == pytest.approx(1 - 0.05 ** 0.1, abs=1e-9)  # the rule of three's exact form
    assert upper_bound(0, 100) == pytest.approx(0.0295, abs=1e-4)
    assert upper_bound(2, 40) == pytest.approx(0.1488, abs=1e-3)  # beta.ppf(0.95, 3, 38)
    assert upper_bound(5, 10) == pytest.approx(0.7776, abs=1e-3)
    assert upper_bound(10, 10) == 1.0 and upper_bound(0, 0) == 1.0
    assert binomial_cdf(2, 40, upper_bound(2, 40)) == pytest.approx(0.05, abs=1e-6)
    assert rate_text(2, 40) == "2 of 40 (5.0%; 95% upper bound 14.9%)"
    with pytest.raises(ValueError):
        upper_bound(5, 4)
