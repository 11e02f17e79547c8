"""The kiosk's screen state machine, driven by hand with a fake clock (no Qt, no models)."""

from __future__ import annotations

import pytest

from kiosk.checkin.flow import FlowTiming, KioskFlow, Screen, Sighting, greeting_for, texts_for
from kiosk.config import KioskConfig


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


class Visits:
    """Records what the flow asks to log; the cooldown is the check-in log's job, not the flow's."""

    def __init__(self) -> None:
        self.checkins: list[tuple[int, float | None, bool]] = []
        self.unknowns: list[tuple[object, bool]] = []

    def checkin(self, person_id, score, masked):
        self.checkins.append((person_id, score, masked))
        return object()

    def unknown(self, track_id, score, masked):
        self.unknowns.append((track_id, masked))
        return object()


def alice(track=1, score=0.7, masked=False, size=0.3, uncertain=False):
    return Sighting(track, 5, "Alice", score, masked, uncertain=uncertain, size=size)


def stranger(track=2, score=0.2, masked=False, size=0.3, uncertain=False):
    return Sighting(track, None, None, score, masked, uncertain=uncertain, size=size)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def visits():
    return Visits()


@pytest.fixture
def flow(clock, visits):
    return KioskFlow(visits, FlowTiming(greeting_s=4, lower_mask_s=8, idle_s=1.5,
                                        unavailable_after_s=1, confirm_frames=2, unknown_frames=4),
                     clock=clock)


def frames(flow, clock, faces, n, dt=0.1):
    for _ in range(n):
        clock.advance(dt)
        state = flow.observe(faces)
    return state


def test_starts_on_attract_and_approaches_on_a_face(flow, clock):
    assert flow.state.screen is Screen.ATTRACT
    assert flow.observe([stranger()]).screen is Screen.APPROACHING


def test_known_person_greeted_after_confirmation(flow, clock, visits):
    assert flow.observe([alice(score=0.62)]).screen is Screen.APPROACHING  # one frame is not enough
    clock.advance(0.1)
    state = flow.observe([alice(score=0.71)])
    assert state.screen is Screen.GREETING
    assert (state.name, state.person_id, state.recorded) == ("Alice", 5, True)
    assert visits.checkins == [(5, 0.71, False)]  # the best score of the track is logged


def test_greeting_stays_for_greeting_s_then_returns(flow, clock, visits):
    frames(flow, clock, [alice()], 2)
    since = flow.state.since
    # Still in front of the camera: the greeting is not repeated, nor cut short.
    state = frames(flow, clock, [alice()], 35)
    assert state.screen is Screen.GREETING and clock.t - since < 4
    # Afterwards the idle screen, not "please look at the camera" at someone just welcomed.
    state = frames(flow, clock, [alice()], 10)
    assert state.screen is Screen.ATTRACT
    assert len(visits.checkins) == 1
    # Someone new steps up behind her: the camera for them.
    assert frames(flow, clock, [alice(), stranger(track=2, size=0.1)], 1).screen is Screen.APPROACHING


def test_card_ends_on_the_camera_when_someone_still_waits(flow, clock):
    both = [alice(track=1, size=0.5), stranger(track=2, size=0.1)]
    assert frames(flow, clock, both[:1], 2).screen is Screen.GREETING
    assert frames(flow, clock, both, 38).screen is Screen.GREETING  # 3.8 s: decisions wait
    clock.advance(0.3)
    # A tick between frames: the card is over and the stranger (not handled yet) was just seen.
    assert flow.tick().screen is Screen.APPROACHING
    assert frames(flow, clock, both, 1).screen is Screen.UNKNOWN


def test_greeting_ends_on_tick_when_nobody_is_there(flow, clock):
    frames(flow, clock, [alice()], 2)
    clock.advance(3.9)
    assert flow.tick().screen is Screen.GREETING
    clock.advance(0.2)
    assert flow.tick().screen is Screen.ATTRACT


