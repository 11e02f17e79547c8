"""Own-mask learning (issue 22, item 6): what is kept, where, how many, and when not.

The learner writes through the gallery API on both backends (SQLite and PostgreSQL, real
servers), audited like any added sample; the kiosk session hands it only tracks it greeted and
logged as the same person; end to end, a visitor who walks up masked and then lowers the mask
leaves one own-mask sample that the matcher then uses.
"""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.config import Config, MatchConfig
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from kiosk.recognition.learning import LEARNED_SOURCE, LearnCandidate, MaskedView, OwnMaskLearner
from kiosk.recognition.matching import FULL, MASKED_PHOTO, Matcher
from kiosk.recognition.verdict import Verdict

pytest_plugins = ["pg_fixtures"]

MODEL = "test@1"
ON = MatchConfig(use_masked_samples=True, learn_masked_samples=True, learned_masked_max=2)


def unit(seed: int, dim: int = 16) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def sample(seed: int, kind: str = FULL, source: str = "photo.jpg") -> NewSample:
    return NewSample(np.full((112, 112, 3), seed % 256, np.uint8), [NewTemplate(kind, unit(seed))], source=source,
                     masked=kind == MASKED_PHOTO)


def candidate(pid: int, seed: int, *, live: bool | None = None, track: int = 7) -> LearnCandidate:
    vote = Verdict(None, None, 0.45, 0.5, True, candidate_id=pid, unmask_below=0.4)
    views = tuple(MaskedView(q, unit(seed + k), np.full((112, 112, 3), seed + k, np.uint8),
                             np.full((256, 256, 3), seed + k, np.uint8), vote) for k, q in enumerate((0.8, 0.6)))
    return LearnCandidate(track, pid, views, live, MODEL)


def learned(gallery, pid: int):
    return [s for s in gallery.samples(pid, with_templates=True) if s.source.startswith(LEARNED_SOURCE)]


@pytest.fixture
def person(any_gallery):
    """Someone enrolled with two bare photos and one guided photo in their own mask."""
    pid = any_gallery.add_person(PersonDetails("Ada"), [sample(1), sample(2), sample(3, MASKED_PHOTO, "guided")],
                                 MODEL)
    return any_gallery, pid


def test_the_best_masked_frame_is_kept_as_an_audited_own_mask_sample(person):
    gallery, pid = person
    before = len(gallery.audit_records())
    outcome = OwnMaskLearner(gallery, ON, kiosk="door-1").learn(candidate(pid, 40))
    assert outcome.learned and outcome.replaced == ()
    (kept,) = learned(gallery, pid)
    assert kept.masked and kept.aligned[0, 0, 0] == 40 and kept.face_crop is not None  # the best view
    assert [(t.kind, t.model_version) for t in kept.templates] == [(MASKED_PHOTO, MODEL)]
    assert np.allclose(kept.templates[0].embedding, unit(40), atol=1e-6)
    assert kept.source == f"{LEARNED_SOURCE}: bare face"  # a label the gallery keeps as it is
    records = gallery.audit_records()[before:]
    assert [(r.action, r.subject, r.details) for r in records] == [("update", f"person {pid}", {"samples_added": 1})]
    assert gallery.verify_audit().ok


def test_learned_samples_are_capped_per_person_and_the_oldest_goes(person):
    gallery, pid = person
    photo = gallery.samples(pid)[0].source  # "photo.jpg" as the gallery keeps it (never the name)
    learner = OwnMaskLearner(gallery, ON)
    for seed in (40, 50):
        assert learner.learn(candidate(pid, seed)).learned
    first, second = learned(gallery, pid)
    outcome = learner.learn(candidate(pid, 60))
    assert outcome.learned and outcome.replaced == (first.id,)
    assert [s.aligned[0, 0, 0] for s in learned(gallery, pid)] == [50, 60]
    # The enrolment photos and the guided own-mask photo are not learned ones: all kept.
    assert [s.source for s in gallery.samples(pid) if not s.source.startswith(LEARNED_SOURCE)] == [
        photo, photo, "guided"]
    assert gallery.audit_records()[-1].details == {"samples_added": 1, "samples_replaced": [first.id]}


def test_a_replaced_id_of_someone_else_is_never_deleted(person):
    gallery, pid = person
    other = gallery.add_person(PersonDetails("Bob"), [sample(9)], MODEL)
    (theirs,) = gallery.samples(other)
    gallery.add_samples(pid, [sample(41, MASKED_PHOTO)], MODEL, replacing=[theirs.id])
    assert [s.id for s in gallery.samples(other)] == [theirs.id]


@pytest.mark.parametrize(("config", "live", "why"), [
    (ON, False, "the track failed liveness"),
    (ON.model_copy(update={"learn_masked_samples": False}), None, "learning is off"),
    (ON.model_copy(update={"use_masked_samples": False}), True, "learning is off"),
])
def test_nothing_is_learned_from_a_failed_liveness_or_while_learning_is_off(person, config, live, why):
    gallery, pid = person
    outcome = OwnMaskLearner(gallery, config).learn(candidate(pid, 40, live=live))
    assert not outcome.learned and outcome.reason == why
    assert learned(gallery, pid) == []


def test_a_person_removed_meanwhile_is_one_line_and_nothing_else(person, caplog):
    gallery, pid = person
    gallery.remove_person(pid)
    outcome = OwnMaskLearner(gallery, ON).learn(candidate(pid, 40))
    assert not outcome.learned and "no person" in outcome.reason


