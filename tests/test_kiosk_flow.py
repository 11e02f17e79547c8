"""The kiosk's screen state machine, driven by hand with a fake clock (no Qt, no models)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from kiosk.checkin.flow import FlowTiming, KioskFlow, Screen
from kiosk.checkin.texts import greeting_for, texts_for
from kiosk.config import KioskConfig
from kiosk.recognition.live import TrackedFace
from kiosk.recognition.tracking import Tracker
from kiosk.recognition.verdict import Verdict
from kiosk.vision.types import FaceAnalysis, Quality


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


A, BOB = 5, 6
NAMES = {A: "Alice", BOB: "Bob"}


@dataclass(frozen=True)
class Look:
    """What the matcher said about one face on one frame (the tracker votes over these)."""

    track: int
    person_id: int | None
    score: float
    masked: bool
    size: float
    uncertain: bool = False  # masked and just short of the threshold (ask to unmask)


def alice(track=1, score=0.55, masked=False, size=0.3, uncertain=False):  # 2 looks name her
    return Look(track, None if uncertain else A, score, masked, size, uncertain)


def stranger(track=2, score=0.2, masked=False, size=0.3, uncertain=False):
    return Look(track, None, score, masked, size, uncertain)


class Scene:
    """Frames of looks through the real tracker (the one voting machine) into the flow."""

    def __init__(self) -> None:
        self.tracker = Tracker()
        self.tids: dict[int, int] = {}

    def faces(self, looks: list[Look], now: float) -> list[TrackedFace]:
        boxes = np.array([[100 + 300 * (lk.track % 7), 100, 100 + 300 * (lk.track % 7) + 640 * lk.size,
                           100 + 640 * lk.size] for lk in looks], np.float32).reshape(-1, 4)
        ids = self.tracker.update(boxes, now, np.array([0.9 if lk.masked else 0.1 for lk in looks], np.float32))
        out = []
        for lk, tid, box in zip(looks, ids, boxes):
            threshold = 0.5
            verdict = Verdict(lk.person_id, NAMES.get(lk.person_id) if lk.person_id else None, lk.score,
                              threshold, masked=lk.masked, unmask_below=0.3 if lk.uncertain else 1.0)
            self.tracker.add_recognition(tid, verdict, 0.5, now)
            analysis = FaceAnalysis(box, 0.9, np.zeros((5, 2), np.float32), np.zeros((112, 112, 3), np.uint8),
                                    lk.masked, 0.9 if lk.masked else 0.1, np.zeros(0, np.float32),
                                    Quality(100, 100, 120, 0, 0))
            out.append(TrackedFace(lk.track, self.tracker.identity(tid), self.tracker.tracks[tid].masked,
                                   analysis, (), True))
        return out


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def visits():
    return Visits()


@pytest.fixture
def flow(clock, visits):
    f = KioskFlow(visits, FlowTiming(greeting_s=4, lower_mask_s=8, idle_s=1.5, unavailable_after_s=1), clock=clock)
    f.scene = Scene()
    return f


def frames(flow, clock, looks, n, dt=0.1):
    for _ in range(n):
        clock.advance(dt)
        state = flow.observe(flow.scene.faces(looks, clock.t))
    return state


def test_starts_on_attract_and_approaches_on_a_face(flow, clock):
    assert flow.state.screen is Screen.ATTRACT
    assert frames(flow, clock, [stranger()], 1, dt=0).screen is Screen.APPROACHING


def test_known_person_greeted_after_confirmation(flow, clock, visits):
    assert frames(flow, clock, [alice(score=0.52)], 1).screen is Screen.APPROACHING  # one look is not enough
    state = frames(flow, clock, [alice(score=0.71)], 1)
    assert state.screen is Screen.GREETING
    assert (state.name, state.person_id, state.recorded) == ("Alice", 5, True)
    assert visits.checkins == [(5, pytest.approx(0.615), False)]  # the voted (mean) score is logged


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
    assert frames(flow, clock, [stranger()], 2).screen is Screen.APPROACHING  # the tracker needs 3 looks
    state = frames(flow, clock, [stranger()], 1)
    assert state.screen is Screen.UNKNOWN
    assert state.name is None and state.person_id is None
    frames(flow, clock, [stranger()], 60)  # lingers for 6 s
    assert flow.state.screen is Screen.ATTRACT
    assert visits.unknowns == [(2, False)]


def test_uncertain_masked_match_asks_to_lower_mask_then_greets(flow, clock, visits):
    state = frames(flow, clock, [alice(masked=True, uncertain=True, score=0.44)], 3)
    assert state.screen is Screen.LOWER_MASK
    assert state.name is None and state.person_id is None  # never a guessed name on screen
    assert visits.checkins == []
    state = frames(flow, clock, [alice(masked=False, score=0.8)], 3)
    assert state.screen is Screen.GREETING and state.name == "Alice"
    assert [c[:2] for c in visits.checkins] == [(5, pytest.approx(0.8))]


def test_masked_stranger_asked_to_lower_mask_then_unknown_when_still_unknown(flow, clock, visits):
    state = frames(flow, clock, [stranger(masked=True)], 4)
    assert state.screen is Screen.LOWER_MASK
    # The bare face gets unmasked_grace_s (3 s) to be recognised, even when frames say "unknown".
    frames(flow, clock, [stranger(masked=False)], 30)
    assert flow.state.screen is Screen.LOWER_MASK
    state = frames(flow, clock, [stranger(masked=False)], 3)  # the track's mask state took 2 frames to change
    assert state.screen is Screen.UNKNOWN
    assert visits.unknowns == [(2, False)]


def test_lower_mask_times_out_to_unknown(flow, clock, visits):
    frames(flow, clock, [stranger(masked=True, uncertain=True)], 3)
    assert flow.state.screen is Screen.LOWER_MASK
    state = frames(flow, clock, [stranger(masked=True, uncertain=True)], 79)  # 7.9 s
    assert state.screen is Screen.LOWER_MASK
    state = frames(flow, clock, [stranger(masked=True, uncertain=True)], 2)
    assert state.screen is Screen.UNKNOWN and state.masked
    assert visits.unknowns == [(2, True)]


def test_lower_mask_visitor_who_walks_away_is_not_logged(flow, clock, visits):
    frames(flow, clock, [stranger(masked=True, uncertain=True)], 3)
    assert flow.state.screen is Screen.LOWER_MASK
    clock.advance(2)
    assert flow.tick().screen is Screen.ATTRACT
    assert visits.unknowns == [] and visits.checkins == []


def test_two_people_competing_for_one_track_are_not_greeted(flow, clock, visits):
    bob = Look(1, BOB, 0.6, False, 0.3)
    for look in (alice(), bob, alice(), bob):
        frames(flow, clock, [look], 1)
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
    assert frames(flow, clock, [stranger(track=9)], 1, dt=0).screen is Screen.APPROACHING


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


def test_an_idle_kiosk_announces_attract_once_not_on_every_tick(flow, clock):
    seen = []
    flow.subscribe(lambda s: seen.append((s.screen, s.since)))
    frames(flow, clock, [alice()], 2)  # greeted
    for _ in range(100):  # the card runs out, then nobody comes for 10 s: ticks and empty frames
        clock.advance(0.1)
        flow.tick()
        flow.observe([])
    entered = 1000.0 + 0.2 + 4.0  # the greeting's second frame plus greeting_s
    assert [screen for screen, _ in seen] == [Screen.APPROACHING, Screen.GREETING, Screen.ATTRACT]
    assert seen[-1][1] == pytest.approx(entered, abs=0.11)
    assert flow.state.since == seen[-1][1]  # the screen entered once keeps its time


def test_a_failing_listener_does_not_stop_the_flow(flow, clock):
    flow.subscribe(lambda s: 1 / 0)
    assert frames(flow, clock, [alice()], 2).screen is Screen.GREETING


def test_track_memory_is_bounded(flow, clock):
    for track in range(500):
        frames(flow, clock, [stranger(track=track)], 1)
    assert len(flow._tracks) <= 64


def test_texts_follow_language_and_overrides():
    de = texts_for(KioskConfig(language="de"))
    assert de.greeting == "Willkommen, {name}!" and "Empfang" in de.unknown
    own = texts_for(KioskConfig(language="de", greeting_text="Hallo {name}"))
    assert own.greeting == "Hallo {name}" and own.attract == de.attract
    assert greeting_for("Hi {name}, {0} {x}", "{0}") == "Hi {0}, {0} {x}"  # names are not formats


def test_a_live_result_is_observed_with_its_faces():
    from kiosk.checkin.flow import observe_result
    from kiosk.recognition.live import FrameResult, Timings

    clock, visits = Clock(), Visits()
    flow = KioskFlow(visits, FlowTiming(), clock=clock)
    scene = Scene()
    faces = scene.faces([alice()], 0.0)
    result = FrameResult(1, 0.0, (640, 480), tuple(faces), (), Timings(), 1, 1, "test@1")
    assert observe_result(flow, result).screen is Screen.APPROACHING  # one look: the tracker has not voted yet


def test_config_rejects_bad_kiosk_values():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        KioskConfig(language="xx")
    with pytest.raises(ValidationError):
        KioskConfig(background_colour="black")
    with pytest.raises(ValidationError):
        KioskConfig(greeting_s=0)
    assert FlowTiming.from_config(KioskConfig(greeting_s=6, lower_mask_s=10)).greeting_s == 6


# -- every field of the states (the events and the window read all of them) -----------------


class Refusing(Visits):
    """A check-in log in its cooldown: it writes nothing and says so (None)."""

    def checkin(self, person_id, score, masked):
        super().checkin(person_id, score, masked)

    def unknown(self, track_id, score, masked):
        super().unknown(track_id, score, masked)


def test_each_screen_carries_exactly_its_fields(flow, clock, visits):
    from kiosk.checkin.flow import KioskState

    state = frames(flow, clock, [stranger(track=2, score=0.2)], 1)
    assert state == KioskState(Screen.APPROACHING, clock.t, 2)
    first_seen = clock.t
    state = frames(flow, clock, [stranger(track=2, score=0.2)], 1)
    assert state.since == first_seen  # still approaching: the screen was not re-entered
    state = frames(flow, clock, [stranger(track=2, score=0.2)], 1)
    assert state == KioskState(Screen.UNKNOWN, clock.t, 2, masked=False, score=pytest.approx(0.2), recorded=True)
    clock.advance(10)
    assert flow.tick() == KioskState(Screen.ATTRACT, clock.t)

    state = frames(flow, clock, [alice(track=3, score=0.6, masked=True)], 2)
    assert state == KioskState(Screen.GREETING, clock.t, 3, A, "Alice", True, pytest.approx(0.6), True)
    clock.advance(10)
    flow.tick()
    state = frames(flow, clock, [alice(track=4, masked=True, uncertain=True, score=0.44)], 3)
    assert state == KioskState(Screen.LOWER_MASK, clock.t, 4, masked=True, score=pytest.approx(0.44))
    clock.advance(10)
    flow.tick()
    assert flow.source_lost("unplugged") == flow.state
    clock.advance(1.0)
    assert flow.tick() == KioskState(Screen.UNAVAILABLE, clock.t, message="unplugged")
    assert flow.source_ok() == KioskState(Screen.ATTRACT, clock.t)


def test_a_log_in_its_cooldown_makes_the_screens_say_not_recorded(clock):
    flow = KioskFlow(Refusing(), FlowTiming(), clock=clock)
    flow.scene = Scene()
    greeting = frames(flow, clock, [alice(track=1)], 2)
    assert greeting.screen is Screen.GREETING and greeting.recorded is False
    clock.advance(10)
    flow.tick()
    unknown = frames(flow, clock, [stranger(track=2)], 3)
    assert unknown.screen is Screen.UNKNOWN and unknown.recorded is False


def test_timeouts_are_inclusive_at_their_exact_second(flow, clock):
    frames(flow, clock, [alice()], 2)
    since = flow.state.since
    clock.t = since + 4.0  # greeting_s exactly: the card is over, and nobody has been seen for 1.5 s
    assert flow.tick().screen is Screen.ATTRACT
    frames(flow, clock, [stranger(track=5)], 1)
    last_face = clock.t
    clock.t = last_face + 1.5  # idle_s exactly: nobody there
    assert flow.tick().screen is Screen.ATTRACT


def test_the_nearest_face_is_chosen_by_its_width(flow, clock):
    near, far = alice(track=1, size=0.5), stranger(track=2, size=0.2)
    state = frames(flow, clock, [far, near], 2)
    assert state.screen is Screen.GREETING and state.track_id == 1
