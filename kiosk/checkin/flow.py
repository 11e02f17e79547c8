"""What the kiosk screen shows, as a Qt-free state machine the window only renders.

States: ATTRACT (nobody there) -> APPROACHING (someone is in view, not decided yet) ->
GREETING (a confident match: the name, logged once per cooldown) or UNKNOWN (please see the
receptionist, logged once per track) or LOWER_MASK (a masked face that is not a confident
match: ask to lower the mask for a moment rather than greet the wrong person; if no
confident match comes within `lower_mask_s`, it becomes UNKNOWN). UNAVAILABLE overrides
everything while the camera is lost.

Inputs are the worker's per-frame faces with their tracker ids (`observe`), the camera's
state (`source_ok` / `source_lost`) and the passing of time (`tick`). Time comes from an
injectable monotonic clock, so tests drive it by hand.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from kiosk.config import KioskConfig

log = logging.getLogger(__name__)


class Screen(enum.Enum):
    """Which screen the kiosk shows."""

    ATTRACT = "attract"
    APPROACHING = "approaching"
    GREETING = "greeting"
    UNKNOWN = "unknown"
    LOWER_MASK = "lower-mask"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Sighting:
    """One face in one processed frame, as the kiosk needs it.

    `person_id`/`name` are set only for an accepted match; `uncertain` marks a match the
    matcher does not trust enough to greet (e.g. a masked face close to the threshold).
    `size` is the face width as a fraction of the frame width (nearest visitor = largest).
    `pending` marks a face whose identity is not known yet (no vote either way).
    """

    track_id: int
    person_id: int | None
    name: str | None
    score: float
    masked: bool
    uncertain: bool = False
    size: float = 0.0
    pending: bool = False


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


class VisitLog(Protocol):
    """The part of `kiosk.checkin.visits.CheckinLog` the flow uses."""

    def checkin(self, person_id: int, score: float | None, masked: bool) -> object | None: ...

    def unknown(self, track_id: object, score: float | None, masked: bool) -> object | None: ...


@dataclass(frozen=True)
class FlowTiming:
    """Timing knobs of the flow, in seconds or frames."""

    greeting_s: float = 4.0
    lower_mask_s: float = 8.0
    idle_s: float = 1.5  # no face this long -> attract (bridges missed detections)
    unavailable_after_s: float = 1.0  # a camera gap shorter than this is not shown
    confirm_frames: int = 2  # the same person accepted this many times -> greet
    unknown_frames: int = 4  # this many frames with no accepted match -> unknown / lower mask
    unmasked_grace_s: float = 3.0  # after lowering the mask, time to recognise the bare face

    @classmethod
    def from_config(cls, config: KioskConfig, **overrides: float) -> FlowTiming:
        """Timing from the kiosk config (the rest keeps its defaults unless overridden)."""
        return cls(greeting_s=config.greeting_s, lower_mask_s=config.lower_mask_s, **overrides)


@dataclass
class _Track:
    """What the flow has seen of one tracked face."""

    votes: Counter = field(default_factory=Counter)  # person_id -> accepted frames
    names: dict[int, str] = field(default_factory=dict)
    best: dict[int, float] = field(default_factory=dict)
    masked_misses: int = 0  # masked frames without an accepted match (uncertain included)
    unmasked_misses: int = 0
    uncertain: int = 0  # masked frames the matcher flagged as an uncertain match
    masked_frames: int = 0
    frames: int = 0
    last_seen: float = 0.0
    last_score: float = -1.0
    lower_mask_since: float | None = None
    unmasked_at_lower: int = 0  # unmasked_misses when the kiosk asked to lower the mask
    unmasked_since: float | None = None  # first unmasked frame after that request
    done: bool = False  # greeted or sent to the receptionist: never again for this track


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

    def observe(self, faces: Iterable[Sighting]) -> KioskState:
        """One processed frame's faces (possibly none)."""
        now = self.clock()
        faces = list(faces)
        if self._lost_since is not None:  # frames flow again: the camera is back
            self.source_ok()
        for face in faces:
            self._update_track(face, now)
        if faces:
            self._last_face_at = now
        # The nearest visitor not yet greeted goes first; someone already greeted who lingers
        # in front of the camera must not hide the person behind them.
        waiting = [f for f in faces if not self._tracks[f.track_id].done]
        if waiting:
            self._last_waiting_at = now
        primary = max(waiting or faces, key=lambda f: f.size) if faces else None
        return self._step(now, primary)

    def tick(self) -> KioskState:
        """The passing of time (timeouts), without a new frame."""
        return self._step(self.clock(), None)

    def _update_track(self, face: Sighting, now: float) -> None:
        track = self._tracks.get(face.track_id)
        if track is None:
            track = self._tracks[face.track_id] = _Track()
            while len(self._tracks) > _MAX_TRACKS:
                self._tracks.popitem(last=False)
        self._tracks.move_to_end(face.track_id)
        track.frames += 1
        track.last_seen = now
        track.last_score = face.score
        track.masked_frames += bool(face.masked)
        if track.lower_mask_since is not None and not face.masked and track.unmasked_since is None:
            track.unmasked_since = now
        if face.pending:
            return
        if face.person_id is not None and not face.uncertain:
            track.votes[face.person_id] += 1
            track.names[face.person_id] = face.name or ""
            track.best[face.person_id] = max(face.score, track.best.get(face.person_id, -1.0))
        elif face.masked:
            track.masked_misses += 1
            track.uncertain += bool(face.uncertain)
        else:
            # An unmasked face that is not accepted is a stranger (or needs more frames):
            # asking to lower a mask they do not wear would make no sense.
            track.unmasked_misses += 1

    # -- decisions -----------------------------------------------------------------------

    def _step(self, now: float, primary: Sighting | None) -> KioskState:
        t = self.timing
        state = self.state
        if self._lost_since is not None and now - self._lost_since >= t.unavailable_after_s:
            if state.screen is not Screen.UNAVAILABLE:
                return self._enter(KioskState(Screen.UNAVAILABLE, now, message=self._lost_message))
            return state
        if state.screen is Screen.UNAVAILABLE:
            return state  # until source_ok / a frame
        card_over = False
        if state.screen in (Screen.GREETING, Screen.UNKNOWN):
            if now - state.since < t.greeting_s:
                return state  # a greeting is never cut short
            card_over = True
        nobody = self._last_face_at is None or now - self._last_face_at >= t.idle_s
        if primary is None:
            if nobody:
                return self._enter(KioskState(Screen.ATTRACT, now))
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
            if self.state.screen is Screen.ATTRACT:
                return self.state
            return self._enter(KioskState(Screen.ATTRACT, now))
        decided = self._known(track)
        if decided is not None:
            return self._greet(now, primary.track_id, track, decided)
        if state.screen is Screen.LOWER_MASK and state.track_id == primary.track_id:
            # They lowered the mask and are still not recognised after a fair chance (the
            # recogniser needs a moment for the bare face): no need to wait any longer.
            if (track.unmasked_misses - track.unmasked_at_lower >= t.unknown_frames
                    and track.unmasked_since is not None and now - track.unmasked_since >= t.unmasked_grace_s):
                return self._unknown(now, primary.track_id, track, masked=False)
            return self._lower_mask_timeout(now, state)
        misses = track.masked_misses + track.unmasked_misses
        if track.uncertain >= t.confirm_frames or (
            misses >= t.unknown_frames and track.masked_misses > track.unmasked_misses
        ):
            if track.lower_mask_since is None:
                track.lower_mask_since = now
                track.unmasked_at_lower = track.unmasked_misses
            return self._enter(KioskState(Screen.LOWER_MASK, now, primary.track_id, masked=True,
                                          score=primary.score))
        if misses >= t.unknown_frames:
            return self._unknown(now, primary.track_id, track, masked=False)
        return self._approaching(now, primary.track_id)

    def _approaching(self, now: float, track_id: int) -> KioskState:
        if self.state.screen is Screen.APPROACHING:
            return self.state  # keep `since` (and avoid a change event per frame)
        return self._enter(KioskState(Screen.APPROACHING, now, track_id))

    def _known(self, track: _Track) -> int | None:
        """The person this track is, once confirmed (and not contradicted by another person)."""
        if not track.votes:
            return None
        (pid, n), *rest = track.votes.most_common(2)
        if n < self.timing.confirm_frames or (rest and rest[0][1] * 2 >= n):
            return None  # another person has half as many votes: do not guess
        return pid

    def _mostly_masked(self, track: _Track) -> bool:
        return track.masked_frames * 2 > track.frames

    def _greet(self, now: float, track_id: int, track: _Track, person_id: int) -> KioskState:
        track.done = True
        masked = self._mostly_masked(track)
        score = track.best.get(person_id)
        recorded = False
        if self.visits is not None:
            recorded = self.visits.checkin(person_id, score, masked) is not None
        return self._enter(KioskState(Screen.GREETING, now, track_id, person_id,
                                      track.names.get(person_id) or None, masked, score, recorded))

    def _unknown(self, now: float, track_id: int, track: _Track, masked: bool) -> KioskState:
        track.done = True
        recorded = False
        if self.visits is not None:
            recorded = self.visits.unknown(track_id, track.last_score, masked) is not None
        return self._enter(KioskState(Screen.UNKNOWN, now, track_id, masked=masked,
                                      score=track.last_score, recorded=recorded))

    def _lower_mask_timeout(self, now: float, state: KioskState) -> KioskState:
        track = self._tracks.get(state.track_id) if state.track_id is not None else None
        if track is None:
            return self._enter(KioskState(Screen.ATTRACT, now))
        if now - (track.lower_mask_since or state.since) >= self.timing.lower_mask_s:
            return self._unknown(now, state.track_id, track, masked=self._mostly_masked(track))
        return state


