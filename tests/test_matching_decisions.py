"""Matching decisions the broader tests leave open: tail arithmetic away from the fitted
region, the adapter's mean on both sides of every cell, photo counts of mask-only people,
uncalibrated matchers with masked probes, 1:1 per mask state and embedder (and either way
round), the loader's refusals of a damaged calibration, a gallery with nobody to match, one
probe with 0-d flags, and own-mask rows on a tie and in their ask-to-unmask band."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from kiosk import models
from kiosk.config import MatchConfig
from kiosk.errors import ModelError
from kiosk.gallery.api import TemplateSet
from kiosk.recognition.calibration import (
    CELLS,
    MASK_VS_MASK,
    MASKED,
    UNMASKED,
    Calibration,
    ImpostorTail,
    calibrated_versions,
    fused_cell,
    load_calibration,
    per_comparison_far,
)
from kiosk.recognition.matching import (
    FULL,
    MASKED_PHOTO,
    SYNTH_MASK,
    Matcher,
    verify_pair,
    verify_score,
    verify_threshold,
)
from kiosk.vision.pipeline import template_version

DIM = 16
SFACE = template_version(models.MODELS["sface"].version)
FUSED = template_version(f"{models.MODELS['sface'].version}+{models.MODELS['mbf'].version}")


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def basis(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    v[i] = 1.0
    return v


def tail(u: float, sigma: float = 0.03, xi: float = 0.0) -> ImpostorTail:
    return ImpostorTail(u=u, p_u=0.01, sigma=sigma, xi=xi, quantiles=((0.5, u - 0.3), (0.1, u - 0.1)))


def tails(**extra: dict[int, ImpostorTail]) -> dict[str, dict[int, ImpostorTail]]:
    out = {UNMASKED: {1: tail(0.30)}, MASKED: {1: tail(0.25)}, MASK_VS_MASK: {1: tail(0.40)}}
    out.update({k.replace("_", "-"): v for k, v in extra.items()})
    return out


def templates(rows: list[tuple[int, str, np.ndarray]], version: str = "test@1") -> TemplateSet:
    ids = np.array([r[0] for r in rows], np.int64)
    return TemplateSet(version, ids, np.array([r[1] for r in rows]), np.stack([r[2] for r in rows]),
                       {pid: f"person {pid}" for pid in set(ids.tolist())})


def with_score(s: float, towards: np.ndarray, away: np.ndarray) -> np.ndarray:
    """A unit vector whose cosine with the unit `towards` is s (`away` orthogonal to it)."""
    return unit(s * towards + math.sqrt(1 - s * s) * away)


# -- the impostor tail away from the fitted region -----------------------------------------


def test_exceedance_below_the_fit_is_log_interpolated_from_the_empirical_quantiles():
    t = ImpostorTail(u=0.3, p_u=0.01, sigma=0.03, xi=0.0, quantiles=((0.5, 0.0), (0.1, 0.2)))
    assert t.exceedance(0.2) == pytest.approx(0.1)
    assert t.exceedance(0.0) == pytest.approx(0.5)
    assert t.exceedance(0.1) == pytest.approx(math.sqrt(0.5 * 0.1))  # halfway in log-exceedance
    assert t.exceedance(0.25) == pytest.approx(math.sqrt(0.1 * 0.01))
    for far in (0.3, 0.05, 0.02):
        assert t.exceedance(t.threshold(far)) == pytest.approx(far, rel=1e-6)


def test_exponential_tail_falls_by_e_per_sigma_above_u():
    t = tail(0.3, sigma=0.04, xi=0.0)
    assert t.exceedance(0.34) == pytest.approx(0.01 * math.exp(-1))
    assert t.exceedance(0.42) == pytest.approx(0.01 * math.exp(-3))
    assert t.exceedance(t.threshold(1e-5)) == pytest.approx(1e-5, rel=1e-6)


def test_a_bounded_tail_gives_impostors_no_chance_beyond_its_end_point():
    t = tail(0.3, sigma=0.04, xi=-0.2)  # end point u - sigma / xi = 0.5
    assert t.exceedance(0.6) == 0.0
    assert t.exceedance(0.49) > 0.0
    assert 0.49 < t.threshold(1e-12) <= 0.5


def test_a_threshold_never_exceeds_the_largest_possible_cosine():
    assert tail(0.9, sigma=0.2, xi=0.1).threshold(1e-9) == 1.0


def test_a_tail_without_quantiles_or_count_reads_as_empty():
    t = ImpostorTail.from_dict({"u": 0.3, "p_u": 0.01, "sigma": 0.03, "xi": 0.0})
    assert t.quantiles == () and t.n == 0
    assert t.threshold(1e-4) == pytest.approx(0.3 - 0.03 * math.log(1e-2))


def test_the_stored_tail_keeps_six_decimals():
    t = ImpostorTail(u=1 / 3, p_u=0.01, sigma=2 / 3, xi=-1 / 7, quantiles=((0.1, 1 / 9),), n=5)
    assert t.to_dict() == {"u": 0.333333, "p_u": 0.01, "sigma": 0.666667, "xi": -0.142857,
                           "quantiles": [[0.1, 0.111111]], "n": 5}


def test_templates_smaller_than_every_calibrated_size_use_the_smallest():
    cal = Calibration("test@1", {UNMASKED: {3: tail(0.40), 5: tail(0.50)}})
    assert cal.tail(UNMASKED, photos=1) is cal.tails[UNMASKED][3]
    two = Calibration("test@1", {UNMASKED: {1: tail(0.30), 2: tail(0.40)}})
    assert two.tail(UNMASKED) is two.tails[UNMASKED][1]  # one photo unless told otherwise


# -- the adapter's mean, on the gallery side and the probe side ----------------------------

# Every vector below is 0.6 * COMMON + 0.8 * (a unit direction orthogonal to COMMON): once the
# adapter subtracts its mean (0.6 * COMMON), only that direction is left.
COMMON = basis(DIM - 1)
NUISANCE = basis(DIM - 2)


def shared(v: np.ndarray) -> np.ndarray:
    return 0.6 * COMMON + 0.8 * unit(v)


def centring_calibration() -> Calibration:
    return Calibration("test@1", tails(), mean=0.6 * COMMON, nap=NUISANCE[None])


def test_the_adapter_mean_is_removed_in_both_spaces():
    cal = centring_calibration()
    x = shared(basis(0) + basis(1))[None]
    assert np.allclose(cal.plain(x), unit(basis(0) + basis(1)), atol=1e-6)
    assert np.allclose(cal.masked_space(shared(basis(0) + NUISANCE)[None]), basis(0), atol=1e-6)


def test_strangers_sharing_the_common_component_score_zero_on_every_cell():
    """The gallery's rows and the probes are centred alike, whichever cell compares them."""
    cal = centring_calibration()
    rows = [(1, FULL, shared(basis(0))), (2, MASKED_PHOTO, shared(basis(1))),
            (3, FULL, shared(basis(2))), (3, MASKED_PHOTO, shared(basis(3) + 0.5 * NUISANCE))]
    m = Matcher(templates(rows), MatchConfig(use_masked_samples=True), cal)
    stranger = shared(basis(5))
    scores = m.person_scores(np.stack([stranger, stranger]), np.array([False, True]))
    assert np.allclose(scores, 0.0, atol=1e-6)
    # Each person is found at full score in the space their cell uses.
    probes = np.stack([shared(basis(0)), shared(basis(1) + NUISANCE), shared(basis(1) + NUISANCE)])
    scores = m.person_scores(probes, np.array([False, False, True]))
    assert scores[0] == pytest.approx([1.0, 0.0, 0.0], abs=1e-6)
    # An unmasked probe vs someone enrolled only in a mask is compared with the NAP removed.
    assert scores[1] == pytest.approx([0.0, 1.0, 0.0], abs=1e-6)
    assert scores[2] == pytest.approx([0.0, 1.0, 0.0], abs=1e-6)
    # The own-mask row is centred and NAP-projected too: a masked probe like it scores 1.
    v = m.identify(shared(basis(3))[None], np.array([True]))[0]
    assert v.person_id == 3 and v.score == pytest.approx(1.0, abs=1e-6)
    # A masked probe meets 3 person rows and 1 own-mask row: the FPIR is shared over the 4.
    assert v.threshold == pytest.approx(cal.threshold(MASK_VS_MASK, per_comparison_far(0.005, 4)))
    nobody = m.identify(stranger[None], np.array([True]))[0]
    assert not nobody.known and nobody.score == pytest.approx(0.0, abs=1e-6)


