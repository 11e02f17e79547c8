"""The kiosk's decisions, Qt-free, shared by the fullscreen kiosk and `face-kiosk watch`.

One `KioskSession` per camera: live results in (kiosk.recognition.live.FrameResult), and out
come the screen state (KioskFlow), the visit rows (CheckinLog: one visit per person per
cooldown, one event per unknown visitor) and events for other systems (kiosk.events): an
`arrival` when someone is greeted (with whether a visit was written), `unknown` when a stranger
is sent to the receptionist, `ask_to_unmask` when a visitor is asked to lower the mask (once per
prompt), and `presentation_attack` once per track the liveness check refused (kiosk.checkin.attacks; the
receptionist view hears of it through `on_attack`). Each event about a face carries the check's
word on it (`liveness`, null while the check is off).
The window only renders the state; the headless mode only prints and publishes the events.

With own-mask learning on (kiosk.recognition.learning), a track the recogniser confirmed on the
bare face teaches its masked frames only when this session greeted that track as that person
and logged the visit: the kiosk's own decision, once per visit.

The front desk (kiosk.frontdesk): a greeted person's invitation of today is marked arrived (their
host hears of it through the `arrival` event: a visitor's contacts are their host's). An exit
camera (a kiosk id `exit`, or starting with `exit-` / `exit_`) signs out whoever it recognises
instead: no visit is logged there, and its only events are the front desk's `sign_out`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from kiosk.checkin.attacks import AttackReports, PresentationAttack
from kiosk.checkin.flow import FlowTiming, KioskFlow, KioskState, Screen, observe_result
from kiosk.checkin.liveness_gate import liveness_wait_s
from kiosk.checkin.visits import CheckinLog, local_now
from kiosk.config import Config
from kiosk.events.event import KioskEvent
from kiosk.frontdesk.service import FrontDesk
from kiosk.gallery.api import GalleryStore, Visit
from kiosk.liveness import LivenessDecision, Reason
from kiosk.recognition.learning import LearnCandidate, OwnMaskLearner, learning_enabled
from kiosk.recognition.live import FrameResult
from kiosk.recognition.verdict import NO_SCORE

log = logging.getLogger(__name__)

Publish = Callable[[KioskEvent], None]


class MediaClock:
    """The flow's clock when a file is replayed frame by frame at its own time (`watch` on a
    file, `gui --every-frame`): the capture time of the newest frame seen, so every timeout
    counts the media's seconds, not how long this machine took to analyse them."""

    def __init__(self) -> None:
        self.t = 0.0

    def follow(self, timestamp: float) -> None:
        """Move on to a newer frame's capture time (never back)."""
        self.t = max(self.t, timestamp)

    def __call__(self) -> float:
        return self.t


def is_exit_camera(kiosk: str) -> bool:
    """Whether a camera's kiosk id names an exit (`watch --source exit=...`)."""
    name = kiosk.lower()
    return name == "exit" or name.startswith(("exit-", "exit_"))


