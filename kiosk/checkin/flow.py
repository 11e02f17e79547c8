"""What the kiosk screen shows, as a Qt-free state machine the window only renders.

States: ATTRACT (nobody there) -> APPROACHING (someone is in view, not decided yet) ->
GREETING (a confident match: the name, logged once per cooldown) or UNKNOWN (please see the
receptionist, logged once per track) or LOWER_MASK (a masked face that is not a confident
match: ask to lower the mask for a moment rather than greet the wrong person; if no
confident match comes within `lower_mask_s`, it becomes UNKNOWN). UNAVAILABLE overrides
everything while the camera is lost.

A request to lower the mask is one prompt per track: it holds the screen while its visitor is
in view (or missed for less than `idle_s`: detections flicker), so another face stepping in and
out does not take the screen away and back; a prompt that is interrupted all the same resumes
with its own start time (`since`), so nobody announces it twice, and its `lower_mask_s` counts
from the first request. A visitor sent to the receptionist is greeted after all when the
recogniser decides their track afresh (`TrackedFace.epoch`: the gallery changed, e.g. they were
enrolled at another desk while standing here, or they took the mask off) and names them; a
fresh decision that still says "unknown" changes nothing on screen and logs nothing again.

Before any of that, the face's liveness decision (kiosk.checkin.liveness_gate): a face judged
an attack gets REFUSED (the receptionist card, nobody named, nothing logged); an unsure one is
greeted by nobody yet: CHALLENGE while the active check asks for a head turn or a blink, else
APPROACHING, and the receptionist card if it stays unsure too long after its identity settled.

Inputs are the live recognizer's tracked faces (`observe`), the camera's state (`source_ok` /
`source_lost`) and the passing of time (`tick`). The flow keeps no votes of its own: who a face
is comes from the tracker's voted identity (kiosk.recognition.tracking), the one voting machine.
Time comes from an injectable monotonic clock, so tests drive it by hand.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from kiosk.checkin.liveness_gate import DEFAULT_WAIT_S, Gate, LivenessGate
from kiosk.config import KioskConfig
from kiosk.recognition.live import FrameResult, TrackedFace

log = logging.getLogger(__name__)


class Screen(enum.Enum):
    """Which screen the kiosk shows."""

    ATTRACT = "attract"
    APPROACHING = "approaching"
    GREETING = "greeting"
    UNKNOWN = "unknown"
    LOWER_MASK = "lower-mask"
    UNAVAILABLE = "unavailable"
    REFUSED = "refused"  # the liveness check refused the face: the receptionist card, nobody named
    CHALLENGE = "challenge"  # the active liveness check asks for a small head turn or a blink


@dataclass(frozen=True)
class KioskState:
    """Everything the window needs to draw the current screen (and nothing about anyone else)."""

    screen: Screen
    since: float  # monotonic time the screen was entered
    track_id: int | None = None
    person_id: int | None = None  # GREETING only
    name: str | None = None  # GREETING only: the one person being greeted
    masked: bool = False
    score: float | None = None
    recorded: bool = False  # GREETING/UNKNOWN: a visit row was written for it
    message: str = ""  # UNAVAILABLE: why (for the log, not shown to visitors)
    challenge: str | None = None  # CHALLENGE: what is asked ("turn" or "blink", kiosk.liveness.ChallengeKind)


class VisitLog(Protocol):
    """The part of `kiosk.checkin.visits.CheckinLog` the flow uses."""

    def checkin(self, person_id: int, score: float | None, masked: bool) -> object | None: ...

    def unknown(self, track_id: object, score: float | None, masked: bool) -> object | None: ...


@dataclass(frozen=True)
class FlowTiming:
    """Timing knobs of the flow, in seconds."""

    greeting_s: float = 4.0
    lower_mask_s: float = 8.0
    idle_s: float = 1.5  # no face this long -> attract (bridges missed detections)
    unavailable_after_s: float = 1.0  # a camera gap shorter than this is not shown
    unmasked_grace_s: float = 3.0  # after lowering the mask, time to recognise the bare face
    liveness_wait_s: float = DEFAULT_WAIT_S  # a settled identity still unsure this long: the receptionist

    @classmethod
    def from_config(cls, config: KioskConfig, **overrides: float) -> FlowTiming:
        """Timing from the kiosk config (the rest keeps its defaults unless overridden)."""
        return cls(greeting_s=config.greeting_s, lower_mask_s=config.lower_mask_s, **overrides)


@dataclass
class _Track:
    """What the flow remembers of one tracked face."""

    frames: int = 0
    masked_frames: int = 0
    last_score: float = -1.0
    last_seen: float = 0.0
    best: dict[int, float] = field(default_factory=dict)  # person id -> best voted score
    lower_mask_since: float | None = None  # when the one prompt to lower the mask began
    unmasked_since: float | None = None  # first unmasked frame after the request to lower the mask
    done: bool = False  # greeted or sent to the receptionist: never again for this track ...
    greeted: bool = False
    epoch: int = 0  # ... unless sent on (not greeted) and named by a re-decision of a later epoch


_MAX_TRACKS = 64  # tracks remembered; old ones are forgotten first (memory stays flat)


class KioskFlow:
    """The kiosk's state machine. Call from one thread (the GUI's)."""

    def __init__(
        self,
        visits: VisitLog | None = None,
        timing: FlowTiming | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.visits = visits
        self.timing = timing or FlowTiming()
        self.clock = clock
        self.liveness = LivenessGate(self.timing.liveness_wait_s)
        self.facing: int | None = None  # the track the latest frame's decisions were about
        self._tracks: OrderedDict[int, _Track] = OrderedDict()
        self._last_face_at: float | None = None
        self._last_waiting_at: float | None = None  # a face not yet greeted nor sent on
        self._lost_since: float | None = None
        self._lost_message = ""
        self._listeners: list[Callable[[KioskState], None]] = []
        self.state = KioskState(Screen.ATTRACT, clock())

    # -- listeners -----------------------------------------------------------------------

    def subscribe(self, listener: Callable[[KioskState], None]) -> None:
        """Call `listener(state)` on every change of screen (or of the person shown)."""
        self._listeners.append(listener)

    def _enter(self, state: KioskState) -> KioskState:
        if state != self.state:
            log.debug("kiosk: %s -> %s", self.state.screen.value, state.screen.value)
            self.state = state
            for listener in list(self._listeners):
                try:
                    listener(state)
                except Exception:  # a broken view must not stop the kiosk
                    log.exception("kiosk state listener failed")
        return self.state

    # -- camera --------------------------------------------------------------------------

    def source_lost(self, message: str = "") -> KioskState:
        """The camera stopped (or never started); shown after `unavailable_after_s`."""
        now = self.clock()
        if self._lost_since is None:
            self._lost_since = now
        self._lost_message = message
        return self.tick()

    def source_ok(self) -> KioskState:
        """The camera delivers frames (again)."""
        self._lost_since = None
        if self.state.screen is Screen.UNAVAILABLE:
            self._tracks.clear()
            self._last_face_at = self._last_waiting_at = None
            return self._enter(KioskState(Screen.ATTRACT, self.clock()))
        return self.state

    @property
    def source_down(self) -> bool:
        """True while the camera is lost (whether or not the screen shows it yet)."""
        return self._lost_since is not None

    # -- frames --------------------------------------------------------------------------

    def observe(self, faces: Iterable[TrackedFace]) -> KioskState:
        """One processed frame's tracked faces (possibly none)."""
        now = self.clock()
        faces = list(faces)
        if self._lost_since is not None:  # frames flow again: the camera is back
            self.source_ok()
        for face in faces:
            self._update_track(face, now)
        # Forget the oldest tracks first, never one of this frame (a crowd can be more than
        # _MAX_TRACKS faces; the decisions below read the track of every face in view).
        while len(self._tracks) > max(_MAX_TRACKS, len(faces)):
            self._tracks.popitem(last=False)
        if faces:
            self._last_face_at = now
        # The nearest visitor not yet greeted goes first; someone already greeted who lingers
        # in front of the camera must not hide the person behind them.
        waiting = [f for f in faces if not self._tracks[f.track_id].done]
        if waiting:
            self._last_waiting_at = now
        primary = max(waiting or faces, key=lambda f: float(f.box[2] - f.box[0])) if faces else None
        prompted = self._prompted(now)
        if prompted is not None:
            # A prompt to lower the mask holds the screen for its visitor: theirs, or (missed on
            # this frame) nobody's, so the request stays up through a flickering detection.
            primary = next((f for f in faces if f.track_id == prompted), None)
        self.facing = primary.track_id if primary is not None else None
        return self._step(now, primary)

    def _prompted(self, now: float) -> int | None:
        """The track asked to lower the mask, while it is in view or missed for less than `idle_s`."""
        state = self.state
        if state.screen is not Screen.LOWER_MASK or state.track_id is None:
            return None
        track = self._tracks.get(state.track_id)
        if track is None or track.done or now - track.last_seen >= self.timing.idle_s:
            return None
        return state.track_id

    def tick(self) -> KioskState:
        """The passing of time (timeouts), without a new frame."""
        return self._step(self.clock(), None)

    def _update_track(self, face: TrackedFace, now: float) -> None:
        track = self._tracks.get(face.track_id)
        if track is None:
            track = self._tracks[face.track_id] = _Track()
        self._tracks.move_to_end(face.track_id)
        ident = face.identity
        track.frames += 1
        track.masked_frames += bool(face.masked)
        track.last_seen = now
        if not track.done:
            track.epoch = face.epoch  # the epoch of the identity it is (or will be) sent on with
        elif not track.greeted and face.epoch > track.epoch and ident.settled:
            # Decided afresh (the gallery changed, the mask came off): named now opens the track
            # again, to be greeted; "unknown" again leaves it as it was, silently.
            track.epoch = face.epoch
            track.done = ident.person_id is None
        if ident.settled:
            track.last_score = ident.score
            if ident.person_id is not None:
                track.best[ident.person_id] = max(ident.score, track.best.get(ident.person_id, -1.0))
        if track.lower_mask_since is not None and not face.masked and track.unmasked_since is None:
            track.unmasked_since = now

    # -- decisions -----------------------------------------------------------------------

    def _step(self, now: float, primary: TrackedFace | None) -> KioskState:
        t = self.timing
        state = self.state
        if self._lost_since is not None and now - self._lost_since >= t.unavailable_after_s:
            if state.screen is not Screen.UNAVAILABLE:
                return self._enter(KioskState(Screen.UNAVAILABLE, now, message=self._lost_message))
            return state
        if state.screen is Screen.UNAVAILABLE:
            return state  # until source_ok / a frame
        card_over = False
        if state.screen in (Screen.GREETING, Screen.UNKNOWN, Screen.REFUSED):
            # A greeting is never cut short; the receptionist card only by its own visitor's
            # greeting (named after all by a re-decision).
            corrected = (state.screen is Screen.UNKNOWN and primary is not None
                         and primary.track_id == state.track_id and not self._tracks[primary.track_id].done)
            if now - state.since < t.greeting_s and not corrected:
                return state
            card_over = True
        nobody = self._last_face_at is None or now - self._last_face_at >= t.idle_s
        if primary is None:
            if nobody:
                return self._attract(now)
            if state.screen is Screen.LOWER_MASK:
                return self._lower_mask_timeout(now, state)
            if card_over:
                waiting = self._last_waiting_at is not None and now - self._last_waiting_at < t.idle_s
                return self._enter(KioskState(Screen.APPROACHING if waiting else Screen.ATTRACT, now))
            return state
        track = self._tracks[primary.track_id]
        if track.done:
            # Only people already greeted (or sent on) are in view: back to the idle screen,
            # not "please look at the camera" at someone who was just welcomed.
            return self._attract(now)
        gated = self._liveness_gate(now, primary, track)
        if gated is not None:
            return gated
        ident = primary.identity
        if ident.settled and ident.person_id is not None:
            return self._greet(now, primary.track_id, track, ident.person_id, ident.name)
        if state.screen is Screen.LOWER_MASK and state.track_id == primary.track_id:
            # They lowered the mask and are still not recognised after a fair chance (the
            # recogniser needs a moment for the bare face): no need to wait any longer.
            if (ident.settled and not primary.masked and track.unmasked_since is not None
                    and now - track.unmasked_since >= t.unmasked_grace_s):
                return self._unknown(now, primary.track_id, track, masked=False)
            return self._lower_mask_timeout(now, state)
        if track.lower_mask_since is not None:
            # Asked before, and the prompt was interrupted: it goes on with its own start time
            # (announced once) and its own deadline.
            if now - track.lower_mask_since >= t.lower_mask_s:
                return self._unknown(now, primary.track_id, track, masked=self._mostly_masked(track))
            return self._enter(KioskState(Screen.LOWER_MASK, track.lower_mask_since, primary.track_id,
                                          masked=True, score=track.last_score))
        if ident.settled and primary.masked:
            # A masked face the tracker could not name: ask for the mask to come off for a
            # moment rather than greet a guess or turn a regular away.
            track.lower_mask_since = now
            return self._enter(KioskState(Screen.LOWER_MASK, now, primary.track_id, masked=True,
                                          score=ident.score))
        if ident.settled:
            return self._unknown(now, primary.track_id, track, masked=False)
        return self._approaching(now, primary.track_id)

    def _liveness_gate(self, now: float, primary: TrackedFace, track: _Track) -> KioskState | None:
        """The screen the face's liveness decision calls for; None: live, decide as ever."""
        gate = self.liveness.judge(now, primary)
        if gate is Gate.PASS:
            return None
        if gate is Gate.REFUSE:
            track.done = True  # never greeted, logged or asked anything again on this track
            return self._enter(KioskState(Screen.REFUSED, now, primary.track_id, masked=primary.masked))
        if gate is Gate.GIVE_UP:
            return self._unknown(now, primary.track_id, track, masked=self._mostly_masked(track))
        challenge = primary.liveness.challenge
        if gate is Gate.ASK and challenge is not None:
            state = self.state
            if state.screen is Screen.CHALLENGE and (state.track_id, state.challenge) == (primary.track_id,
                                                                                    challenge.value):
                return state  # keep `since`
            return self._enter(KioskState(Screen.CHALLENGE, now, primary.track_id, masked=primary.masked,
                                          challenge=challenge.value))
        return self._approaching(now, primary.track_id)

    def _attract(self, now: float) -> KioskState:
        if self.state.screen is Screen.ATTRACT:
            return self.state  # keep `since`: an idle kiosk announces nothing on every tick
        return self._enter(KioskState(Screen.ATTRACT, now))

    def _approaching(self, now: float, track_id: int) -> KioskState:
        if self.state.screen is Screen.APPROACHING:
            return self.state  # keep `since` (and avoid a change event per frame)
        return self._enter(KioskState(Screen.APPROACHING, now, track_id))

    def _mostly_masked(self, track: _Track) -> bool:
        return track.masked_frames * 2 > track.frames

    def _greet(self, now: float, track_id: int, track: _Track, person_id: int, name: str | None) -> KioskState:
        track.done = track.greeted = True
        masked = self._mostly_masked(track)
        score = track.best.get(person_id)
        recorded = False
        if self.visits is not None:
            recorded = self.visits.checkin(person_id, score, masked) is not None
        return self._enter(KioskState(Screen.GREETING, now, track_id, person_id, name or None, masked, score,
                                      recorded))

    def _unknown(self, now: float, track_id: int, track: _Track, masked: bool) -> KioskState:
        track.done = True
        recorded = False
        if self.visits is not None:
            recorded = self.visits.unknown(track_id, track.last_score, masked) is not None
        return self._enter(KioskState(Screen.UNKNOWN, now, track_id, masked=masked,
                                      score=track.last_score, recorded=recorded))

    def _lower_mask_timeout(self, now: float, state: KioskState) -> KioskState:
        if state.track_id is None or (track := self._tracks.get(state.track_id)) is None:
            return self._enter(KioskState(Screen.ATTRACT, now))
        if now - (track.lower_mask_since or state.since) >= self.timing.lower_mask_s:
            return self._unknown(now, state.track_id, track, masked=self._mostly_masked(track))
        return state


def observe_result(flow: KioskFlow, result: FrameResult) -> KioskState:
    """Feed one live result (kiosk.recognition.live.FrameResult) to the flow."""
    return flow.observe(result.faces)