def test_a_person_row_is_unit_length_even_when_their_photos_disagree():
    a = basis(0)
    b = unit(-0.6 * basis(0) + 0.8 * basis(1))  # cosine -0.6: their mean is shorter than 1
    m = Matcher(templates([(1, FULL, a), (1, FULL, b), (2, FULL, basis(2))]), MatchConfig(),
                Calibration("test@1", tails(), mean=np.zeros(DIM, np.float32)))
    assert m.person_scores(unit(a + b)[None], np.array([False]))[0, 0] == pytest.approx(1.0, abs=1e-6)


# -- thresholds by photo count and probe kind ----------------------------------------------


def test_someone_enrolled_only_in_a_mask_gets_the_tail_of_their_photo_count():
    cal = Calibration("test@1", tails(masked={1: tail(0.25), 3: tail(0.35)},
                                      mask_vs_mask={1: tail(0.40), 3: tail(0.55)}),
                      mean=np.zeros(DIM, np.float32))
    rows = [(1, FULL, basis(0))] + [(2, MASKED_PHOTO, basis(1))] * 3
    m = Matcher(templates(rows), MatchConfig(), cal)
    far = per_comparison_far(0.005, 2)
    t3, t1 = cal.threshold(MASK_VS_MASK, far, 3), cal.threshold(MASK_VS_MASK, far, 1)
    assert m.row_thresholds(True)[1] == pytest.approx(t3)
    assert m.row_thresholds(False)[1] == pytest.approx(cal.threshold(MASKED, far, 3))
    # A masked probe above the one-photo threshold but below the three-photo one is not matched.
    probe = with_score((t1 + t3) / 2, basis(1), basis(7))
    v = m.identify(probe[None], np.array([True]))[0]
    assert not v.known and v.candidate_id == 2 and v.threshold == pytest.approx(t3)