def test_a_new_track_of_the_same_person_is_greeted_again(flow, clock, visits):
    frames(flow, clock, [alice(track=1)], 2)
    clock.advance(10)
    flow.tick()
    assert flow.state.screen is Screen.ATTRACT
    assert frames(flow, clock, [alice(track=3)], 2).screen is Screen.GREETING
    # The flow asks again; the check-in log's cooldown decides whether it is a new visit.
    assert [c[0] for c in visits.checkins] == [5, 5]


def test_unknown_unmasked_face_sends_to_receptionist_once(flow, clock, visits):
    assert frames(flow, clock, [stranger()], 3).screen is Screen.APPROACHING
    state = frames(flow, clock, [stranger()], 1)
    assert state.screen is Screen.UNKNOWN
    assert state.name is None and state.person_id is None
    frames(flow, clock, [stranger()], 60)  # lingers for 6 s
    assert flow.state.screen is Screen.ATTRACT
    assert visits.unknowns == [(2, False)]


def test_uncertain_masked_match_asks_to_lower_mask_then_greets(flow, clock, visits):
    state = frames(flow, clock, [alice(masked=True, uncertain=True, score=0.44)], 2)
    assert state.screen is Screen.LOWER_MASK
    assert state.name is None and state.person_id is None  # never a guessed name on screen
    assert visits.checkins == []
    state = frames(flow, clock, [alice(masked=False, score=0.8)], 2)
    assert state.screen is Screen.GREETING and state.name == "Alice"
    assert visits.checkins == [(5, 0.8, False)]


def test_masked_stranger_asked_to_lower_mask_then_unknown_when_still_unknown(flow, clock, visits):
    state = frames(flow, clock, [stranger(masked=True)], 4)
    assert state.screen is Screen.LOWER_MASK
    # The bare face gets unmasked_grace_s (3 s) to be recognised, even when frames say "unknown".
    frames(flow, clock, [stranger(masked=False)], 30)
    assert flow.state.screen is Screen.LOWER_MASK
    state = frames(flow, clock, [stranger(masked=False)], 1)
    assert state.screen is Screen.UNKNOWN
    assert visits.unknowns == [(2, False)]


def test_lower_mask_times_out_to_unknown(flow, clock, visits):
    frames(flow, clock, [stranger(masked=True, uncertain=True)], 2)
    assert flow.state.screen is Screen.LOWER_MASK
    state = frames(flow, clock, [stranger(masked=True, uncertain=True)], 79)  # 7.9 s
    assert state.screen is Screen.LOWER_MASK
    state = frames(flow, clock, [stranger(masked=True, uncertain=True)], 2)
    assert state.screen is Screen.UNKNOWN and state.masked
    assert visits.unknowns == [(2, True)]


def test_lower_mask_visitor_who_walks_away_is_not_logged(flow, clock, visits):
    frames(flow, clock, [stranger(masked=True, uncertain=True)], 2)
    clock.advance(2)
    assert flow.tick().screen is Screen.ATTRACT
    assert visits.unknowns == [] and visits.checkins == []


def test_two_people_competing_for_one_track_are_not_greeted(flow, clock, visits):
    bob = Sighting(1, 6, "Bob", 0.6, False, size=0.3)
    for face in (alice(), bob, alice(), bob):
        clock.advance(0.1)
        flow.observe([face])
    assert flow.state.screen is not Screen.GREETING
    assert visits.checkins == []


def test_nearest_waiting_visitor_goes_first(flow, clock, visits):
    frames(flow, clock, [alice(track=1, size=0.5)], 2)
    assert flow.state.name == "Alice"
    clock.advance(5)
    # Alice (greeted, nearer) lingers; the smaller stranger behind her is handled.
    frames(flow, clock, [alice(track=1, size=0.5), stranger(track=2, size=0.2)], 4)
    assert flow.state.screen is Screen.UNKNOWN
    assert visits.unknowns == [(2, False)]


