"""Matching: per-person mean templates, mask-aware thresholds from a calibration, ask-to-unmask, verify."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest

from kiosk.config import MatchConfig
from kiosk.gallery.api import TemplateSet
from kiosk.models import MODELS
from kiosk.recognition.calibration import (
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
    verify_threshold,
)

DIM = 16


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def basis(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    v[i] = 1.0
    return v


def tail(u: float, sigma: float = 0.03, xi: float = 0.0) -> ImpostorTail:
    """A tail whose FAR-1e-2 score is u, falling exponentially above it."""
    return ImpostorTail(u=u, p_u=0.01, sigma=sigma, xi=xi, quantiles=((0.5, u - 0.3), (0.1, u - 0.1)))


def calibration(nap: np.ndarray | None = None, k3_shift: float = 0.0) -> Calibration:
    tails = {
        UNMASKED: {1: tail(0.30), 3: tail(0.30 + k3_shift)},
        MASKED: {1: tail(0.25), 3: tail(0.25 + k3_shift)},
        MASK_VS_MASK: {1: tail(0.40)},
    }
    return Calibration("test@1", tails, mean=np.zeros(DIM, np.float32), nap=nap)


def templates(rows: list[tuple[int, str, np.ndarray]]) -> TemplateSet:
    ids = np.array([r[0] for r in rows], np.int64)
    kinds = np.array([r[1] for r in rows])
    matrix = unit(np.stack([r[2] for r in rows]))
    return TemplateSet("test@1", ids, kinds, matrix, {pid: f"person {pid}" for pid in set(ids.tolist())})


# -- the calibration's tail --------------------------------------------------------------


def test_tail_threshold_and_exceedance_are_inverse():
    t = tail(0.3, sigma=0.04, xi=-0.05)
    for far in (5e-3, 1e-4, 1e-6):
        assert t.exceedance(t.threshold(far)) == pytest.approx(far, rel=1e-6)
    assert t.threshold(1e-6) > t.threshold(1e-4) > t.threshold(1e-2 * 0.999)
    # Below p_u the empirical quantiles apply, log-interpolated.
    assert t.threshold(0.1) == pytest.approx(0.2)
    assert 0.0 < t.threshold(0.3) < 0.2


def test_per_comparison_far_gives_the_fpir_over_n_people():
    for n in (1, 7, 300, 100_000):
        far = per_comparison_far(0.005, n)
        assert 1 - (1 - far) ** n == pytest.approx(0.005, rel=1e-6)
    assert per_comparison_far(0.005, 0) == pytest.approx(0.005)


def test_threshold_uses_the_largest_calibrated_template_size_not_above():
    cal = calibration(k3_shift=0.05)
    assert cal.threshold(UNMASKED, 1e-4, photos=2) == cal.threshold(UNMASKED, 1e-4, photos=1)
    assert cal.threshold(UNMASKED, 1e-4, photos=8) == pytest.approx(cal.threshold(UNMASKED, 1e-4, photos=1) + 0.05)


# -- 1:N ---------------------------------------------------------------------------------


def test_identify_accepts_the_person_and_rejects_a_stranger():
    rng = np.random.default_rng(0)
    people = unit(rng.standard_normal((5, DIM)))
    m = Matcher(templates([(i + 1, FULL, people[i]) for i in range(5)]), MatchConfig(), calibration())
    probe = unit(people[2] + 0.05 * rng.standard_normal(DIM))
    stranger = unit(rng.standard_normal(DIM))
    stranger -= people.T @ np.linalg.lstsq(people.T, stranger, rcond=None)[0]  # orthogonal to all five
    hit, miss = m.identify(np.stack([probe, unit(stranger)]), np.array([False, False]))
    assert hit.known and hit.person_id == 3 and hit.name == "person 3" and hit.margin > 0
    assert not miss.known and miss.name is None and miss.candidate_id is not None and miss.margin < 0


def test_a_person_is_the_mean_of_their_unmasked_templates():
    a, b = basis(0), basis(1)
    m = Matcher(templates([(1, FULL, a), (1, FULL, b), (2, FULL, basis(2))]), MatchConfig(), calibration())
    scores = m.person_scores(unit(a + b)[None], np.array([False]))
    assert m.n_people == 2 and list(m.people) == [1, 2]
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-6)  # mean of a and b, not max(a.p, b.p) = 0.71


def test_painted_mask_templates_of_old_galleries_are_ignored():
    m = Matcher(templates([(1, FULL, basis(0)), (1, SYNTH_MASK, basis(1))]), MatchConfig(), calibration())
    assert m.person_scores(basis(1)[None], np.array([True]))[0, 0] == pytest.approx(0.0, abs=1e-6)


def test_masked_probe_gets_the_masked_threshold():
    cal = calibration()
    cfg = MatchConfig()
    m = Matcher(templates([(i, FULL, basis(i)) for i in range(4)]), cfg, cal)
    far = per_comparison_far(cfg.target_fpir, 4)
    assert m.thresholds(False) == pytest.approx(cal.threshold(UNMASKED, far))
    assert m.thresholds(True) == pytest.approx(cal.threshold(MASKED, far))
    # A score between the two thresholds is accepted only for a masked probe.
    score = (m.thresholds(True) + m.thresholds(False)) / 2
    probe = unit(score * basis(0) + math.sqrt(1 - score**2) * basis(DIM - 1))
    unmasked, masked = m.identify(np.stack([probe, probe]), np.array([False, True]))
    assert not unmasked.known and masked.known and masked.person_id == 0
    assert masked.masked and not unmasked.masked


def test_threshold_rises_with_gallery_size():
    cal = calibration()
    small = Matcher(templates([(i, FULL, basis(i % DIM)) for i in range(10)]), MatchConfig(), cal)
    large = Matcher(templates([(i, FULL, basis(i % DIM)) for i in range(1000)]), MatchConfig(), cal)
    assert large.thresholds(False) > small.thresholds(False)
    assert large.thresholds(True) > small.thresholds(True)


def test_more_enrolment_photos_use_their_own_tail():
    cal = calibration(k3_shift=0.05)
    rows = [(1, FULL, basis(0))] + [(2, FULL, basis(1))] * 3
    m = Matcher(templates(rows), MatchConfig(), cal)
    far = per_comparison_far(0.005, 2)
    assert m.row_thresholds(False)[0] == pytest.approx(cal.threshold(UNMASKED, far, 1))
    assert m.row_thresholds(False)[1] == pytest.approx(cal.threshold(UNMASKED, far, 3))


def test_someone_enrolled_only_in_a_mask_is_matched_mask_vs_mask():
    cal = calibration()
    m = Matcher(templates([(1, FULL, basis(0)), (2, MASKED_PHOTO, basis(1))]), MatchConfig(), cal)
    far = per_comparison_far(0.005, 2)
    assert m.row_thresholds(True)[1] == pytest.approx(cal.threshold(MASK_VS_MASK, far))
    assert m.row_thresholds(False)[1] == pytest.approx(cal.threshold(MASKED, far))
    hit = m.identify(basis(1)[None], np.array([True]))[0]
    assert hit.person_id == 2


def test_config_overrides_beat_the_calibration():
    m = Matcher(templates([(1, FULL, basis(0))]), MatchConfig(threshold_unmasked=0.9, threshold_masked=0.2),
                calibration())
    assert m.thresholds(False) == 0.9 and m.thresholds(True) == 0.2


def test_nap_is_applied_to_masked_comparisons_only():
    nuisance = basis(DIM - 1)
    cal = calibration(nap=nuisance[None])
    m = Matcher(templates([(1, FULL, basis(0)), (2, FULL, basis(1))]), MatchConfig(), cal)
    probe = unit(basis(0) + 1.5 * nuisance)  # person 1 moved along the "mask" direction
    plain = m.person_scores(probe[None], np.array([False]))[0, 0]
    masked = m.person_scores(probe[None], np.array([True]))[0, 0]
    assert plain == pytest.approx(float(unit(basis(0) + 1.5 * nuisance)[0]))
    assert masked == pytest.approx(1.0, abs=1e-6)


def test_masked_probe_just_short_is_asked_to_unmask():
    cal = calibration()
    m = Matcher(templates([(i, FULL, basis(i)) for i in range(4)]), MatchConfig(unmask_band_fpir=0.3), cal)
    t = m.thresholds(True)
    band = cal.threshold(MASKED, per_comparison_far(0.3, 4))
    assert band < t
    score = (band + t) / 2
    probe = unit(score * basis(0) + math.sqrt(1 - score**2) * basis(DIM - 1))
    masked, unmasked = m.identify(np.stack([probe, probe]), np.array([True, False]))
    assert masked.ask_to_unmask and not masked.known and masked.candidate_id == 0
    assert masked.unmask_below == pytest.approx(band)
    assert not unmasked.ask_to_unmask  # only a masked visitor can lower a mask
    far_off = m.identify(basis(DIM - 1)[None], np.array([True]))[0]
    assert not far_off.ask_to_unmask and not far_off.known
    off = Matcher(m.templates, MatchConfig(unmask_band_fpir=0), cal).identify(probe[None], np.array([True]))[0]
    assert not off.ask_to_unmask


def test_empty_gallery_knows_nobody():
    empty = TemplateSet("test@1", np.zeros(0, np.int64), np.array([], str), np.zeros((0, DIM), np.float32))
    results = Matcher(empty, MatchConfig(), calibration()).identify(unit(np.ones((2, DIM))), np.array([False, True]))
    assert [r.known for r in results] == [False, False]
    assert [r.masked for r in results] == [False, True]


def test_uncalibrated_model_version_falls_back_to_fixed_thresholds(caplog):
    # A version no other test uses: the warning is given once per version and process.
    version = f"synthetic-{uuid.uuid4().hex[:8]}"
    ts = TemplateSet(version, np.array([1, 2], np.int64), np.array([FULL, FULL]),
                     np.stack([basis(0), basis(1)]))
    with caplog.at_level("WARNING", logger="kiosk.recognition.matching"):
        m = Matcher(ts)
    assert m.calibration is None and 0 < m.thresholds(False) < 1
    assert f"no shipped calibration for {version}" in caplog.text
    # A probe near person 1 (cosine 0.9, not an exact copy) is named; one between them is not.
    near = unit(0.9 * basis(0) + math.sqrt(1 - 0.81) * basis(2))
    between = unit(basis(0) + basis(1) + 2 * basis(2))
    hit, miss = m.identify(np.stack([near, between]), np.array([False, False]))
    assert hit.person_id == 1 and hit.score == pytest.approx(0.9, abs=1e-5)
    assert not miss.known and miss.score < m.thresholds(False)


def test_the_winner_is_furthest_above_their_own_threshold_not_the_highest_score():
    """Person 1 (3 photos, stricter tail) scores higher but below their threshold; person 2
    (1 photo) scores lower but above theirs: person 2 is the match, not "unknown"."""
    cal = calibration(k3_shift=0.1)
    m = Matcher(templates([(1, FULL, basis(0))] * 3 + [(2, FULL, basis(1))]), MatchConfig(), cal)
    far = per_comparison_far(MatchConfig().target_fpir, 2)
    thr1, thr2 = cal.threshold(UNMASKED, far, 3), cal.threshold(UNMASKED, far, 1)
    s1, s2 = thr1 - 0.02, thr2 + 0.02
    assert s1 > s2  # the highest raw score belongs to the person who is not accepted
    probe = unit(s1 * basis(0) + s2 * basis(1) + math.sqrt(1 - s1**2 - s2**2) * basis(2))
    (result,) = m.identify(probe[None], np.array([False]))
    assert result.person_id == 2 and result.name == "person 2"
    assert result.score == pytest.approx(s2, abs=1e-5) and result.threshold == pytest.approx(thr2, abs=1e-5)
    assert result.runner_up == pytest.approx(s1, abs=1e-5)


def test_identify_scales_to_many_people_with_one_product():
    rng = np.random.default_rng(1)
    n = 20_000
    matrix = unit(rng.standard_normal((n, DIM)))
    ids = np.arange(n, dtype=np.int64) // 2
    m = Matcher(TemplateSet("test@1", ids, np.array([FULL] * n), matrix), MatchConfig(), calibration())
    probe = unit(matrix[10] + matrix[11])  # both templates of person 5
    result = m.identify(probe[None], np.array([False]))[0]
    assert m.n_people == n // 2 and result.candidate_id == 5


# -- the shipped calibration and 1:1 -----------------------------------------------------


def test_shipped_calibration_covers_both_embedders_with_sane_thresholds():
    from kiosk.recognition.calibration import fused_cell
    from kiosk.vision.pipeline import template_version

    sface = template_version(MODELS["sface"].version)
    fused = template_version(f"{MODELS['sface'].version}+{MODELS['mbf'].version}")
    assert {sface, fused} <= set(calibrated_versions())
    assert fused_cell(UNMASKED) in load_calibration(sface).tails  # probes fused over a track
    for version, dim in ((sface, 128), (fused, 640)):
        cal = load_calibration(version)
        assert cal.mean.shape == (dim,) and cal.nap.shape[1] == dim
        assert np.allclose(cal.nap @ cal.nap.T, np.eye(len(cal.nap)), atol=1e-4)
        for cell in (UNMASKED, MASKED, MASK_VS_MASK):
            t_verify, t_big = cal.threshold(cell, 1e-3), cal.threshold(cell, per_comparison_far(0.005, 100_000))
            assert 0.1 < t_verify < t_big < 1.0
    assert load_calibration("nobody@000") is None


def test_verify_pair_uses_the_calibrated_threshold_per_mask_state():
    cfg = MatchConfig()
    rng = np.random.default_rng(2)
    a = unit(rng.standard_normal(128))
    b = unit(rng.standard_normal(128))
    same, yes = verify_pair(a, False, a, False, cfg)
    diff, no = verify_pair(a, False, b, False, cfg)
    assert yes and same == pytest.approx(1.0, abs=1e-5) and not no and diff < same
    assert verify_threshold(cfg, False, False) != verify_threshold(cfg, True, False)
    assert verify_threshold(MatchConfig(verify_threshold=0.77), True, True) == 0.77
    # A stricter FAR gives a higher threshold.
    assert verify_threshold(MatchConfig(verify_far=1e-5), True, False) > verify_threshold(cfg, True, False)


def test_verify_refuses_embeddings_of_another_size():
    with pytest.raises(ValueError, match="model_version"):
        verify_pair(unit(np.ones(640)), False, unit(np.ones(640)), False, MatchConfig())


# -- the template policy of enrollment -----------------------------------------------------


def _face(masked: bool):
    from kiosk.vision.types import FaceAnalysis, Quality

    return FaceAnalysis(box=np.array([0, 0, 100, 100], np.float32), det_score=0.9,
                        landmarks=np.zeros((5, 2), np.float32), aligned=np.zeros((112, 112, 3), np.uint8),
                        masked=masked, mask_score=0.9 if masked else 0.1, embedding=basis(0),
                        quality=Quality(face_px=120, sharpness=200, brightness=120, yaw=0.1, pitch=0.0))


def test_each_sample_stores_one_template_marked_masked_or_not():
    from kiosk.enrollment.samples import TEMPLATE_MASKS, make_sample

    bare, masked = make_sample(None, _face(False)), make_sample(None, _face(True))
    assert TEMPLATE_MASKS == ()
    assert [t.kind for t in bare.templates] == [FULL] and not bare.masked
    assert [t.kind for t in masked.templates] == [MASKED_PHOTO] and masked.masked
    assert np.array_equal(bare.templates[0].embedding, basis(0))


def test_fused_probes_get_the_fused_tails_thresholds():
    """A probe averaged from a track's frames is judged by the fused-probe tail (strangers' averages
    score a little higher), and by the single-frame tail when the calibration has none."""
    from kiosk.recognition.calibration import fused_cell

    base = calibration()
    tails = dict(base.tails)
    tails[fused_cell(UNMASKED)] = {1: tail(0.36)}
    tails[fused_cell(MASKED)] = {1: tail(0.31)}
    cal = Calibration("test@1", tails, mean=np.zeros(DIM, np.float32))
    m = Matcher(templates([(1, FULL, basis(0)), (2, FULL, basis(1))]), MatchConfig(), cal)
    far = per_comparison_far(0.005, 2)
    assert m.thresholds(False, fused=True) == pytest.approx(tails[fused_cell(UNMASKED)][1].threshold(far))
    assert m.thresholds(False, fused=True) > m.thresholds(False)
    assert m.thresholds(True, fused=True) > m.thresholds(True)
    # A score between the two thresholds: accepted as one frame, not as a fused probe.
    s = (m.thresholds(False) + m.thresholds(False, fused=True)) / 2
    probe = unit(s * basis(0) + math.sqrt(1 - s**2) * basis(5))
    one, fused = m.identify(np.stack([probe, probe]), np.array([False, False]), np.array([False, True]))
    assert one.person_id == 1 and not fused.known and fused.threshold > one.threshold
    # Without fused tails the single-frame ones apply.
    plain = Matcher(m.templates, MatchConfig(), base)
    assert plain.thresholds(False, fused=True) == pytest.approx(plain.thresholds(False))


def test_own_mask_samples_are_used_only_when_switched_on():
    """Someone enrolled bare and in their own mask: with use_masked_samples a masked probe that
    looks like the masked sample (and not like the bare one) is matched mask-vs-mask."""
    cal = calibration()
    rows = [(1, FULL, basis(0)), (1, MASKED_PHOTO, basis(3)), (2, FULL, basis(1))]
    probe = unit(0.8 * basis(3) + 0.6 * basis(7))
    off = Matcher(templates(rows), MatchConfig(), cal).identify(probe[None], np.array([True]))[0]
    assert not off.known
    on_matcher = Matcher(templates(rows), MatchConfig(use_masked_samples=True), cal)
    on = on_matcher.identify(probe[None], np.array([True]))[0]
    far = per_comparison_far(0.005, 3)  # a masked probe meets 2 person rows and 1 own-mask row
    assert on.person_id == 1 and on.threshold == pytest.approx(cal.threshold(MASK_VS_MASK, far))
    # Unmasked probes never use the masked row.
    bare = on_matcher.identify(probe[None], np.array([False]))[0]
    assert not bare.known


def test_own_mask_row_speaks_only_when_its_margin_is_better_and_in_the_masked_space():
    """Per person, the bare row and the own-mask row compete by margin over their own
    thresholds; the own-mask row is scored in the calibration's masked space (NAP removed)."""
    nuisance = basis(DIM - 1)
    tails = {UNMASKED: {1: tail(0.30)}, MASKED: {1: tail(0.25)},
             MASK_VS_MASK: {1: tail(0.40), 2: tail(0.70)}}  # a 2-photo tail that must not be used
    cal = Calibration("test@1", tails, mean=np.zeros(DIM, np.float32), nap=nuisance[None])
    rows = [(1, FULL, basis(0)), (1, MASKED_PHOTO, basis(3)), (2, FULL, basis(1))]
    m = Matcher(templates(rows), MatchConfig(use_masked_samples=True), cal)
    far = per_comparison_far(0.005, 3)
    mvm = cal.threshold(MASK_VS_MASK, far, 1)
    # Looks like the own-mask sample, plus the mask's nuisance direction: the masked row wins,
    # scored without the nuisance (0.8 in the masked space, not 0.8 / sqrt(1 + 0.5^2)).
    like_mask = unit(0.8 * basis(3) + 0.6 * basis(7) + 0.5 * nuisance)
    v = m.identify(like_mask[None], np.array([True]))[0]
    expected = float(cal.masked_space(like_mask[None])[0] @ cal.masked_space(basis(3)[None])[0])
    assert v.person_id == 1 and v.threshold == pytest.approx(mvm) and v.score == pytest.approx(expected)
    # Looks like the bare sample: the bare row's margin is better, so its score and threshold speak.
    like_bare = unit(0.9 * basis(0) + 0.2 * basis(3) + 0.3 * basis(7))
    b = m.identify(like_bare[None], np.array([True]))[0]
    assert b.person_id == 1
    assert b.threshold == pytest.approx(m.row_thresholds(True)[0])
    assert b.score == pytest.approx(float(m.person_scores(like_bare[None], np.array([True]))[0, 0]))