def test_reported_thresholds_are_for_one_photo_unless_asked_otherwise():
    cal = Calibration("test@1", tails(unmasked={1: tail(0.30), 2: tail(0.45)}))
    m = Matcher(templates([(1, FULL, basis(0)), (2, FULL, basis(1))]), MatchConfig(), cal)
    far = per_comparison_far(0.005, 2)
    assert m.thresholds(False) == pytest.approx(cal.threshold(UNMASKED, far, 1))
    assert m.thresholds(False, photos=2) == pytest.approx(cal.threshold(UNMASKED, far, 2))


def test_row_thresholds_are_single_frame_unless_fused_is_asked_for():
    base = tails()
    base[fused_cell(UNMASKED)] = {1: tail(0.36)}
    cal = Calibration("test@1", base)
    m = Matcher(templates([(1, FULL, basis(0)), (2, FULL, basis(1))]), MatchConfig(), cal)
    far = per_comparison_far(0.005, 2)
    assert m.row_thresholds(False) == pytest.approx([cal.threshold(UNMASKED, far)] * 2)
    assert m.row_thresholds(False, fused=True) == pytest.approx([cal.threshold(fused_cell(UNMASKED), far)] * 2)


def test_without_an_unmask_band_a_masked_probe_is_never_asked_to_unmask():
    m = Matcher(templates([(1, FULL, basis(0)), (2, FULL, basis(1))]), MatchConfig(unmask_band_fpir=0),
                Calibration("test@1", tails()))
    t = m.thresholds(True)
    v = m.identify(with_score(t - 0.01, basis(0), basis(7))[None], np.array([True]))[0]
    assert not v.known and not v.ask_to_unmask and v.unmask_below == pytest.approx(v.threshold)