class KioskSession:
    """Screen state, visits and events of one kiosk camera. Call from one thread."""

    def __init__(self, gallery: GalleryStore, config: Config, *, kiosk: str | None = None,
                 publish: Publish | None = None, flow_clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], dt.datetime] = local_now,
                 on_visit: Callable[[Visit], None] | None = None, exit_camera: bool | None = None,
                 on_sign_out: Callable[[int], None] | None = None,
                 on_attack: Callable[[PresentationAttack], None] | None = None) -> None:
        """`kiosk`: this camera's id in visits and events (default: the config's events.kiosk);
        `exit_camera`: sign out whoever is recognised (default: by the kiosk id, is_exit_camera);
        `on_sign_out(person_id)`: told of each person an exit camera signed out;
        `on_attack(attack)`: told of each track the liveness check refused (staff only)."""
        self.config = config
        self.site = config.events.site
        self.kiosk = kiosk or config.events.kiosk
        self.publish = publish
        self.on_visit = on_visit
        self._wall_clock = wall_clock
        self.checkins = CheckinLog(gallery, config.kiosk.cooldown_s, clock=wall_clock, source=self.kiosk)
        self.exit_camera = is_exit_camera(self.kiosk) if exit_camera is None else exit_camera
        self.on_sign_out = on_sign_out
        self.frontdesk = FrontDesk(gallery, config, kiosk=self.kiosk, publish=publish, clock=wall_clock)
        timing = FlowTiming.from_config(config.kiosk, liveness_wait_s=liveness_wait_s(config.liveness))
        self.flow = KioskFlow(self, timing, clock=flow_clock)
        self.flow.subscribe(self._on_state)
        self.on_attack = on_attack
        self.attacks = AttackReports()
        self._liveness: OrderedDict[int, LivenessDecision] = OrderedDict()  # track -> latest decision
        self._t0: float | None = None
        self._t = 0.0
        self.events: list[KioskEvent] = []  # every event so far (bounded: the last EVENTS_KEPT)
        self._prompts: deque[tuple[int, float]] = deque(maxlen=64)  # (track, since) of asks announced
        self.learner = (OwnMaskLearner(gallery, config.match, kiosk=self.kiosk)
                        if learning_enabled(config.match) else None)
        self._confirmed: OrderedDict[int, LearnCandidate] = OrderedDict()  # by track, until greeted
        self._greeted: OrderedDict[int, tuple[int | None, bool]] = OrderedDict()  # track -> (person, logged)

    EVENTS_KEPT = 256
    TRACKS_KEPT = 64  # confirmations and greetings remembered per track (the oldest go first)

    # -- in -------------------------------------------------------------------------------

    def observe(self, result: FrameResult) -> KioskState:
        """One live result; `t` of the events is seconds since the first result's capture."""
        if self._t0 is None:
            self._t0 = result.timestamp
        self._t = max(0.0, result.timestamp - self._t0)
        for face in result.faces:
            self._liveness[face.track_id] = face.liveness
            self._liveness.move_to_end(face.track_id)
        while len(self._liveness) > self.EVENTS_KEPT:
            self._liveness.popitem(last=False)
        state = observe_result(self.flow, result)
        for attack in self.attacks.new(result.faces, self.kiosk, round(self._t, 3)):
            self._report_attack(attack)
        if self.learner is not None:
            self._learn(result.confirmations)
        return state

    @property
    def liveness_focus(self) -> int | None:
        """The track the screen faces and may ask the active liveness challenge (a visitor on the
        "please look at the camera" or challenge screen); None while it greets, refuses, asks to
        lower the mask or shows nobody. The live loop takes it after each frame
        (`LiveRecognizer.liveness.focus`), so nobody else is asked, nor refused for not answering."""
        state = self.flow.state
        return self.flow.facing if state.screen in (Screen.APPROACHING, Screen.CHALLENGE) else None

    def _learn(self, confirmations: tuple[LearnCandidate, ...]) -> None:
        """Hand on the confirmed tracks this session greeted (and logged) as the same person."""
        for candidate in confirmations:
            self._confirmed[candidate.track_id] = candidate
        while len(self._confirmed) > self.TRACKS_KEPT:
            self._confirmed.popitem(last=False)
        assert self.learner is not None
        for track, candidate in list(self._confirmed.items()):
            greeted = self._greeted.get(track)
            if greeted is None:
                continue  # not greeted yet: perhaps on the next frame
            del self._confirmed[track]
            # Greeted and logged as that very person: a confirmed visit (and, where liveness gates
            # the greeting, a live one), never a track the kiosk did not act on.
            if greeted == (candidate.person_id, True):
                self.learner.learn(candidate)

    def tick(self) -> KioskState:
        """The passing of time without a frame (timeouts of the greeting and the mask request)."""
        return self.flow.tick()

    # -- the flow's visit log (KioskFlow calls these) --------------------------------------

    def checkin(self, person_id: int, score: float | None, masked: bool) -> Visit | None:
        """Log a recognised person (once per cooldown) and mark their invitation of today
        arrived; at an exit camera, sign them out instead."""
        if self.exit_camera:
            self._sign_out(person_id)
            return None
        visit = self.checkins.checkin(person_id, score, masked)
        if visit is not None and self.on_visit is not None:
            self.on_visit(visit)
        if visit is not None:
            try:
                self.frontdesk.recognised(person_id, visit.id or None)
            except Exception:  # the greeting and the visit stand; the invitation can be marked by hand
                log.exception("marking person %s's invitation arrived failed", person_id)
        return visit

    def signed_in(self, visit: Visit) -> None:
        """A visit signed in by touch at this kiosk (a first-time sign-in, a name picked from
        the expected list): its host was told then, so the face recognised a moment later is
        the same visit (the cooldown starts now), greeted but not logged or announced again."""
        if visit.person_id is not None:
            self.checkins.arrived(visit.person_id)

    def _sign_out(self, person_id: int) -> None:
        try:
            done = self.frontdesk.sign_out_person(person_id, "exit_camera")
        except Exception:  # an exit camera never stops: the receptionist can sign out by hand
            log.exception("signing person %s out at the exit failed", person_id)
            return
        if done and self.on_sign_out is not None:
            self.on_sign_out(person_id)

    def unknown(self, track_id: object, score: float | None, masked: bool) -> Visit | None:
        """Log an unknown visitor (once per track); not at an exit camera."""
        if self.exit_camera:
            return None
        visit = self.checkins.unknown(track_id, score, masked)
        if visit is not None and self.on_visit is not None:
            self.on_visit(visit)
        return visit

    # -- out ------------------------------------------------------------------------------

    def _on_state(self, state: KioskState) -> None:
        if state.screen is Screen.GREETING and state.track_id is not None:
            self._greeted[int(state.track_id)] = (state.person_id, bool(state.recorded))
            while len(self._greeted) > self.TRACKS_KEPT:
                self._greeted.popitem(last=False)
        kind = {Screen.GREETING: "arrival", Screen.UNKNOWN: "unknown", Screen.LOWER_MASK: "ask_to_unmask"}.get(
            state.screen)
        if kind is None or state.track_id is None or self.exit_camera:
            return
        if kind == "ask_to_unmask":
            # One event per prompt: a prompt shown again after an interruption keeps its `since`.
            prompt = (int(state.track_id), state.since)
            if prompt in self._prompts:
                return
            self._prompts.append(prompt)
        event = KioskEvent(
            event=kind,  # type: ignore[arg-type]
            t=round(self._t, 3), track=int(state.track_id), kiosk=self.kiosk, site=self.site,
            masked=bool(state.masked), logged=bool(state.recorded) if kind != "ask_to_unmask" else False,
            person=state.name if kind == "arrival" else None,
            person_id=state.person_id if kind == "arrival" else None,
            # null when nobody was compared (an empty gallery), not the sentinel -1.
            score=None if state.score is None or state.score <= NO_SCORE else round(float(state.score), 4),
            liveness=self._liveness_json(state.track_id),
            time=self._wall_clock().astimezone(dt.timezone.utc),
        )
        self._send(event)

    def _liveness_json(self, track_id: int) -> dict[str, Any] | None:
        """The check's latest word on a track for its events (None while the check is off)."""
        decision = self._liveness.get(track_id)
        return None if decision is None or decision.reason is Reason.OFF else decision.as_dict()

    def _report_attack(self, attack: PresentationAttack) -> None:
        log.warning("kiosk %s: track %d refused by the liveness check (%s, %.2f)", self.kiosk, attack.track_id,
                    attack.decision.reason.value, attack.decision.score)
        if self.on_attack is not None:
            try:
                self.on_attack(attack)
            except Exception:  # a broken staff view must not stop the kiosk
                log.exception("the presentation-attack listener failed")
        self._send(KioskEvent(
            event="presentation_attack", t=attack.t, track=attack.track_id, kiosk=self.kiosk, site=self.site,
            masked=attack.masked, logged=False, person=None, person_id=None,
            score=None if attack.score is None else round(float(attack.score), 4),
            liveness=attack.decision.as_dict(), time=self._wall_clock().astimezone(dt.timezone.utc),
        ))

    def _send(self, event: KioskEvent) -> None:
        self.events.append(event)
        del self.events[: -self.EVENTS_KEPT]
        if self.publish is not None:
            try:
                self.publish(event)
            except Exception:  # delivery never stops the kiosk (the bus itself never raises)
                log.exception("publishing a %s event failed", event.event)