def test_acceptance_is_at_or_above_the_threshold_and_verdicts_carry_the_runner_up():
    rows = [(1, FULL, basis(0)), (2, FULL, basis(1))]
    probe = unit(0.7 * basis(0) + 0.5 * basis(1) + 0.5 * basis(2))
    loose = Matcher(templates(rows), MatchConfig(), calibration())
    score = float(loose.person_scores(probe[None], np.array([False]))[0, 0])
    exact = Matcher(templates(rows), MatchConfig(threshold_unmasked=score), calibration())
    v = exact.identify(probe[None], np.array([False]))[0]
    assert v.known and v.person_id == 1 and v.score == v.threshold  # exactly at the threshold: accepted
    assert v.runner_up == pytest.approx(float(probe @ basis(1)))
    assert v.unmask_below == 1.0  # an unmasked probe is never in the ask-to-unmask band
    alone = Matcher(templates(rows[:1]), MatchConfig(), calibration()).identify(probe[None], np.array([False]))[0]
    assert alone.runner_up == -1.0  # nobody else to compare with


def test_an_empty_gallery_still_reports_the_threshold_that_would_apply():
    empty = TemplateSet("test@1", np.zeros(0, np.int64), np.array([], str), np.zeros((0, DIM), np.float32))
    cal = calibration()
    cal.tails[fused_cell(MASKED)] = {1: tail(0.5)}  # fused probes have tails of their own
    m = Matcher(empty, MatchConfig(), cal)
    assert m.thresholds(True, fused=True) != m.thresholds(True)
    masked = np.array([False, True, True])
    fused = np.array([False, False, True])
    verdicts = m.identify(unit(np.ones((3, DIM))), masked, fused)
    assert [v.score for v in verdicts] == [-1.0] * 3
    assert [v.threshold for v in verdicts] == [m.thresholds(False), m.thresholds(True),
                                               m.thresholds(True, fused=True)]
    assert [v.masked for v in verdicts] == [False, True, True]


