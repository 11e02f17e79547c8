"""The kiosk's touch journeys, Qt-free: a first-time visitor signing in, an invited guest
finding their name on today's list, and anyone leaving. The window renders `DeskState`
(ui.kiosk_mode.desk_panel); the recognition screens (kiosk.checkin.flow) go on underneath and
take over again when this flow is IDLE.

    NAME -> HOST -> AGREEMENT -> FACE -> (CAPTURE -> SAVING) -> DONE     "First time here?"
    EXPECTED -> AGREEMENT -> DONE                                        "Expected today?"
    LEAVING -> LEFT (or PROBLEM: not recognised)                         "Leaving"
    LEAVING -> LEAVING_NAME -> LEFT                                      "Sign out with my name"

A visitor who gave no face consent cannot be recognised: on LEAVING_NAME they type at least
EXPECTED_MIN_LETTERS letters of their name and pick themselves among the visitors signed in
now (the list is never shown whole, like the expected list).

Back goes one screen back, Cancel (or `touch_timeout_s` untouched) back to IDLE with every
entry cleared: nothing personal stays on a screen the visitor walked away from. Without face
consent there is no capture and no face data; with it, the samples come from the visitor's own
guided capture (kiosk.signin.capture) and are stored only once the liveness gate has passed
(`liveness`: by default the live loop's liveness check, `by_the_live_check`; with the check
off every face counts as live).
Problems reach the screen as msgids (kiosk.signin.texts), never as English sentences.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from kiosk.enrollment.guided import CaptureSettings, GuidedCapture, Offer
from kiosk.enrollment.prepare import PendingSample
from kiosk.errors import KioskError
from kiosk.frontdesk import AgreementTexts, FrontDesk, SignInForm
from kiosk.gallery.api import NewSample, clean_name
from kiosk.gallery.frontdesk_api import Host, Invitation, OnSite
from kiosk.i18n.reserved import LIVENESS_REFUSED
from kiosk.recognition.live import TrackedFace
from kiosk.security.sqlcipher import DB_ERRORS
from kiosk.signin import texts as T
from kiosk.signin.capture import VISITOR_STEPS
from kiosk.signin.leaving import recognised_face
from kiosk.signin.search import EXPECTED_MIN_LETTERS, HOST_MIN_LETTERS, search

log = logging.getLogger(__name__)

# What a front-desk write may raise that the visitor gets a polite card for (the rest is a bug).
_FAILURES: tuple[type[BaseException], ...] = (KioskError,) + DB_ERRORS


class Step(enum.Enum):
    """Which visitor screen is up (IDLE: none, the recognition screens show)."""

    IDLE = "idle"
    NAME = "name"
    HOST = "host"
    AGREEMENT = "agreement"
    FACE = "face"
    CAPTURE = "capture"
    SAVING = "saving"
    DONE = "done"
    EXPECTED = "expected"
    LEAVING = "leaving"
    LEAVING_NAME = "leaving_name"
    LEFT = "left"
    PROBLEM = "problem"


class Liveness(enum.Enum):
    """The liveness gate's word on the faces of a capture frame."""

    LIVE = "live"
    UNDECIDED = "undecided"
    ATTACK = "attack"


#: Judges the faces of a capture frame. The liveness check (kiosk.liveness) plugs in here.
LivenessGate = Callable[[Sequence[TrackedFace]], Liveness]


def always_live(faces: Sequence[TrackedFace]) -> Liveness:
    """A gate that lets every face through (tests of the journeys without the check)."""
    return Liveness.LIVE


def by_the_live_check(faces: Sequence[TrackedFace]) -> Liveness:
    """The live loop's liveness decisions on the capture frame's faces (kiosk.liveness, on
    each `TrackedFace`): an attack if any face is one, live when every face is live, else
    undecided. With the check off every face carries NOT_CHECKED, which is live."""
    if any(f.liveness.attack for f in faces):
        return Liveness.ATTACK
    if faces and all(f.liveness.live for f in faces):
        return Liveness.LIVE
    return Liveness.UNDECIDED


@dataclass(frozen=True)
class DeskTiming:
    """How long the visitor screens wait, in seconds."""

    touch_timeout_s: float = 45.0  # untouched: back to the start, entries cleared
    result_s: float = 8.0  # the done / goodbye / problem card
    leaving_s: float = 20.0  # no confident recognition after "Leaving": see the receptionist
    saving_s: float = 30.0  # the photos' templates never came: sign in without them