def test_the_matcher_meets_a_masked_visitor_at_their_learned_sample(tmp_path):
    from kiosk.gallery import Gallery

    with Gallery(tmp_path / "g.db") as gallery:
        pid = gallery.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
        gallery.add_person(PersonDetails("Bob"), [sample(2)], MODEL)
        probe = unit(40)  # their masked face, far from their bare template
        off = Matcher(gallery.templates(MODEL), ON).identify(probe[None], np.array([True]))[0]
        assert not off.known
        OwnMaskLearner(gallery, ON).learn(candidate(pid, 40))
        on = Matcher(gallery.templates(MODEL), ON).identify(probe[None], np.array([True]))[0]
        assert on.person_id == pid
        # ... and only with own-mask matching on: the sample alone changes nothing.
        plain = Matcher(gallery.templates(MODEL), MatchConfig()).identify(probe[None], np.array([True]))[0]
        assert not plain.known


# -- the kiosk session decides ------------------------------------------------------------------


class _Result:
    """What the session reads of a FrameResult here."""

    def __init__(self, t: float, confirmations=()) -> None:
        self.timestamp = t
        self.faces = ()
        self.confirmations = tuple(confirmations)


def _session(gallery, cooldown_s: int = 600):
    from kiosk.checkin.session import KioskSession
    from tests.conftest import ManualClock

    config = Config(match=ON, kiosk={"cooldown_s": cooldown_s})
    return KioskSession(gallery, config, flow_clock=ManualClock(0.0))


def _greet(session, track: int, pid: int | None, recorded: bool) -> None:
    from kiosk.checkin.flow import KioskState, Screen

    session._on_state(KioskState(Screen.GREETING, 0.0, track, pid, "Ada", True, 0.6, recorded))


def test_the_session_learns_only_from_a_track_it_greeted_and_logged_as_that_person(tmp_path):
    from kiosk.gallery import Gallery

    with Gallery(tmp_path / "g.db") as gallery:
        pid = gallery.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
        other = gallery.add_person(PersonDetails("Bob"), [sample(2)], MODEL)
        session = _session(gallery)
        assert session.learner is not None
        session.observe(_Result(0.0, [candidate(pid, 40, track=1)]))  # confirmed before the greeting
        assert learned(gallery, pid) == []
        _greet(session, 1, pid, recorded=True)
        session.observe(_Result(0.1))
        assert len(learned(gallery, pid)) == 1  # greeted on a later frame: learned then
        _greet(session, 2, pid, recorded=False)  # in cooldown: not a new visit
        session.observe(_Result(0.2, [candidate(pid, 50, track=2)]))
        _greet(session, 3, other, recorded=True)  # greeted as someone else
        session.observe(_Result(0.3, [candidate(pid, 60, track=3)]))
        assert len(learned(gallery, pid)) == 1 and learned(gallery, other) == []


# -- end to end: a masked visit, then the mask comes off ---------------------------------------------


def test_a_visitor_who_lowers_the_mask_leaves_one_own_mask_sample_used_next_time(tmp_path, pipeline, astronaut_rgb):
    from kiosk.capture.sources import Frame
    from kiosk.checkin.session import KioskSession
    from kiosk.diagnostics.arrivals import FPS, walk_up_frames
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face
    from kiosk.gallery import Gallery
    from kiosk.recognition.live import LiveRecognizer
    from kiosk.recognition.recognizer import Recognizer
    from kiosk.vision.synthetic_masks import MaskStyle, paint_mask
    from tests.conftest import ManualClock

    face = pipeline.analyze(astronaut_rgb)[0]
    masked = paint_mask(astronaut_rgb, face.landmarks, MaskStyle(), np.random.default_rng(0))
    config = Config(match=ON, liveness={"mode": "off"})  # a photo walking up: learning, not liveness
    with Gallery(tmp_path / "g.db") as gallery:
        pid = gallery.add_person(PersonDetails("Eileen Collins"),
                                 [make_sample(pipeline, pick_enrollment_face(pipeline.analyze(astronaut_rgb)))],
                                 pipeline.model_version)
        clock = ManualClock(0.0)
        live = LiveRecognizer(Recognizer(config, gallery, pipeline), clock=clock)
        session = KioskSession(gallery, config, flow_clock=clock)
        # The same walk (same seed), masked for 3 s, then bare at the desk for 3 s.
        walks = [walk_up_frames(img, np.random.default_rng(3), seconds=2.0) for img in (masked, astronaut_rgb)]
        for i in range(round(6 * FPS)):
            clock.t = i / FPS
            rgb = [next(w) for w in walks][i >= 3 * FPS]
            session.observe(live.process(Frame(i + 1, rgb, clock.t)))
        assert [(e.event, e.person_id) for e in session.events] == [("arrival", pid)]
        (kept,) = learned(gallery, pid)
        assert kept.masked and [t.kind for t in kept.templates] == [MASKED_PHOTO]
        # The kept frame is a masked one of this visit: it matches her masked face at her own-mask row.
        again = pipeline.analyze(masked)[0]
        matcher = Matcher(gallery.templates(pipeline.model_version), config.match)
        verdict = matcher.identify(again.embedding[None], np.array([True]))[0]
        assert verdict.person_id == pid
        assert verdict.threshold == pytest.approx(matcher._own_mask_thresholds(False)[0])
