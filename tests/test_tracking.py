"""Tracker: association across frames, identity voting, when to recognise, one arrival per track."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.recognition.tracking import Tracker, TrackerConfig, vote_identity
from kiosk.recognition.verdict import Verdict
from kiosk.vision.geometry import iou_matrix

A, B = 1, 2
CFG = TrackerConfig()


def vote(pid, score=0.6, threshold=0.5, masked=False):
    return Verdict(pid, {A: "Alice", B: "Bob"}.get(pid), score, threshold, masked)


def box(x, y=50, w=60):
    return [x, y, x + w, y + w]


def test_iou_matrix():
    ious = iou_matrix(np.array([box(0), box(200)]), np.array([box(0), box(30), box(500)]))
    assert ious.shape == (2, 3)
    assert ious[0, 0] == pytest.approx(1.0)
    assert ious[0, 1] == pytest.approx(30 * 60 / (2 * 3600 - 30 * 60))
    assert ious[1].max() == 0.0


def test_tracks_follow_moving_faces_and_new_faces_get_new_ids():
    tracker = Tracker()
    first = tracker.update(np.array([box(0), box(300)]), 0.0)
    assert len(set(first)) == 2
    # Both move a little; listed in the other order: ids follow the faces, not the order.
    second = tracker.update(np.array([box(305), box(8)]), 0.04)
    assert second == [first[1], first[0]]
    third = tracker.update(np.array([box(10), box(310), box(600)]), 0.08)
    assert third[:2] == [first[0], first[1]] and third[2] not in first


def test_tracks_end_after_max_missed_and_the_face_comes_back_as_a_new_track():
    tracker = Tracker(TrackerConfig(max_missed_s=1.0))
    (tid,) = tracker.update(np.array([box(0)]), 0.0)
    tracker.update(np.zeros((0, 4)), 0.5)
    assert tid in tracker.tracks  # a missed detection or two does not end a track
    tracker.update(np.zeros((0, 4)), 1.6)
    assert tid not in tracker.tracks
    (again,) = tracker.update(np.array([box(0)]), 1.7)
    assert again != tid


def test_one_detection_continues_one_track_only():
    tracker = Tracker()
    (tid,) = tracker.update(np.array([box(0)]), 0.0)
    ids = tracker.update(np.array([box(2), box(4)]), 0.04)  # two overlapping detections
    assert ids.count(tid) == 1 and len(set(ids)) == 2


def test_mask_state_is_smoothed():
    tracker = Tracker()
    (tid,) = tracker.update(np.array([box(0)]), 0.0, np.array([0.9]))
    assert tracker.tracks[tid].masked
    tracker.update(np.array([box(0)]), 0.04, np.array([0.1]))  # one low score does not flip it
    assert tracker.tracks[tid].masked
    for k in range(5):
        tracker.update(np.array([box(0)]), 0.08 + 0.04 * k, np.array([0.1]))
    assert not tracker.tracks[tid].masked


# -- voting --------------------------------------------------------------------------------


def test_a_name_needs_two_agreeing_votes_or_one_clear_one():
    assert vote_identity([vote(A)], CFG).pending
    named = vote_identity([vote(A), vote(A, 0.7)], CFG)
    assert named.known and named.name == "Alice" and named.settled
    assert named.score == pytest.approx(0.65)
    clear = vote_identity([vote(A, score=0.5 + CFG.confident_margin + 0.01)], CFG)
    assert clear.known and clear.agreeing == 1


def test_one_stray_vote_does_not_flip_a_name():
    ident = vote_identity([vote(A), vote(A)], CFG)
    for v in (vote(B), vote(A), vote(None)):
        ident = vote_identity([vote(A), vote(A), v], CFG, ident)
        assert ident.person_id == A


def test_a_shown_name_survives_bad_frames_until_the_window_is_full_of_them():
    ident = vote_identity([vote(A), vote(A)], CFG)
    votes = [vote(A), vote(A)] + [vote(None, 0.3)] * 3
    ident = vote_identity(votes, CFG, ident)
    assert ident.person_id == A  # a turned head is the same person
    ident = vote_identity([vote(None, 0.3)] * CFG.window, CFG, ident)
    assert ident.settled and not ident.known  # the track was someone else after all


def test_a_name_flips_only_when_another_person_has_more_votes():
    shown = vote_identity([vote(A), vote(A)], CFG)
    tie = vote_identity([vote(A), vote(A), vote(B), vote(B)], CFG, shown)
    assert tie.person_id == A
    assert vote_identity([vote(A), vote(B), vote(B)], CFG, shown).person_id == B


def test_unknown_needs_several_votes_and_one_known_vote_does_not_name_an_unknown():
    assert vote_identity([vote(None, 0.2)] * 2, CFG).pending
    unknown = vote_identity([vote(None, 0.2)] * 3, CFG)
    assert unknown.settled and not unknown.known
    still = vote_identity([vote(None, 0.2)] * 3 + [vote(A, 0.55)], CFG, unknown)
    assert still.settled and not still.known
    named = vote_identity([vote(None, 0.2)] * 3 + [vote(A, 0.55), vote(A, 0.56)], CFG, still)
    assert named.person_id == A  # e.g. the mask came off


def test_one_confident_vote_does_not_rename_a_track_that_already_has_a_name():
    """Alice was shown; her votes aged out. Four "unknown" looks and one clear look at Bob must
    not name Bob at once: a shown name changes only on agreeing votes (a clear first look names
    only a track that has no name yet)."""
    shown = vote_identity([vote(A), vote(A)], CFG)
    clear_bob = vote(B, score=0.5 + CFG.confident_margin + 0.05)
    votes = [vote(None, 0.2)] * (CFG.window - 1) + [clear_bob]
    ident = vote_identity(votes, CFG, shown)
    assert ident.person_id != B
    assert ident.settled and not ident.known  # the window is full of unknown looks
    # The same clear look names Bob when nobody was shown yet.
    assert vote_identity([clear_bob], CFG).person_id == B


# -- recognition schedule and arrivals ------------------------------------------------------


def settle(tracker, tid, pid, t, n=2, quality=0.5):
    arrivals = []
    for k in range(n):
        a = tracker.add_recognition(tid, vote(pid), quality, t, frame_id=k)
        if a:
            arrivals.append(a)
    return arrivals


def test_recognise_new_tracks_then_only_when_needed():
    tracker = Tracker(TrackerConfig(recheck_s=1.0, better_quality=0.15))
    (tid,) = tracker.update(np.array([box(0)]), 0.0)
    assert tracker.needs_recognition(tid, 0.5, 0.0)  # new track
    tracker.add_recognition(tid, vote(A), 0.5, 0.0)
    assert tracker.needs_recognition(tid, 0.5, 0.04)  # not settled: look again
    tracker.add_recognition(tid, vote(A), 0.5, 0.04)
    assert not tracker.needs_recognition(tid, 0.5, 0.08)  # settled
    assert not tracker.needs_recognition(tid, 0.6, 0.5)  # slightly better view: not worth it
    assert tracker.needs_recognition(tid, 0.7, 0.5)  # clearly better view
    assert tracker.needs_recognition(tid, 0.5, 1.05)  # recheck period


def test_a_contested_track_is_rechecked_sooner_but_not_every_frame():
    cfg = TrackerConfig(recheck_s=1.0, contested_recheck_s=0.25)
    tracker = Tracker(cfg)
    (tid,) = tracker.update(np.array([box(0)]), 0.0)
    settle(tracker, tid, A, 0.0)
    tracker.add_recognition(tid, vote(None, 0.3), 0.5, 1.0)
    assert not tracker.needs_recognition(tid, 0.5, 1.1)
    assert tracker.needs_recognition(tid, 0.5, 1.3)


def test_exactly_one_arrival_per_track():
    tracker = Tracker()
    (tid,) = tracker.update(np.array([box(0)]), 10.0)
    arrivals = settle(tracker, tid, A, 10.2, n=5)
    assert len(arrivals) == 1
    arrival = arrivals[0]
    assert arrival.known and arrival.name == "Alice" and arrival.track_id == tid
    assert arrival.first_seen == 10.0 and arrival.frame_id == 1
    tracker.forget_identities()  # e.g. the gallery changed
    assert settle(tracker, tid, A, 11.0, n=3) == []
    assert tracker.identity(tid).person_id == A
    (other,) = tracker.update(np.array([box(400)]), 11.1)
    unknown = settle(tracker, other, None, 11.1, n=4)
    assert len(unknown) == 1 and not unknown[0].known


def test_config_is_checked():
    with pytest.raises(ValueError):
        TrackerConfig(window=2, min_agree=3)
    with pytest.raises(ValueError):
        TrackerConfig(iou_match=0)


def test_a_near_miss_with_a_mask_is_passed_on_until_someone_is_named():
    near = Verdict(None, None, 0.40, 0.45, masked=True, candidate_id=A, unmask_below=0.35)
    pending = vote_identity([near], CFG)
    assert pending.pending and pending.ask_to_unmask
    unknown = vote_identity([near] * 3, CFG)
    assert unknown.settled and not unknown.known and unknown.ask_to_unmask
    later = vote_identity([near] * 3 + [vote(None, 0.2)], CFG, unknown)
    assert not later.ask_to_unmask  # the latest look was a plain stranger
    named = vote_identity([near, vote(A), vote(A)], CFG)
    assert named.known and not named.ask_to_unmask


def test_a_track_fuses_its_best_frames_and_starts_again_when_the_mask_comes_off():
    tracker = Tracker(TrackerConfig(fuse_frames=3))
    (tid,) = tracker.update(np.array([box(0)]), 0.0)
    e = np.eye(4, dtype=np.float32)
    v, n = tracker.fuse(tid, e[0], 0.9, masked=True)
    assert n == 1 and v == pytest.approx(e[0])
    tracker.fuse(tid, e[1], 0.3, masked=True)
    tracker.fuse(tid, e[2], 0.6, masked=True)
    v, n = tracker.fuse(tid, e[3], 0.1, masked=True)  # the worst of four is left out
    assert n == 3 and v[3] == 0
    weights = np.array([0.9, 0.3, 0.6])
    assert v[:3] == pytest.approx(weights / np.linalg.norm(weights))
    v, n = tracker.fuse(tid, e[3], 0.5, masked=False)  # the mask came off: a bare face, alone
    assert n == 1 and v == pytest.approx(e[3])
    tracker.forget_identities()
    assert tracker.fuse(tid, e[0], 0.5, masked=False)[1] == 1


# -- exact identities (from surviving mutants): every field is read downstream ----------------


def test_a_shown_name_kept_through_unknown_votes_keeps_its_name_score_and_counts():
    from kiosk.recognition.tracking import Identity

    named = vote_identity([vote(A, 0.6), vote(A, 0.7)], CFG)
    assert named == Identity(A, "Alice", pytest.approx(0.65), True, 2, 2)
    # Two unknown looks later the window still holds one of hers: the name stays, as it was shown.
    kept = vote_identity([vote(A, 0.7), vote(None, 0.2), vote(None, 0.25)], CFG, named)
    assert kept == Identity(A, "Alice", pytest.approx(0.65), True, 1, 3)


def test_confidence_is_inclusive_at_the_margin_and_the_most_voted_person_leads():
    from kiosk.recognition.tracking import Identity

    at_margin = Verdict(A, "Alice", 0.5 + CFG.confident_margin, 0.5)
    assert vote_identity([at_margin], CFG).person_id == A  # exactly confident_margin above: named
    # Bob has more votes than Alice (though Alice's id is smaller and her vote is the latest).
    votes = [vote(B, 0.6), vote(B, 0.6), vote(B, 0.6), vote(A, 0.6)]
    assert vote_identity(votes, CFG) == Identity(B, "Bob", pytest.approx(0.6), True, 3, 4)


def test_unknown_needs_more_unknown_votes_than_known_ones():
    # Alice 3, Bob 2 (contested: nobody is named) and 3 unknown looks: as many unknown votes as
    # Alice's is not yet "an unknown visitor".
    cfg = TrackerConfig(window=8)
    votes = [vote(A), vote(None, 0.2), vote(B), vote(A), vote(None, 0.2), vote(B), vote(A), vote(None, 0.2)]
    ident = vote_identity(votes, cfg)
    assert not ident.settled and ident.person_id is None
    assert vote_identity([*votes[1:], vote(None, 0.2)], cfg).settled  # one more unknown look: now it is


@pytest.mark.parametrize("field, value", [("iou_match", 1.0), ("min_agree", 1), ("unknown_after", 1),
                                          ("fuse_frames", 1)])
def test_config_accepts_its_boundaries(field, value):
    TrackerConfig(**{field: value})  # the smallest (or largest) allowed value is allowed


@pytest.mark.parametrize("kwargs, message", [
    ({"iou_match": 0.0}, "iou_match must be in (0, 1]"), ({"iou_match": 1.5}, "iou_match must be in (0, 1]"),
    ({"window": 2}, "window must hold min_agree and unknown_after votes"),
    ({"min_agree": 0}, "min_agree and unknown_after must be at least 1"),
    ({"unknown_after": 0}, "min_agree and unknown_after must be at least 1"),
    ({"fuse_frames": 0}, "fuse_frames must be at least 1"),
])
def test_config_refusals_name_the_rule(kwargs, message):
    with pytest.raises(ValueError) as err:
        TrackerConfig(**kwargs)
    assert str(err.value) == message