# -- from the live worker's results ----------------------------------------------------------

#: Timing for sightings that come from the tracker's voted identities (`sightings_from_result`):
#: the tracker already needs 2 agreeing votes for a name and 3 for "unknown", so one settled
#: frame is enough here.
TRACKER_VOTED = {"confirm_frames": 1, "unknown_frames": 1}


def sightings_from_result(result) -> list[Sighting]:
    """The kiosk's view of a `kiosk.recognition.live.FrameResult`: one Sighting per tracked face.

    Uses each track's voted identity (pending until its votes agree), not the single frame's
    match, so one odd frame neither greets nor turns anyone away.
    """
    width = max(1, int(result.frame_size[0]))
    out = []
    for face in result.faces:
        ident = face.identity
        x1, _, x2, _ = (float(v) for v in face.box)
        out.append(Sighting(
            track_id=int(face.track_id),
            person_id=ident.person_id if ident.settled else None,
            name=ident.name if ident.settled else None,
            score=float(ident.score),
            masked=bool(face.masked),
            # The matcher's "ask to unmask" notion, when the tracker passes it on.
            uncertain=bool(getattr(ident, "uncertain", False) or getattr(ident, "ask_to_unmask", False)),
            size=max(0.0, x2 - x1) / width,
            pending=not ident.settled,
        ))
    return out