@dataclass(frozen=True)
class DeskState:
    """What the visitor screens show. `message` / `note` are msgids (kiosk.signin.texts)."""

    step: Step
    since: float
    name: str = ""
    company: str = ""
    host: Host | None = None
    agreement: AgreementTexts | None = None
    invitation: Invitation | None = None
    face_consent: bool = False
    message: str = ""  # a problem, or a hint on the current screen
    note: str = ""  # DONE: whether the face was kept; LEFT: whether a visit was closed
    person_id: int | None = None  # DONE / LEFT: who
    visit_id: int | None = None  # DONE: the sign-in visit


class DeskFlow:
    """The visitor screens' state machine. Call from one thread (the GUI's), like FrontDesk."""

    def __init__(self, desk: FrontDesk, *, timing: DeskTiming | None = None,
                 clock: Callable[[], float] = time.monotonic, liveness: LivenessGate = by_the_live_check,
                 capture_settings: CaptureSettings | None = None, language: Callable[[], str] = lambda: "") -> None:
        self.desk = desk
        self.language = language  # the visitor's language now: stored with the agreement they accept
        self.timing = timing or DeskTiming()
        self.clock = clock
        self.liveness = liveness
        self.capture_settings = capture_settings or CaptureSettings()
        self.capture: GuidedCapture | None = None
        self.last_offer: Offer | None = None
        self._live_seen = False
        self._active_at = clock()
        self._listeners: list[Callable[[DeskState], None]] = []
        self.state = DeskState(Step.IDLE, self._active_at)

    # -- listeners and state -----------------------------------------------------------------

    def subscribe(self, listener: Callable[[DeskState], None]) -> None:
        """Call `listener(state)` on every change."""
        self._listeners.append(listener)

    def _enter(self, state: DeskState) -> DeskState:
        if state != self.state:
            log.debug("desk: %s -> %s", self.state.step.value, state.step.value)
            self.state = state
            for listener in list(self._listeners):
                try:
                    listener(state)
                except Exception:  # a broken view must not stop the kiosk
                    log.exception("desk state listener failed")
        return self.state

    def _go(self, step: Step, **changes: object) -> DeskState:
        fields: dict[str, object] = {"message": "", **changes}
        return self._enter(replace(self.state, step=step, since=self.clock(), **fields))  # type: ignore[arg-type]

    @property
    def busy(self) -> bool:
        """True while a visitor screen is up."""
        return self.state.step is not Step.IDLE

    def touched(self) -> None:
        """The visitor touched the screen: the timeout starts again."""
        self._active_at = self.clock()

    # -- starting and leaving a journey ------------------------------------------------------

    def start_sign_in(self) -> DeskState:
        """"First time here?": the sign-in form, empty."""
        self._reset()
        return self._enter(DeskState(Step.NAME, self.clock()))

    def start_expected(self) -> DeskState:
        """"Expected today?": the name search, empty."""
        self._reset()
        return self._enter(DeskState(Step.EXPECTED, self.clock()))

    def start_leaving(self) -> DeskState:
        """"Leaving": the camera, until it recognises someone."""
        self._reset()
        return self._enter(DeskState(Step.LEAVING, self.clock()))

    def cancel(self) -> DeskState:
        """Back to the start; every entry is forgotten."""
        self._reset()
        return self._enter(DeskState(Step.IDLE, self.clock()))

    def back(self) -> DeskState:
        """One screen back (from the first screen of a journey: cancel)."""
        self.touched()
        step = self.state.step
        if step is Step.HOST:
            return self._go(Step.NAME)
        if step is Step.AGREEMENT:
            return self._go(Step.EXPECTED if self.state.invitation is not None else Step.HOST)
        if step is Step.FACE:
            return self._go(Step.AGREEMENT)
        if step is Step.CAPTURE:
            self.capture = None
            return self._go(Step.FACE, face_consent=False)
        if step is Step.LEAVING_NAME:
            return self._go(Step.LEAVING)
        return self.cancel()

    def _reset(self) -> None:
        self.capture, self.last_offer, self._live_seen = None, None, False
        self.touched()

    # -- the sign-in form ------------------------------------------------------------------------

    def submit_name(self, name: str, company: str = "") -> DeskState:
        """Name (required) and company: on to the host."""
        self.touched()
        name, company = clean_name(name), clean_name(company)
        if not name:
            return self._enter(replace(self.state, company=company, message=T.NAME_MISSING))
        return self._go(Step.HOST, name=name, company=company)

    def host_matches(self, query: str) -> list[Host]:
        """Hosts whose name matches what the visitor typed (none before HOST_MIN_LETTERS letters)."""
        self.touched()
        return search(query, self.desk.hosts(), lambda h: h.name, min_letters=HOST_MIN_LETTERS)

    def choose_host(self, host: Host | None) -> DeskState:
        """The host (None: the visitor does not know; the receptionist is told instead)."""
        self.touched()
        return self._go(Step.AGREEMENT, host=host, agreement=self.desk.agreement())

    def accept(self) -> DeskState:
        """"I agree": on to the face consent, or (an invited guest) signed in."""
        self.touched()
        if self.state.step is not Step.AGREEMENT or self.state.agreement is None:
            return self.state
        if self.state.agreement.version != self.desk.agreement().version:
            return self._enter(replace(self.state, agreement=self.desk.agreement(), message=T.AGREEMENT_CHANGED))
        if self.state.invitation is not None:
            return self._arrive(self.state.invitation)
        return self._go(Step.FACE)

    def choose_face(self, consent: bool) -> DeskState:
        """"Recognise me next time": yes starts the capture, no signs in without any face data."""
        self.touched()
        if self.state.step is not Step.FACE:
            return self.state
        if not consent:
            return self._sign_in((), "")
        self.capture = GuidedCapture(VISITOR_STEPS, self.capture_settings)
        self.last_offer, self._live_seen = None, False
        return self._go(Step.CAPTURE, face_consent=True)

    def skip_capture(self) -> DeskState:
        """"Continue without photos": consent withdrawn, signed in with no face data."""
        self.touched()
        if self.state.step is not Step.CAPTURE:
            return self.state
        self.capture = None
        self._enter(replace(self.state, face_consent=False))
        return self._sign_in((), "")

    # -- the capture -------------------------------------------------------------------------------

    def offer_frame(self, faces: Sequence[TrackedFace], frame_size: tuple[int, int],
                    timestamp: float) -> Offer | None:
        """One analysed camera frame while capturing; the capture's offer (None otherwise)."""
        if self.state.step is not Step.CAPTURE or self.capture is None:
            return None
        if faces:
            self.touched()  # someone is posing: not walked away
        verdict = self.liveness(faces) if faces else Liveness.UNDECIDED
        if verdict is Liveness.ATTACK:
            log.warning("desk: the liveness check refused the capture; nothing is kept")
            self.capture = None
            self._go(Step.PROBLEM, message=LIVENESS_REFUSED)
            return None
        self._live_seen |= verdict is Liveness.LIVE
        offer = self.capture.offer([f.analysis for f in faces], frame_size, timestamp)
        self.last_offer = offer
        if self.capture.done and self._live_seen:
            self._go(Step.SAVING)
        elif offer.captured is not None:
            self._enter(replace(self.state))  # progress: listeners redraw the count
        return offer

    def pending_samples(self) -> list[PendingSample]:
        """The captured faces to turn into samples (kiosk.enrollment.prepare) while SAVING."""
        if self.state.step is not Step.SAVING or self.capture is None:
            return []
        return [PendingSample(s.face, "kiosk sign-in") for s in self.capture.samples]

    def samples_ready(self, samples: Sequence[NewSample], model_version: str, *, duplicate: bool = False) -> DeskState:
        """The samples' templates are made: sign in with them. `duplicate`: the face looks like
        someone enrolled already; then no face data is kept (the visitor is told to ask)."""
        if self.state.step is not Step.SAVING:
            return self.state
        self.capture = None
        if duplicate or not samples:
            log.info("desk: the visitor's photos %s; signed in without them",
                     "look like someone enrolled" if duplicate else "gave no sample")
            return self._sign_in((), "", note=T.FACE_NOT_KEPT)
        return self._sign_in(samples, model_version)

    def samples_failed(self, error: BaseException) -> DeskState:
        """The samples could not be made: sign in without face data."""
        if self.state.step is not Step.SAVING:
            return self.state
        log.warning("desk: the visitor's photos could not be prepared (%s)", error)
        self.capture = None
        return self._sign_in((), "", note=T.FACE_NOT_KEPT)

    def _sign_in(self, samples: Sequence[NewSample], model_version: str, note: str = "") -> DeskState:
        s = self.state
        agreement = s.agreement
        assert agreement is not None
        consent = bool(samples)
        form = SignInForm(s.name, s.company, s.host.id if s.host else None, agreement.version, face_consent=consent,
                          agreement_language=self.language())
        try:
            result = self.desk.sign_in(form, samples, model_version)
        except _FAILURES as exc:
            log.warning("desk: sign-in failed: %s", exc)
            if agreement.version != self.desk.agreement().version:
                return self._go(Step.AGREEMENT, agreement=self.desk.agreement(), message=T.AGREEMENT_CHANGED)
            return self._go(Step.PROBLEM, message=T.FAILED)
        note = note or (T.FACE_KEPT if result.has_face else "")
        return self._go(Step.DONE, face_consent=result.has_face, note=note, person_id=result.person_id,
                        visit_id=result.visit_id)

    # -- the expected list ---------------------------------------------------------------------------

    def expected_matches(self, query: str) -> list[Invitation]:
        """Today's expected guests matching what the visitor typed: nobody before
        EXPECTED_MIN_LETTERS letters (the list is never shown whole)."""
        self.touched()
        return search(query, self.desk.expected_to_pick(), lambda i: i.name, min_letters=EXPECTED_MIN_LETTERS)

    def pick(self, invitation: Invitation) -> DeskState:
        """"This is me": the agreement, then signed in."""
        self.touched()
        return self._go(Step.AGREEMENT, invitation=invitation, name=invitation.name, company=invitation.company,
                        agreement=self.desk.agreement())

    def _arrive(self, invitation: Invitation) -> DeskState:
        agreement = self.state.agreement
        assert agreement is not None
        try:
            done = self.desk.arrive(invitation.id, agreement.version, self.language())
        except _FAILURES as exc:
            log.warning("desk: arrival of invitation %d failed: %s", invitation.id, exc)
            if agreement.version != self.desk.agreement().version:
                return self._go(Step.AGREEMENT, agreement=self.desk.agreement(), message=T.AGREEMENT_CHANGED)
            already = invitation.id not in {i.id for i in self.desk.expected_to_pick()}
            return self._go(Step.PROBLEM, message=T.NOT_EXPECTED_NOW if already else T.FAILED)
        host = Host(invitation.host_id, invitation.host_name) if invitation.host_id is not None else None
        return self._go(Step.DONE, host=host, person_id=invitation.person_id, visit_id=done.visit_id,
                        face_consent=invitation.has_face)

    # -- leaving ----------------------------------------------------------------------------------------

    def observe(self, faces: Sequence[TrackedFace]) -> DeskState:
        """One analysed frame while LEAVING: the first confident recognition signs them out."""
        if self.state.step is not Step.LEAVING:
            return self.state
        who = recognised_face(faces)
        if who is None:
            return self.state
        return self._sign_out(who.person_id, who.name)

    def leave_by_name(self) -> DeskState:
        """"Sign out with my name" (from LEAVING): the name search, empty."""
        self.touched()
        if self.state.step is not Step.LEAVING:
            return self.state
        return self._go(Step.LEAVING_NAME)

    def leaving_matches(self, query: str) -> list[OnSite]:
        """Visitors signed in now whose name matches what the visitor typed: nobody before
        EXPECTED_MIN_LETTERS letters (who is inside is never shown whole)."""
        self.touched()
        return search(query, self.desk.visitors_on_site(), lambda row: row.name, min_letters=EXPECTED_MIN_LETTERS)

    def pick_leaving(self, row: OnSite) -> DeskState:
        """"This is me" on LEAVING_NAME: their open visits are closed."""
        self.touched()
        if self.state.step is not Step.LEAVING_NAME:
            return self.state
        return self._sign_out(row.person_id, row.name)

    def _sign_out(self, person_id: int, name: str) -> DeskState:
        try:
            closed = self.desk.sign_out_person(person_id, "kiosk")
        except _FAILURES as exc:
            log.warning("desk: sign-out of person %d failed: %s", person_id, exc)
            return self._go(Step.PROBLEM, message=T.FAILED)
        return self._go(Step.LEFT, name=name, person_id=person_id, note=T.SIGNED_OUT if closed else T.NOT_SIGNED_IN)

    # -- time --------------------------------------------------------------------------------------------

    def tick(self) -> DeskState:
        """Timeouts: result cards end, an abandoned journey is cleared."""
        now = self.clock()
        step, t = self.state.step, self.timing
        if step is Step.IDLE:
            return self.state
        if step in (Step.DONE, Step.LEFT, Step.PROBLEM):
            return self.cancel() if now - self.state.since >= t.result_s else self.state
        if step is Step.LEAVING:
            if now - self.state.since >= t.leaving_s:
                return self._go(Step.PROBLEM, message=T.NOT_RECOGNISED)
            return self.state
        if step is Step.SAVING:
            if now - self.state.since >= t.saving_s:
                return self.samples_failed(TimeoutError("no templates"))
            return self.state
        if now - self._active_at >= t.touch_timeout_s:
            log.info("desk: %s untouched for %.0f s; back to the start", step.value, t.touch_timeout_s)
            return self.cancel()
        return self.state