def test_source_lost_shows_unavailable_after_a_grace_period_and_recovers(flow, clock):
    frames(flow, clock, [alice()], 2)
    assert flow.source_lost("camera 0 stopped").screen is Screen.GREETING
    clock.advance(0.5)
    assert flow.tick().screen is Screen.GREETING  # short glitches are not shown
    clock.advance(0.5)
    state = flow.tick()
    assert state.screen is Screen.UNAVAILABLE and state.message == "camera 0 stopped"
    clock.advance(30)
    assert flow.tick().screen is Screen.UNAVAILABLE
    assert flow.source_ok().screen is Screen.ATTRACT
    assert flow.observe([stranger(track=9)]).screen is Screen.APPROACHING


def test_a_frame_after_a_loss_means_the_camera_is_back(flow, clock):
    flow.source_lost("x")
    clock.advance(2)
    assert flow.tick().screen is Screen.UNAVAILABLE
    assert flow.observe([]).screen is Screen.ATTRACT
    assert not flow.source_down


def test_listeners_get_each_change_once(flow, clock):
    seen = []
    flow.subscribe(lambda s: seen.append(s.screen))
    frames(flow, clock, [stranger()], 2)
    frames(flow, clock, [alice(track=4)], 2)
    assert seen == [Screen.APPROACHING, Screen.GREETING]


def test_a_failing_listener_does_not_stop_the_flow(flow, clock):
    flow.subscribe(lambda s: 1 / 0)
    assert frames(flow, clock, [alice()], 2).screen is Screen.GREETING


def test_track_memory_is_bounded(flow, clock):
    for track in range(500):
        clock.advance(0.1)
        flow.observe([stranger(track=track)])
    assert len(flow._tracks) <= 64


def test_texts_follow_language_and_overrides():
    de = texts_for(KioskConfig(language="de"))
    assert de.greeting == "Willkommen, {name}!" and "Empfang" in de.unknown
    own = texts_for(KioskConfig(language="de", greeting_text="Hallo {name}"))
    assert own.greeting == "Hallo {name}" and own.attract == de.attract
    assert greeting_for("Hi {name}, {0} {x}", "{0}") == "Hi {0}, {0} {x}"  # names are not formats


def test_tracker_voted_identities(clock, visits):
    from kiosk.checkin.flow import TRACKER_VOTED

    flow = KioskFlow(visits, FlowTiming(**TRACKER_VOTED), clock=clock)
    pending = Sighting(1, None, None, -1.0, False, size=0.3, pending=True)
    assert frames(flow, clock, [pending], 20).screen is Screen.APPROACHING  # voting: no decision
    assert frames(flow, clock, [alice(track=1)], 1).screen is Screen.GREETING


def test_sightings_from_a_live_result():
    from types import SimpleNamespace as NS

    import numpy as np

    from kiosk.checkin.flow import sightings_from_result

    def face(tid, pid, name, settled, x1, x2, masked=False):
        ident = NS(person_id=pid, name=name, score=0.6, settled=settled)
        return NS(track_id=tid, identity=ident, masked=masked, box=np.array([x1, 10, x2, 90.0]))

    result = NS(frame_size=(400, 300), faces=(face(1, 5, "Alice", True, 100, 200),
                                             face(2, None, None, False, 0, 40, masked=True)))
    a, b = sightings_from_result(result)
    assert (a.track_id, a.person_id, a.name, a.pending, a.size) == (1, 5, "Alice", False, 0.25)
    assert (b.person_id, b.pending, b.masked, b.uncertain) == (None, True, True, False)


def test_config_rejects_bad_kiosk_values():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        KioskConfig(language="xx")
    with pytest.raises(ValidationError):
        KioskConfig(background_colour="black")
    with pytest.raises(ValidationError):
        KioskConfig(greeting_s=0)
    assert FlowTiming.from_config(KioskConfig(greeting_s=6, lower_mask_s=10)).greeting_s == 6