def test_an_own_mask_row_that_beats_the_bare_one_competes_by_its_own_margin():
    """Person 1's own-mask row is better than their bare row but still far below its threshold;
    person 2 is clearly above theirs and must win."""
    cal = Calibration("test@1", tails(), mean=np.zeros(DIM, np.float32))
    rows = [(1, FULL, basis(0)), (1, MASKED_PHOTO, basis(3)), (2, FULL, basis(1))]
    m = Matcher(templates(rows), MatchConfig(use_masked_samples=True), cal)
    t_masked = m.thresholds(True)
    s2, s3 = t_masked + 0.1, 0.3
    probe = unit(s2 * basis(1) + s3 * basis(3) + math.sqrt(1 - s2 * s2 - s3 * s3) * basis(7))
    v = m.identify(probe[None], np.array([True]))[0]
    assert v.person_id == 2 and v.score == pytest.approx(s2, abs=1e-5)
    assert v.runner_up == pytest.approx(s3, abs=1e-5)  # the own-mask row's score speaks for person 1


def test_an_uncalibrated_matcher_scores_masked_probes_by_plain_cosine():
    version = "synthetic-uncalibrated@decisions"
    rows = [(1, FULL, basis(0)), (1, MASKED_PHOTO, basis(3)), (2, MASKED_PHOTO, basis(1)), (3, FULL, basis(2))]
    m = Matcher(templates(rows, version), MatchConfig(use_masked_samples=True))
    assert m.calibration is None
    near2 = with_score(0.9, basis(1), basis(7))
    scores = m.person_scores(np.stack([near2, near2]), np.array([False, True]))
    assert scores == pytest.approx(np.array([[0.0, 0.9, 0.0]] * 2), abs=1e-5)
    own_mask = with_score(0.9, basis(3), basis(7))
    v1, v2 = m.identify(np.stack([own_mask, near2]), np.array([True, True]))
    assert v1.person_id == 1 and v1.score == pytest.approx(0.9, abs=1e-5)
    assert v2.person_id == 2


def test_a_matcher_without_an_explicit_calibration_uses_the_shipped_one():
    rows = [(1, FULL, basis(0, 128)), (2, FULL, basis(1, 128))]
    m = Matcher(templates(rows, SFACE), MatchConfig())
    cal = load_calibration(SFACE)
    assert m.calibration is not None and m.calibration.model_version == SFACE
    assert m.thresholds(False) == pytest.approx(cal.threshold(UNMASKED, per_comparison_far(0.005, 2)))


# -- 1:1 -----------------------------------------------------------------------------------