def test_the_shipped_calibration_file_reads_back_exactly_what_it_holds():
    """Read from the file itself (not a cached copy): tails, their quantiles and the adapter."""
    import json

    from kiosk.models import verified_model_path
    from kiosk.vision.pipeline import template_version

    sface = template_version(MODELS["sface"].version)
    load_calibration.cache_clear()
    try:
        cal = load_calibration(sface)
    finally:
        load_calibration.cache_clear()
    raw = json.loads(verified_model_path("calibration").read_text(encoding="utf-8"))["embedders"][sface]
    for cell, sizes in raw["cells"].items():
        for k, data in sizes.items():
            assert cal.tails[cell][int(k)].to_dict() == data  # every field, quantiles and n included
    assert len(cal.nap) == 16 and cal.mean.shape == (128,) and np.linalg.norm(cal.mean) > 0
    # Below the fitted tail the empirical quantiles decide: FAR 10% is the stored quantile.
    q = dict(raw["cells"][UNMASKED]["1"]["quantiles"])
    assert cal.threshold(UNMASKED, 0.1) == pytest.approx(q[0.1])
    # The masked space really removes the adapter's directions; the plain one does not.
    x = unit(cal.mean + cal.nap[0])[None]
    assert abs(float(cal.masked_space(x)[0] @ cal.nap[0])) < 1e-5 < abs(float(cal.plain(x)[0] @ cal.nap[0]))
