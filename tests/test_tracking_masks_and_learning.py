"""The tracker when the mask comes off (issue 21, row 10) and what a track may teach (issue 22, item 6).

- A track called "unknown" in a mask is decided afresh from its first bare look, and matched on
  every frame until its bare probe holds `fuse_frames` views: a visitor who lowers the mask when
  asked is named within a few frames, never left on masked votes.
- `learn_candidate` / `confirmation`: only a track that kept one identity, confirmed on the bare
  face, with masked frames that pointed to the same person; liveness passed through as is.
"""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.recognition.tracking import Tracker, TrackerConfig
from kiosk.recognition.verdict import Verdict
from kiosk.vision.types import FaceAnalysis, Quality

A, B = 1, 2
CFG = TrackerConfig()


def vote(pid, *, masked=False, score=0.6, candidate=None, band=1.0):
    """A verdict: accepted for `pid`, or (pid None) a miss whose best candidate is `candidate`."""
    return Verdict(pid, {A: "Alice", B: "Bob"}.get(pid), score, 0.5, masked,
                   candidate_id=pid if candidate is None else candidate, unmask_below=band if masked else 1.0)


def near_miss(candidate=A):
    """A masked look just short of the person: asked to lower the mask."""
    return vote(None, masked=True, score=0.45, candidate=candidate, band=0.4)


def face(seed: int, masked: bool = True) -> FaceAnalysis:
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=8).astype(np.float32)
    return FaceAnalysis(np.array([0, 0, 60, 60], np.float32), 0.9, np.zeros((5, 2), np.float32),
                        np.full((112, 112, 3), seed, np.uint8), masked, 0.9 if masked else 0.1,
                        emb / np.linalg.norm(emb), Quality(60, 100, 120, 0, 0),
                        face_crop=np.full((256, 256, 3), seed, np.uint8))


def track(masked: bool = True, config: TrackerConfig = CFG) -> tuple[Tracker, int]:
    tracker = Tracker(config)
    (tid,) = tracker.update(np.array([[0, 0, 60, 60]]), 0.0, np.array([0.9 if masked else 0.1]))
    return tracker, tid


def take_off_mask(tracker: Tracker, tid: int, t: float) -> None:
    for k in range(3):  # the smoothed mask score needs a few bare frames to cross the threshold
        tracker.update(np.array([[0, 0, 60, 60]]), t + 0.01 * k, np.array([0.0]))
    assert not tracker.tracks[tid].masked


# -- the mask comes off ---------------------------------------------------------------------------


def test_the_first_bare_look_of_a_masked_unknown_track_decides_it_afresh():
    tracker, tid = track()
    for k in range(3):
        tracker.add_recognition(tid, near_miss(), 0.5, 0.1 * k)
    settled = tracker.identity(tid)
    assert settled.settled and not settled.known and settled.ask_to_unmask
    epoch = tracker.tracks[tid].epoch
    take_off_mask(tracker, tid, 1.0)
    tracker.add_recognition(tid, vote(A, score=0.55), 0.5, 1.1)
    # Not "unknown" any more: the masked votes said nothing about this face.
    assert tracker.identity(tid).pending and tracker.tracks[tid].epoch == epoch + 1
    assert [v.masked for v in tracker.tracks[tid].votes] == [False]
    tracker.add_recognition(tid, vote(A, score=0.55), 0.5, 1.2)
    assert tracker.identity(tid).person_id == A


def test_a_mask_flag_flickering_does_not_keep_a_track_undecided():
    tracker, tid = track()
    for k in range(3):
        tracker.add_recognition(tid, vote(None, masked=True, score=0.1), 0.5, 0.1 * k)
    epoch = tracker.tracks[tid].epoch
    looks = [False, True, False, True, False]  # a background face whose mask flag flips each look
    for k, masked in enumerate(looks):
        tracker.add_recognition(tid, vote(None, masked=masked, score=0.1), 0.5, 1 + 0.1 * k)
    assert tracker.tracks[tid].epoch == epoch + 1  # decided afresh once, from the first bare look
    ident = tracker.identity(tid)
    assert ident.settled and not ident.known


def test_a_name_shown_in_a_mask_stays_when_the_mask_comes_off():
    tracker, tid = track()
    for k in range(2):
        tracker.add_recognition(tid, vote(A, masked=True), 0.5, 0.1 * k)
    epoch = tracker.tracks[tid].epoch
    take_off_mask(tracker, tid, 1.0)
    tracker.add_recognition(tid, vote(None, score=0.2), 0.5, 1.1)
    assert tracker.identity(tid).person_id == A and tracker.tracks[tid].epoch == epoch


