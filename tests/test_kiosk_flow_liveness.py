"""What the kiosk does with the liveness check's decision (kiosk.checkin.liveness_gate, the flow and
the session), driven by hand: the tracker votes on hand-made looks (tests/test_kiosk_flow.py's
Scene) and each face carries the decision a test gives it. No models, no Qt."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from test_kiosk_flow import NAMES, Clock, Scene, Visits, alice, stranger

from kiosk.checkin.flow import FlowTiming, KioskFlow, Screen
from kiosk.checkin.liveness_gate import Gate, LivenessGate, liveness_wait_s
from kiosk.checkin.session import KioskSession
from kiosk.config import Config, EventsConfig, LivenessConfig
from kiosk.events.event import JSON_KEYS, KioskEvent
from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from kiosk.liveness import NOT_CHECKED, ChallengeKind, Cues, Liveness, LivenessDecision, Reason
from kiosk.recognition.live import FrameResult, Timings

UNSURE = LivenessDecision(Liveness.UNSURE, 0.5, Reason.NO_MOTION, Cues())
LIVE = LivenessDecision(Liveness.LIVE, 0.97, Reason.MOVES_LIKE_A_HEAD, Cues(planarity=1.2, passes=2, passive=0.9))
ATTACK = LivenessDecision(Liveness.ATTACK, 0.01, Reason.FLAT, Cues(planarity=0.02, passes=2, passive=0.4))
TURN = LivenessDecision(Liveness.UNSURE, 0.5, Reason.NO_MOTION, Cues(challenge="asking"), 3.0, ChallengeKind.TURN)
WAIT_S = 8.0


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def visits():
    return Visits()


@pytest.fixture
def flow(clock, visits):
    f = KioskFlow(visits, FlowTiming(greeting_s=4, lower_mask_s=8, idle_s=1.5, liveness_wait_s=WAIT_S), clock=clock)
    f.scene = Scene()
    return f


def frames(flow, clock, looks, n, decision, dt_s=0.1):
    """`n` frames of `looks`, every face with the liveness `decision`."""
    for _ in range(n):
        clock.advance(dt_s)
        faces = [dataclasses.replace(f, liveness=decision) for f in flow.scene.faces(looks, clock.t)]
        state = flow.observe(faces)
    return state


def test_a_face_judged_an_attack_gets_the_receptionist_card_and_nothing_is_logged(flow, clock, visits):
    state = frames(flow, clock, [alice(score=0.9)], 3, ATTACK)  # the picture matches Alice well
    assert state.screen is Screen.REFUSED and state.name is None and state.person_id is None
    assert visits.checkins == [] and visits.unknowns == []
    since = state.since
    assert frames(flow, clock, [alice(score=0.9)], 35, ATTACK).since == since  # the card is not cut short
    # After the card, the idle screen; the track is never greeted, logged or refused again.
    assert frames(flow, clock, [alice(score=0.9)], 40, LIVE).screen is Screen.ATTRACT
    assert visits.checkins == [] and visits.unknowns == []


def test_a_stranger_judged_an_attack_is_refused_not_logged_as_unknown(flow, clock, visits):
    assert frames(flow, clock, [stranger()], 5, ATTACK).screen is Screen.REFUSED
    assert visits.unknowns == []


def test_an_unsure_face_waits_unnamed_and_is_greeted_once_live(flow, clock, visits):
    state = frames(flow, clock, [alice()], 10, UNSURE)  # the votes settled on Alice long ago
    assert state.screen is Screen.APPROACHING and state.name is None and visits.checkins == []
    state = frames(flow, clock, [alice()], 1, LIVE)
    assert (state.screen, state.name, state.recorded) == (Screen.GREETING, "Alice", True)
    assert len(visits.checkins) == 1


def test_a_face_still_unsure_long_after_it_was_recognised_goes_to_the_receptionist(flow, clock, visits):
    frames(flow, clock, [alice()], 2, UNSURE)  # the identity settles here
    assert frames(flow, clock, [alice()], int(WAIT_S * 10) - 2, UNSURE).screen is Screen.APPROACHING
    state = frames(flow, clock, [alice()], 3, UNSURE)
    assert state.screen is Screen.UNKNOWN and state.name is None  # the card, as for a stranger
    assert visits.checkins == [] and [t for t, _ in visits.unknowns] == [1]  # an unknown visit, never as Alice


def test_the_active_challenge_is_shown_until_the_decision_changes(flow, clock, visits):
    state = frames(flow, clock, [alice()], 3, TURN)
    assert (state.screen, state.challenge, state.track_id, state.name) == (Screen.CHALLENGE, "turn", 1, None)
    since = state.since
    assert frames(flow, clock, [alice()], 10, TURN).since == since  # one prompt, not one per frame
    blink = dataclasses.replace(TURN, challenge=ChallengeKind.BLINK)
    assert frames(flow, clock, [alice()], 1, blink).challenge == "blink"
    assert frames(flow, clock, [alice()], 1, LIVE).screen is Screen.GREETING
    assert len(visits.checkins) == 1


def test_a_failed_challenge_is_refused(flow, clock, visits):
    frames(flow, clock, [alice()], 3, TURN)
    failed = LivenessDecision(Liveness.ATTACK, 0.0, Reason.CHALLENGE_FAILED, Cues(challenge="timed out"))
    assert frames(flow, clock, [alice()], 1, failed).screen is Screen.REFUSED
    assert visits.checkins == []


def test_with_the_check_off_every_face_counts_as_live(flow, clock, visits):
    assert frames(flow, clock, [alice()], 2, NOT_CHECKED).screen is Screen.GREETING


def test_the_gate_itself():
    gate = LivenessGate(wait_s=2.0)
    scene = Scene()
    face = scene.faces([alice()], 0.0)[0]
    assert gate.judge(0.0, dataclasses.replace(face, liveness=UNSURE)) is Gate.WAIT  # not settled: no clock yet
    settled = dataclasses.replace(scene.faces([alice()], 0.1)[0], liveness=UNSURE)

    def judged(start: float, end: float, face) -> list[Gate]:  # a frame every 0.1 s
        return [gate.judge(round(start + 0.1 * i, 1), face) for i in range(int(round((end - start) / 0.1)) + 1)]

    assert set(judged(1.0, 2.9, settled)) == {Gate.WAIT} and gate.judge(3.0, settled) is Gate.GIVE_UP
    # Only the time the kiosk faced that visitor counts: not while it faced someone else (their
    # greeting, their challenge), nor more than half a second for a gap without frames.
    other = dataclasses.replace(settled, track_id=9)
    assert set(judged(4.0, 5.0, other)) == {Gate.WAIT}  # 1 s faced
    assert set(judged(5.1, 6.0, dataclasses.replace(settled, track_id=10))) == {Gate.WAIT}
    assert gate.judge(6.1, other) is Gate.WAIT and gate.judge(30.0, other) is Gate.WAIT  # + 0 s, + 0.5 s
    assert judged(30.1, 30.5, other)[-2:] == [Gate.WAIT, Gate.GIVE_UP]  # ... and 0.5 s more: 2 s
    assert gate.judge(0.0, dataclasses.replace(face, liveness=TURN)) is Gate.ASK
    assert gate.judge(0.0, dataclasses.replace(face, liveness=ATTACK)) is Gate.REFUSE
    assert gate.judge(0.0, dataclasses.replace(face, liveness=NOT_CHECKED)) is Gate.PASS
    # Active mode waits at least until its challenge ran out.
    assert liveness_wait_s(LivenessConfig(mode="passive", unsure_wait_s=4)) == 4
    assert liveness_wait_s(LivenessConfig(mode="active", unsure_wait_s=4, challenge_after_s=3,
                                          challenge_timeout_s=6)) == 9.5


# -- the session: events, the receptionist's report, the live loop's focus ------------------------------------


NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone.utc)


def _sample(seed: int) -> NewSample:
    v = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    return NewSample(np.zeros((112, 112, 3), np.uint8), [NewTemplate("full", v / np.linalg.norm(v), 0.5)])


def _session(tmp_path, mode: str = "passive"):
    gallery = Gallery(tmp_path / "g.db", encrypt=False)
    alice_id = gallery.add_person(PersonDetails("Alice"), [_sample(1)], "test@1")
    config = Config(events=EventsConfig(site="hq", kiosk="lobby"), liveness=LivenessConfig(mode=mode))
    clock, events, attacks = Clock(), [], []
    session = KioskSession(gallery, config, publish=events.append, flow_clock=clock, wall_clock=lambda: NOON,
                           on_attack=attacks.append)
    return gallery, alice_id, session, clock, events, attacks


def _feed(session, scene, clock, looks, n, decision):
    for _ in range(n):
        clock.advance(0.1)
        faces = tuple(dataclasses.replace(f, liveness=decision) for f in scene.faces(looks, clock.t))
        session.observe(FrameResult(1, clock.t, (640, 480), faces, (), Timings(), 1, 1, "test@1"))


def test_an_attack_is_one_event_to_every_target_and_the_staff_hear_who_it_looked_like(tmp_path, monkeypatch):
    gallery, alice_id, session, clock, events, attacks = _session(tmp_path)
    scene = Scene()
    looks = [dataclasses.replace(alice(score=0.9), person_id=alice_id)]
    monkeypatch.setitem(NAMES, alice_id, "Alice")
    _feed(session, scene, clock, looks, 30, ATTACK)
    assert session.flow.state.screen is Screen.REFUSED
    (event,) = events  # one per track, however long it stays
    data = event.to_dict()
    assert tuple(data) == JSON_KEYS
    assert (data["event"], data["person"], data["person_id"], data["logged"], data["kiosk"], data["track"]) == (
        "presentation_attack", None, None, False, "lobby", 1)
    assert data["score"] == 0.9 and data["liveness"] == ATTACK.as_dict()
    assert KioskEvent.from_json(event.to_json()).to_dict() == data
    (attack,) = attacks  # the receptionist view's report names whom the picture matched
    assert (attack.track_id, attack.person_id, attack.name) == (1, alice_id, "Alice")
    assert "flat like a photo" in attack.describe() and "Alice" in attack.describe()
    assert gallery.visits() == []  # never logged as her (nor as a stranger)
    gallery.close()


def test_arrival_events_carry_the_checks_word_and_null_when_it_is_off(tmp_path, monkeypatch):
    for mode, decision, expected in (("passive", LIVE, LIVE.as_dict()), ("off", NOT_CHECKED, None)):
        (tmp_path / mode).mkdir()
        gallery, alice_id, session, clock, events, attacks = _session(tmp_path / mode, mode)
        monkeypatch.setitem(NAMES, alice_id, "Alice")
        _feed(session, Scene(), clock, [dataclasses.replace(alice(), person_id=alice_id)], 3, decision)
        (event,) = events
        assert (event.event, event.person, event.liveness) == ("arrival", "Alice", expected)
        assert attacks == []
        gallery.close()


def test_the_live_loop_may_ask_only_the_visitor_the_screen_faces(tmp_path):
    gallery, alice_id, session, clock, events, _ = _session(tmp_path, "active")
    scene = Scene()
    assert session.liveness_focus is None  # nobody in view
    _feed(session, scene, clock, [stranger(track=2, size=0.4), stranger(track=3, size=0.2)], 1, UNSURE)
    assert session.flow.state.screen is Screen.APPROACHING and session.liveness_focus == 2  # the nearest
    _feed(session, scene, clock, [stranger(track=2, size=0.4), stranger(track=3, size=0.2)], 1, TURN)
    assert session.flow.state.screen is Screen.CHALLENGE and session.liveness_focus == 2
    _feed(session, scene, clock, [stranger(track=2, size=0.4), stranger(track=3, size=0.2)], 1, ATTACK)
    assert session.flow.state.screen is Screen.REFUSED and session.liveness_focus is None  # the card: ask nobody
    gallery.close()