def _pair_with_cosine(cal: Calibration, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Two embeddings whose cosine is c in both spaces (no component along the NAP directions)."""
    rng = np.random.default_rng(5)
    dim = cal.mean.shape[0]
    u = rng.standard_normal((2, dim))
    u -= (u @ cal.nap.T) @ cal.nap
    u1 = u[0] / np.linalg.norm(u[0])
    u2 = u[1] - (u[1] @ u1) * u1
    u2 /= np.linalg.norm(u2)
    return cal.mean + u1, cal.mean + c * u1 + math.sqrt(1 - c * c) * u2


@pytest.mark.parametrize("version", [SFACE, FUSED])
def test_verify_accepts_at_the_threshold_of_the_pairs_mask_states_and_embedder(version):
    cal = load_calibration(version)
    cfg = MatchConfig()
    cells = {(False, False): UNMASKED, (True, False): MASKED, (False, True): MASKED, (True, True): MASK_VS_MASK}
    for (ma, mb), cell in cells.items():
        t = cal.threshold(cell, cfg.verify_far)
        assert verify_threshold(cfg, ma, mb, version) == pytest.approx(t)
        for offset, same in ((0.002, True), (-0.002, False)):
            a, b = _pair_with_cosine(cal, t + offset)
            score, accepted = verify_pair(a, ma, b, mb, cfg, version)
            assert score == pytest.approx(t + offset, abs=1e-5) and accepted is same, (cell, offset)


def test_verify_scores_in_the_masked_space_when_either_side_is_masked():
    cal = load_calibration(SFACE)
    rng = np.random.default_rng(7)
    a = unit(rng.standard_normal(128))
    b = unit(a + 2 * cal.nap[0] + 2 * cal.nap[1] + 0.5 * rng.standard_normal(128))  # apart mostly along a mask direction
    plain = float(np.dot(*cal.plain(np.stack([a, b]))))
    masked = float(np.dot(*cal.masked_space(np.stack([a, b]))))
    assert abs(plain - masked) > 0.05
    assert verify_score(a, b) == pytest.approx(plain, abs=1e-6)
    assert verify_score(a, b, True, False) == pytest.approx(masked, abs=1e-6)
    assert verify_score(a, b, False, True) == pytest.approx(masked, abs=1e-6)
    assert verify_score(a, b, True, True) == pytest.approx(masked, abs=1e-6)
    for ma, mb in ((True, False), (False, True)):
        assert verify_pair(a, ma, b, mb)[0] == pytest.approx(masked, abs=1e-6)


def test_verify_honours_the_configured_threshold_inclusively():
    rng = np.random.default_rng(8)
    a, b = unit(rng.standard_normal(128)), unit(rng.standard_normal(128))
    score = verify_score(a, b)
    assert verify_pair(a, False, b, False, MatchConfig(verify_threshold=score)) == (score, True)
    assert verify_pair(a, False, b, False, MatchConfig(verify_threshold=min(score + 0.01, 1.0)))[1] is False
    assert verify_pair(a, False, b, False, MatchConfig(verify_threshold=max(score - 0.01, -1.0)))[1] is True


def test_verify_without_a_calibration_uses_plain_cosine_and_a_fixed_threshold():
    version = "synthetic-uncalibrated@verify"
    a, b = basis(0), with_score(0.9, basis(0), basis(1))
    for ma, mb in ((False, False), (True, False), (True, True)):
        t = verify_threshold(MatchConfig(), ma, mb, version)
        score, accepted = verify_pair(a, ma, b, mb, model_version=version)
        assert 0 < t < 0.9 and score == pytest.approx(0.9, abs=1e-6) and accepted


# -- the loader, on a private copy of the shipped files -------------------------------------


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """Ship files of one's own as models (sha256 recorded), then read them with a cold cache."""
    root = tmp_path / "resources"
    (root / "models").mkdir(parents=True)
    monkeypatch.setattr(models, "resource_path", lambda *parts: root.joinpath(*parts))

    def ship(key: str, filename: str, data: bytes) -> None:
        (root / "models" / filename).write_bytes(data)
        spec = models.MODELS.get(key) or replace(models.MODELS["nap-sface"], key=key)
        monkeypatch.setitem(models.MODELS, key, replace(spec, filename=filename,
                                                       sha256=hashlib.sha256(data).hexdigest()))

    load_calibration.cache_clear()
    yield ship
    load_calibration.cache_clear()


def _npz(tmp_path, mean: np.ndarray, directions: np.ndarray) -> bytes:
    path = tmp_path / "adapter.npz"
    np.savez(path, mean=mean, directions=directions)
    return path.read_bytes()


def _calibration_json(dim: int, adapter: str | None = "test-adapter") -> bytes:
    cells = {cell: {"1": tail(0.3).to_dict()} for cell in CELLS}
    entry = {"dim": dim, "cells": cells, **({"adapter": adapter} if adapter else {})}
    return json.dumps({"embedders": {"test@1": entry}}).encode()


def test_an_unreadable_calibration_is_refused_naming_the_file(shipped):
    shipped("calibration", "calibration.json", b"{not json")
    with pytest.raises(ModelError, match=r"calibration\.json: unreadable calibration"):
        load_calibration("test@1")


def test_a_calibration_without_embedders_covers_none(shipped):
    shipped("calibration", "calibration.json", b'{"format": 1}')
    assert calibrated_versions() == []
    assert load_calibration("test@1") is None


def test_a_shipped_adapter_is_read_with_its_calibration(shipped, tmp_path):
    nap = basis(0, 8)[None]
    shipped("test-adapter", "adapter.npz", _npz(tmp_path, np.full(8, 0.1, np.float32), nap))
    shipped("calibration", "calibration.json", _calibration_json(8))
    cal = load_calibration("test@1")
    assert calibrated_versions() == ["test@1"]
    assert cal.mean == pytest.approx(np.full(8, 0.1)) and np.array_equal(cal.nap, nap)
    assert cal.tails[MASKED][1].to_dict() == tail(0.3).to_dict()


@pytest.mark.parametrize("mean_dim, directions", [
    (7, np.eye(8, dtype=np.float32)[:2]),  # the mean is of another size
    (8, np.eye(9, dtype=np.float32)[:2]),  # the directions are
    (8, np.ones(8, np.float32)),  # a single direction not stored as a (1, D) matrix
])
def test_an_adapter_of_the_wrong_shape_is_refused_with_the_shapes(shipped, tmp_path, mean_dim, directions):
    shipped("test-adapter", "adapter.npz", _npz(tmp_path, np.zeros(mean_dim, np.float32), directions))
    shipped("calibration", "calibration.json", _calibration_json(8))
    with pytest.raises(ModelError) as err:
        load_calibration("test@1")
    assert "adapter test-adapter" in str(err.value) and str(directions.shape) in str(err.value)


def test_a_probe_won_by_its_own_mask_row_is_not_asked_to_unmask_when_the_band_is_off():
    """With `unmask_band_fpir=0` ("never ask"), a masked probe just below the own-mask row's
    threshold is a stranger, not asked: the band comes from the row that won, like the threshold."""

    def axis(i: int) -> np.ndarray:
        v = np.zeros(DIM, np.float32)
        v[i] = 1.0
        return v

    def tail(u: float) -> ImpostorTail:
        return ImpostorTail(u=u, p_u=0.01, sigma=0.03, xi=0.0, quantiles=((0.5, u - 0.3), (0.1, u - 0.1)))

    cal = Calibration("t@1", {UNMASKED: {1: tail(0.3)}, MASKED: {1: tail(0.25)}, MASK_VS_MASK: {1: tail(0.4)}})
    ts = TemplateSet("t@1", np.array([1, 1, 2]), np.array([FULL, MASKED_PHOTO, FULL]),
                     np.stack([axis(0), axis(3), axis(1)]), {1: "a", 2: "b"})
    matcher = Matcher(ts, MatchConfig(use_masked_samples=True, unmask_band_fpir=0), cal)
    mvm = cal.threshold(MASK_VS_MASK, per_comparison_far(MatchConfig().target_fpir, 3))  # 2 people + 1 own-mask row
    s = (matcher.thresholds(True) + mvm) / 2  # above the bare row's threshold, below the own-mask row's
    probe = (s * axis(3) + math.sqrt(1 - s * s) * axis(7)).astype(np.float32)
    verdict = matcher.identify(probe[None], np.array([True]))[0]
    assert verdict.person_id is None and verdict.threshold == pytest.approx(mvm, abs=1e-6)
    assert not verdict.ask_to_unmask and verdict.unmask_below == verdict.threshold


# -- a gallery with nobody to match, one probe with 0-d flags, own-mask rows at the edges --


def test_a_gallery_of_only_painted_mask_templates_has_no_columns_to_score():
    """Older galleries' painted-mask templates are not matched: such a gallery has people on
    disk but none to compare with, and its scores and thresholds have no columns."""
    m = Matcher(templates([(1, SYNTH_MASK, basis(0)), (2, SYNTH_MASK, basis(1))]), MatchConfig(),
                Calibration("test@1", tails()))
    probes = np.stack([basis(0), basis(1)])
    assert m.n_people == 0 and len(m.people) == 0
    assert m.person_scores(probes, np.array([False, True])).shape == (2, 0)
    assert m.row_thresholds(False).shape == (0,) and m.row_thresholds(True, fused=True).shape == (0,)
    assert [v.known for v in m.identify(probes, np.array([False, True]))] == [False, False]


def test_one_probe_may_be_given_with_zero_dimensional_flags():
    """A single embedding with its mask and fused flags as 0-d arrays (e.g. `np.asarray(face.masked)`)
    is one probe, against a filled gallery and an empty one alike."""
    cal = Calibration("test@1", tails())
    filled = Matcher(templates([(1, FULL, basis(0)), (2, FULL, basis(1))]), MatchConfig(), cal)
    empty = Matcher(TemplateSet("test@1", np.zeros(0, np.int64), np.array([], str), np.zeros((0, DIM), np.float32)),
                    MatchConfig(), cal)
    probe = basis(0)
    [v] = filled.identify(probe, np.asarray(True), np.asarray(True))
    assert v.person_id == 1 and v.masked and v.threshold == pytest.approx(filled.thresholds(True, fused=True))
    [bare] = filled.identify(probe, np.asarray(False))
    assert bare.person_id == 1 and not bare.masked and bare.threshold == pytest.approx(filled.thresholds(False))
    [nobody] = empty.identify(probe, np.asarray(True), np.asarray(False))
    assert not nobody.known and nobody.masked and nobody.threshold == pytest.approx(empty.thresholds(True))


def test_an_own_mask_row_that_only_ties_the_bare_row_changes_nothing():
    """The own-mask row speaks only when its margin is strictly better: on an exact tie the
    verdict is the one the bare row gives without own-mask samples (score and threshold included).
    Uncalibrated, so scores are plain dot products and the tie is exact in float32."""
    version = "synthetic-uncalibrated@tie"
    rows = [(1, FULL, basis(0)), (1, MASKED_PHOTO, basis(3)), (2, FULL, basis(1))]
    probe = np.zeros(DIM, np.float32)
    probe[0], probe[3], probe[7] = 0.25, 0.375, math.sqrt(1 - 0.25**2 - 0.375**2)
    overrides = {"threshold_masked": 0.5, "threshold_mask_vs_mask": 0.625}  # both margins: exactly -0.25
    off = Matcher(templates(rows, version), MatchConfig(**overrides)).identify(probe[None], np.array([True]))[0]
    on = Matcher(templates(rows, version), MatchConfig(use_masked_samples=True, **overrides)).identify(
        probe[None], np.array([True]))[0]
    assert off.candidate_id == 1 and off.score == 0.25 and off.threshold == 0.5
    assert on == off


def test_a_probe_won_by_its_own_mask_row_is_asked_to_unmask_within_that_rows_band():
    """Below the own-mask row's threshold but above its band edge (the one-photo mask-vs-mask
    tail at `unmask_band_fpir`), the visitor is asked to lower the mask, not called a stranger."""
    cal = Calibration("test@1", tails(mask_vs_mask={1: tail(0.40), 2: tail(0.70)}),  # 2 photos: not this row
                      mean=np.zeros(DIM, np.float32))
    rows = [(1, FULL, basis(0)), (1, MASKED_PHOTO, basis(3)), (2, FULL, basis(1))]
    m = Matcher(templates(rows), MatchConfig(use_masked_samples=True), cal)
    config = MatchConfig()
    mvm = cal.threshold(MASK_VS_MASK, per_comparison_far(config.target_fpir, 3), 1)  # 2 people + 1 own-mask row
    edge = cal.threshold(MASK_VS_MASK, per_comparison_far(config.unmask_band_fpir, 3), 1)
    assert edge < mvm - 0.05
    v = m.identify(with_score((edge + mvm) / 2, basis(3), basis(7))[None], np.array([True]))[0]
    assert v.candidate_id == 1 and not v.known
    assert v.threshold == pytest.approx(mvm) and v.unmask_below == pytest.approx(edge)
    assert v.ask_to_unmask
    below = m.identify(with_score(edge - 0.02, basis(3), basis(7))[None], np.array([True]))[0]
    assert not below.known and not below.ask_to_unmask


@pytest.mark.parametrize("version", [SFACE, "synthetic-uncalibrated@symmetry"])
def test_a_one_to_one_check_gives_the_same_score_and_answer_whichever_photo_comes_first(version):
    """Embeddings handed over in float64 (read from a file, say) are compared as the float32
    the pipeline makes: swapping the two photos changes neither the score nor the answer."""
    rng = np.random.default_rng(11)
    for _ in range(8):
        a = rng.standard_normal(128)
        b = a + 0.8 * rng.standard_normal(128)
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        for ma, mb in ((False, False), (True, False), (True, True)):
            forward = verify_score(a, b, ma, mb, version)
            assert verify_score(b, a, mb, ma, version) == forward
            at_score = MatchConfig(verify_threshold=forward)
            assert verify_pair(a, ma, b, mb, at_score, version) == verify_pair(b, mb, a, ma, at_score, version)
            assert verify_pair(b, mb, a, ma, at_score, version)[1] is True
