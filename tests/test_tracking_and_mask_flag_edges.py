"""Edges of the tracker and the mask flag (from surviving mutants): boundaries, exact results, peek."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.errors import ModelError
from kiosk.recognition.tracking import Arrival, Identity, Tracker, TrackerConfig, vote_identity
from kiosk.recognition.verdict import NO_SCORE, Verdict
from kiosk.vision.masks import FEATURES, MaskClassifier, mask_features

A, B = 1, 2
CFG = TrackerConfig()


def vote(pid, score=0.6, threshold=0.5):
    return Verdict(pid, {A: "Alice", B: "Bob"}.get(pid), score, threshold)


def box(x, y=50, w=60):
    return [x, y, x + w, y + w]


# -- association ------------------------------------------------------------------------------


def test_track_ids_count_up_from_one():
    # The ids are what the event log and the visit records call a track.
    tracker = Tracker()
    assert tracker.update(np.array([box(0), box(200), box(400)]), 0.0) == [1, 2, 3]
    assert tracker.update(np.array([box(0), box(600)]), 0.04) == [1, 4]


def test_a_detection_continues_the_track_it_overlaps_most():
    tracker = Tracker()
    near, far = tracker.update(np.array([box(0), box(30)]), 0.0)  # two faces side by side
    (tid,) = tracker.update(np.array([box(2)]), 0.04)  # one face left, almost where the first was
    assert tid == near != far


def test_a_detection_taken_by_a_better_track_does_not_stop_the_others_matching():
    tracker = Tracker()
    t1, t2 = tracker.update(np.array([box(0), box(20)]), 0.0)
    # The first detection overlaps both tracks (t1 best); the second only t2, and less than
    # t2 overlaps the first detection: after skipping that pair, t2 still takes the second.
    ids = tracker.update(np.array([box(0), box(45)]), 0.04)
    assert ids == [t1, t2]


def test_a_detection_exactly_between_two_tracks_continues_the_older_one():
    # Four groups of three tracks: a face exactly between the first two (IoU 0.5 with each)
    # and one exactly on the third (IoU 1). Ties must not depend on how numpy sorts on this CPU.
    tracker = Tracker()
    created = tracker.update(np.array([box(g * 1000 + dx) for g in range(4) for dx in (0, 40, 300)]), 0.0)
    ids = tracker.update(np.array([box(g * 1000 + dx) for g in range(4) for dx in (20, 300)]), 0.04)
    assert ids == [created[3 * g + k] for g in range(4) for k in (0, 2)]


def test_an_overlap_of_exactly_iou_match_continues_the_track():
    tracker = Tracker(TrackerConfig(iou_match=0.5))
    (tid,) = tracker.update(np.array([[0, 0, 10, 10]]), 0.0)
    assert tracker.update(np.array([[0, 0, 10, 5]]), 0.04) == [tid]  # IoU 50 / 100 = 0.5
    assert tracker.peek(np.array([[0, 0, 10, 2.5]])) == [tid]  # IoU with the moved box: 25 / 50


def test_a_track_missed_for_exactly_max_missed_s_is_still_there():
    # Replayed media stamps frames n / fps, so gaps of exactly max_missed_s happen.
    tracker = Tracker(TrackerConfig(max_missed_s=1.0))
    (tid,) = tracker.update(np.array([box(0)]), 0.0)
    tracker.update(np.zeros((0, 4)), 1.0)
    assert tid in tracker.tracks
    assert tracker.update(np.array([box(0)]), 1.0) == [tid]


def test_the_mask_flag_uses_the_configured_threshold():
    tracker = Tracker(TrackerConfig(mask_threshold=0.8))
    (tid,) = tracker.update(np.array([box(0)]), 0.0, np.array([0.7]))
    assert not tracker.tracks[tid].masked
    (other,) = tracker.update(np.array([box(300)]), 0.04, np.array([0.85]))
    assert tracker.tracks[other].masked


def test_one_box_without_a_batch_axis_takes_its_mask_score_as_a_number():
    tracker = Tracker()
    (tid,) = tracker.update(np.array(box(0)), 0.0, np.float32(0.9))
    assert tracker.tracks[tid].masked
    assert tracker.update(np.array(box(2)), 0.04, np.float32(0.1)) == [tid]
    assert tracker.tracks[tid].mask_score == pytest.approx(0.4 * 0.1 + 0.6 * 0.9)  # smoothed, still masked


# -- peek (the live loop reuses a track's landmarks for the face that continues it) -----------


def test_peek_names_the_best_overlapping_track_and_changes_nothing():
    tracker = Tracker()
    t1, t2 = tracker.update(np.array([box(0), box(300)]), 0.0)
    assert tracker.peek(np.array([box(305), box(1000), box(3)])) == [t2, None, t1]
    assert tracker.peek(np.array(box(2))) == [t1]  # one box without a batch axis
    assert tracker.peek(np.zeros((0, 4))) == []
    assert sorted(tracker.tracks) == [t1, t2]
    assert tracker.tracks[t1].box.tolist() == box(0) and tracker.tracks[t1].frames == 1
    assert tracker.update(np.array([box(1000)]), 0.04) == [3]  # peek started no track


def test_peek_with_no_tracks_matches_nothing():
    assert Tracker().peek(np.array([box(0), box(300)])) == [None, None]


# -- last vote (shown on the live overlay: score, threshold, candidate) -------------------------


def test_last_vote_is_the_latest_raw_recognition():
    tracker = Tracker()
    (tid,) = tracker.update(np.array([box(0)]), 0.0)
    assert tracker.last_vote(tid) is None
    latest = vote(None, 0.3)
    for v in (vote(A, 0.61), vote(A, 0.62), vote(B, 0.63), latest):
        tracker.add_recognition(tid, v, 0.5, 0.0)
    assert tracker.last_vote(tid) == latest


# -- voting: exact identities ------------------------------------------------------------------


def test_an_undecided_vote_is_pending_with_no_score():
    assert vote_identity([vote(A)], CFG) == Identity(None, None, NO_SCORE, False, 0, 1, False)


def test_one_unknown_vote_settles_when_unknown_after_is_one():
    cfg = TrackerConfig(min_agree=1, unknown_after=1)
    assert vote_identity([vote(None, 0.2)], cfg) == Identity(None, None, pytest.approx(0.2), True, 1, 1)


def test_a_shown_name_stays_while_one_vote_in_a_full_window_supports_it():
    named = vote_identity([vote(A), vote(A)], CFG)
    votes = [vote(A)] + [vote(None, 0.2)] * (CFG.window - 1)
    assert vote_identity(votes, CFG, named) == Identity(A, "Alice", pytest.approx(0.6), True, 1, CFG.window)


def test_a_settled_unknown_stays_unknown_while_two_people_contest_the_track():
    unknown = Identity(None, None, 0.25, True, 3, 3)
    near_miss = Verdict(None, None, 0.40, 0.45, masked=True, candidate_id=A, unmask_below=0.35)
    votes = [vote(A), vote(B), vote(A), vote(None, 0.2), near_miss]  # Alice 2, Bob 1: contested
    assert vote_identity(votes, CFG, unknown) == Identity(None, None, 0.25, True, 2, 5, True)


def test_a_window_as_long_as_the_votes_it_needs_is_allowed():
    TrackerConfig(window=3, min_agree=2, unknown_after=3)


# -- recognition schedule -----------------------------------------------------------------------


def _settled(cfg: TrackerConfig, t: float, quality: float = 0.5) -> tuple[Tracker, int]:
    tracker = Tracker(cfg)
    (tid,) = tracker.update(np.array([box(0)]), t)
    for _ in range(2):
        tracker.add_recognition(tid, vote(A), quality, t)
    return tracker, tid


def test_a_settled_track_is_not_rechecked_before_recheck_s_at_any_clock():
    tracker, tid = _settled(TrackerConfig(recheck_s=1.0), 1000.0)  # a monotonic clock is far from 0
    assert not tracker.needs_recognition(tid, 0.5, 1000.5)
    assert tracker.needs_recognition(tid, 0.5, 1001.0)  # exactly recheck_s later: look again


def test_a_contested_track_is_rechecked_exactly_contested_recheck_s_later():
    tracker, tid = _settled(TrackerConfig(contested_recheck_s=0.25), 1.0)
    tracker.add_recognition(tid, vote(None, 0.3), 0.5, 1.0)
    assert tracker.needs_recognition(tid, 0.5, 1.25)


def test_a_view_exactly_better_quality_better_is_not_a_reason_to_recheck():
    tracker, tid = _settled(TrackerConfig(better_quality=0.25, recheck_s=10.0), 0.0)
    assert not tracker.needs_recognition(tid, 0.75, 0.1)
    assert tracker.needs_recognition(tid, 0.8, 0.1)


def test_after_forgetting_a_better_view_is_measured_from_the_new_recognitions():
    tracker, tid = _settled(TrackerConfig(better_quality=0.15, recheck_s=10.0), 0.0, quality=0.9)
    tracker.forget_identities()
    for _ in range(2):
        tracker.add_recognition(tid, vote(A), 0.3, 1.0)
    assert tracker.needs_recognition(tid, 0.6, 1.1)


# -- arrivals and the vote window -----------------------------------------------------------------


def test_the_arrival_carries_score_mask_state_and_the_settling_time():
    tracker = Tracker()
    (tid,) = tracker.update(np.array([box(0)]), 5.0, np.array([0.9]))
    assert tracker.add_recognition(tid, vote(A, 0.6), 0.5, 5.1, frame_id=7) is None
    arrival = tracker.add_recognition(tid, vote(A, 0.7), 0.5, 5.2, frame_id=8)
    assert arrival == Arrival(tid, A, "Alice", pytest.approx(0.65), True, 5.2, 8, 5.0)


def test_the_vote_window_holds_window_votes():
    tracker, tid = _settled(CFG, 0.0)
    for _ in range(CFG.window - 1):
        tracker.add_recognition(tid, vote(None, 0.2), 0.5, 0.0)
    assert tracker.identity(tid).votes == CFG.window and tracker.identity(tid).person_id == A
    tracker.add_recognition(tid, vote(None, 0.2), 0.5, 0.0)  # Alice's last vote ages out
    assert not tracker.identity(tid).known and tracker.identity(tid).settled


def test_a_track_votes_from_the_name_it_shows():
    tracker, tid = _settled(CFG, 0.0)
    tracker.add_recognition(tid, vote(B), 0.5, 0.1)  # Alice 2, Bob 1: contested only for a new name
    assert tracker.identity(tid).person_id == A


# -- the mask flag ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crops(astronaut_rgb) -> np.ndarray:
    return np.stack([astronaut_rgb[150:262, 170:282], astronaut_rgb[40:152, 180:292]])


def test_the_features_are_the_ones_the_vendored_weights_were_trained_on(crops):
    """Pinned from the version that trained resources/models/mask_classifier.npz: a change to the
    crop regions, resizing or colour terms must bump FEATURES and retrain, not drift silently."""
    f = mask_features(crops)
    assert f.shape == (2, 1269)
    hog, colour = f[:, :1260], f[:, 1260:]
    probe = np.random.default_rng(7).standard_normal(1260)
    np.testing.assert_allclose(hog @ probe, [-12.291401, -10.254095], rtol=1e-4)
    np.testing.assert_allclose(hog.sum(1), [170.12837, 163.66733], rtol=1e-4)
    np.testing.assert_allclose(colour, [
        [0.158158, 0.505301, 0.505147, 0.964411, 0.033544, 0.050514, 0.408058, -0.001071, -0.028280],
        [0.684225, 0.536709, 0.566517, 0.743611, 0.063284, 0.084788, 0.513943, 0.022302, -0.033561],
    ], atol=2e-5)


def test_logits_are_the_weighted_features_plus_the_intercept(crops):
    n = 1269
    clf = MaskClassifier(np.zeros(n, np.float32), np.ones(n, np.float32), np.zeros(n, np.float32), 2.0, 0.5)
    np.testing.assert_allclose(clf.decision(crops), [2.0, 2.0])
    np.testing.assert_allclose(clf.predict(crops), [1 / (1 + np.exp(-2.0))] * 2, rtol=1e-6)


def test_weights_of_mismatched_shapes_are_refused_with_the_shapes():
    with pytest.raises(ModelError) as err:
        MaskClassifier(np.zeros(3), np.ones(4), np.zeros(3), 0.0)
    assert "(3,), (4,), (3,)" in str(err.value)
    with pytest.raises(ModelError):
        MaskClassifier(np.zeros((2, 3)), np.ones((2, 3)), np.zeros((2, 3)), 0.0)  # not one vector


def test_weights_saved_by_the_first_version_are_refused_by_name(tmp_path):
    path = tmp_path / "old.npz"
    np.savez(path, mean=np.zeros(3), scale=np.ones(3), coef=np.zeros(3), intercept=0.0, threshold=0.5)
    with pytest.raises(ModelError) as err:
        MaskClassifier.load(str(path))
    assert "'hog-lower-64x32+lab9/v1'" in str(err.value) and repr(FEATURES) in str(err.value)


def test_weights_for_other_features_are_refused_on_load(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, mean=np.zeros(3), scale=np.ones(3), coef=np.zeros(3), intercept=0.0, threshold=0.5,
             features=np.array("other/v9"))
    with pytest.raises(ModelError, match="other/v9"):
        MaskClassifier.load(str(path))