# -- texts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KioskTexts:
    """The words on the kiosk screens, in one language."""

    attract: str
    approach: str
    greeting: str  # "{name}" is replaced by the person's name
    unknown: str
    lower_mask: str
    unavailable: str
    unavailable_detail: str


_TEXTS: dict[str, KioskTexts] = {
    "en": KioskTexts(
        "Please look at the camera\nmasks are fine",
        "Please look at the camera",
        "Welcome, {name}!",
        "Welcome!\nPlease see the receptionist.",
        "Please lower your mask for a moment",
        "The camera is temporarily unavailable",
        "Please see the receptionist. We will be back shortly.",
    ),
    "de": KioskTexts(
        "Bitte schauen Sie in die Kamera\nMasken sind kein Problem",
        "Bitte schauen Sie in die Kamera",
        "Willkommen, {name}!",
        "Willkommen!\nBitte melden Sie sich am Empfang.",
        "Bitte nehmen Sie die Maske kurz ab",
        "Die Kamera ist vorübergehend nicht verfügbar",
        "Bitte melden Sie sich am Empfang. Wir sind gleich zurück.",
    ),
    "fr": KioskTexts(
        "Regardez la caméra, s'il vous plaît\nle masque ne gêne pas",
        "Regardez la caméra, s'il vous plaît",
        "Bienvenue, {name} !",
        "Bienvenue !\nVeuillez vous adresser à l'accueil.",
        "Baissez votre masque un instant, s'il vous plaît",
        "La caméra est momentanément indisponible",
        "Veuillez vous adresser à l'accueil. Nous revenons bientôt.",
    ),
    "es": KioskTexts(
        "Mire a la cámara, por favor\nla mascarilla no es problema",
        "Mire a la cámara, por favor",
        "¡Bienvenido/a, {name}!",
        "¡Bienvenido/a!\nPor favor, diríjase a recepción.",
        "Por favor, bájese la mascarilla un momento",
        "La cámara no está disponible en este momento",
        "Por favor, diríjase a recepción. Volvemos enseguida.",
    ),
    "nl": KioskTexts(
        "Kijk alstublieft in de camera\neen mondkapje is geen probleem",
        "Kijk alstublieft in de camera",
        "Welkom, {name}!",
        "Welkom!\nMeld u alstublieft bij de receptie.",
        "Doe uw mondkapje even omlaag, alstublieft",
        "De camera is tijdelijk niet beschikbaar",
        "Meld u alstublieft bij de receptie. We zijn zo terug.",
    ),
}


def texts_for(config: KioskConfig) -> KioskTexts:
    """The language's wording with the config's own texts (where set) in their place."""
    base = _TEXTS.get(config.language, _TEXTS["en"])
    return KioskTexts(
        attract=config.attract_text or base.attract,
        approach=base.approach,
        greeting=config.greeting_text or base.greeting,
        unknown=config.unknown_text or base.unknown,
        lower_mask=config.lower_mask_text or base.lower_mask,
        unavailable=config.unavailable_text or base.unavailable,
        unavailable_detail=base.unavailable_detail,
    )


def greeting_for(template: str, name: str) -> str:
    """The greeting with the name in it ("{name}" only: a name is never a format string)."""
    return template.replace("{name}", name)