def test_a_track_whose_mask_came_off_is_matched_every_frame_until_its_bare_probe_is_full():
    tracker, tid = track(config=TrackerConfig(recheck_s=1.0, fuse_frames=3))
    for k in range(3):
        tracker.add_recognition(tid, vote(A, masked=True), 0.5, 0.1 * k)
    assert not tracker.needs_recognition(tid, 0.5, 0.3)  # settled: the next look in recheck_s
    take_off_mask(tracker, tid, 0.4)
    assert tracker.needs_recognition(tid, 0.5, 0.45)  # the mask came off: look now
    for k in range(3):
        assert tracker.needs_recognition(tid, 0.5, 0.5 + 0.1 * k)
        tracker.add_recognition(tid, vote(A), 0.5, 0.5 + 0.1 * k)
    assert not tracker.needs_recognition(tid, 0.5, 0.85)  # three bare views: back to recheck_s


# -- what a track may teach -----------------------------------------------------------------------


def confirmed_bare(views=None) -> tuple[Tracker, int]:
    """A masked visitor seen on `views` (seed, vote; default two near misses of A), who then
    lowered the mask."""
    views = views or ((1, near_miss()), (2, near_miss()))
    tracker, tid = track()
    for k, (seed, v) in enumerate(views):
        tracker.add_recognition(tid, v, 0.3 + 0.1 * seed, 0.1 * k)
        tracker.keep_view(tid, face(seed), 0.3 + 0.1 * seed, v)
    take_off_mask(tracker, tid, 1.0)
    return tracker, tid


def name_bare(tracker: Tracker, tid: int, n: int = 2, pid: int = A) -> None:
    for k in range(n):
        tracker.add_recognition(tid, vote(pid), 0.5, 1.1 + 0.1 * k)


def test_a_track_confirmed_bare_offers_its_best_masked_frames_once():
    tracker, tid = confirmed_bare(((1, near_miss()), (3, near_miss()), (2, vote(A, masked=True))))
    name_bare(tracker, tid, 1)
    assert tracker.confirmation(tid) is None  # one bare vote is not a confirmation
    name_bare(tracker, tid, 1)
    candidate = tracker.confirmation(tid)
    assert candidate is not None and candidate.person_id == A and candidate.track_id == tid
    assert [v.quality for v in candidate.views] == pytest.approx([0.6, 0.5, 0.4])  # best first
    assert candidate.best is candidate.views[0] and candidate.best.aligned[0, 0, 0] == 3
    assert candidate.live is None and candidate.confirmed_by == "bare face"
    assert tracker.confirmation(tid) is None  # offered once per track


def test_only_the_best_learn_views_masked_frames_are_kept():
    tracker, tid = track(config=TrackerConfig(learn_views=2))
    for seed in (1, 5, 3):
        tracker.keep_view(tid, face(seed), seed / 10, near_miss())
    tracker.keep_view(tid, face(9, masked=False), 0.9, vote(A))  # a bare frame is not a masked view
    assert [v.quality for v in tracker.tracks[tid].views] == [0.5, 0.3]


def test_masked_frames_that_pointed_to_someone_else_or_far_below_teach_nothing():
    far_below = vote(None, masked=True, score=0.1, candidate=A, band=0.4)  # a stranger-like score
    tracker, tid = confirmed_bare(((1, near_miss(candidate=B)), (2, far_below)))
    name_bare(tracker, tid)
    assert tracker.learn_candidate(tid) is None
    assert tracker.confirmation(tid) is None


def test_a_track_that_ever_named_someone_else_teaches_nothing():
    tracker, tid = confirmed_bare(((1, near_miss()), (2, vote(B, masked=True))))
    name_bare(tracker, tid, 4)
    assert tracker.identity(tid).person_id == A
    assert tracker.learn_candidate(tid) is None
    assert tracker.learn_candidate(tid, A, confirmed_by="receptionist") is None  # nor when confirmed by hand


def test_liveness_travels_with_the_candidate():
    tracker, tid = confirmed_bare()
    tracker.tracks[tid].live = False  # the liveness check failed this track
    name_bare(tracker, tid)
    candidate = tracker.confirmation(tid)
    assert candidate is not None and candidate.live is False  # the learner refuses it (test_own_mask_learning)


def test_a_receptionist_confirmation_needs_no_bare_votes_but_one_identity():
    tracker, tid = track()
    looks = ((1, vote(None, masked=True, score=0.1, candidate=B, band=0.4)), (2, near_miss(candidate=B)))
    for k, (seed, v) in enumerate(looks):
        tracker.add_recognition(tid, v, 0.5, 0.1 * k)
        tracker.keep_view(tid, face(seed), 0.5, v)
    assert tracker.learn_candidate(tid, A) is None  # no bare votes: not confirmed on the face
    by_hand = tracker.learn_candidate(tid, A, confirmed_by="receptionist")
    assert by_hand is not None and by_hand.person_id == A and len(by_hand.views) == 2
    assert by_hand.confirmed_by == "receptionist"
