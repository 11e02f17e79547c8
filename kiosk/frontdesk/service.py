"""The front desk, Qt-free: first-time sign-in, invitations, arrivals, sign-out and who is on
site. The kiosk screens, the receptionist view, `face-kiosk invite` / `visits` and `watch` all
go through `FrontDesk`; it writes through the gallery (kiosk.gallery.frontdesk_api) and tells
hosts through the event bus (a `sign_in` event; a recognised guest's `arrival` is the kiosk
session's).

Privacy rules kept here, once: no sample is stored without the visitor's face consent; a
visitor's retention date is set from the config (face data: `frontdesk.visitor_retention_days`,
no face data: `privacy.visits_retention_days`); the accepted agreement's version and language
are stored.
Time comes from an injectable clock, so tests never wait for the end of a day.
Call it from one thread (the gallery's writer thread in the GUI).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence

from kiosk.config import Config, FrontDeskConfig
from kiosk.errors import GalleryError
from kiosk.events.event import EventType, KioskEvent
from kiosk.frontdesk.forms import (
    AgreementTexts,
    ArrivalResult,
    InvitationForm,
    SignInForm,
    SignInResult,
    SignOutResult,
)
from kiosk.frontdesk.onsite import OnSiteReport
from kiosk.gallery.api import GalleryStore, NewSample, Person, clean_name
from kiosk.gallery.frontdesk_api import (
    SIGN_IN,
    VISITOR,
    Host,
    Invitation,
    NewVisitor,
    OnSite,
    SelfSignIn,
    SignOutHow,
    UndoneSignIn,
    VisitStamp,
)
from kiosk.i18n import fill, languages, translator

log = logging.getLogger(__name__)

Publish = Callable[[KioskEvent], None]
Clock = Callable[[], dt.datetime]


def local_now() -> dt.datetime:
    """The wall clock as an aware local datetime, to the second (what visits store)."""
    return dt.datetime.now().astimezone().replace(microsecond=0)


class FrontDesk:
    """The front desk's operations on one gallery, for one kiosk (its id goes on the visits and
    events it writes). `publish` sends events (the EventBus's publish); None sends none."""

    def __init__(self, gallery: GalleryStore, config: Config, *, kiosk: str | None = None,
                 publish: Publish | None = None, clock: Clock = local_now) -> None:
        self.gallery = gallery
        self.config = config  # may be swapped for a new one (the settings dialog)
        self.site = config.events.site
        self.kiosk = kiosk or config.events.kiosk
        self.publish = publish
        self.clock = clock

    @property
    def desk(self) -> FrontDeskConfig:
        """The front desk's settings (of the current config)."""
        return self.config.frontdesk

    # -- what a first-time visitor reads and picks -----------------------------------------

    def agreement(self, language: str = "") -> AgreementTexts:
        """The visitor agreement, privacy text and face consent, with their version, in
        `language` (a shipped language's code; "" the configured texts as they are). A text the
        catalog does not have (a site's own wording) stays as configured."""
        visit_days = self.config.privacy.visits_retention_days
        face_days = self.desk.visitor_retention_days
        if language and language not in languages():
            raise GalleryError(f"no visitor texts in the language {language!r}")
        t = translator(language) if language else None
        values = {"visit_days": visit_days, "face_days": face_days}

        def text(msgid: str) -> str:
            return fill(t(msgid) if t is not None else msgid, values)

        return AgreementTexts(self.desk.agreement_version, text(self.desk.agreement_text),
                              text(self.desk.privacy_text), text(self.desk.face_consent_text), visit_days, face_days,
                              language)

    def hosts(self, search: str = "") -> list[Host]:
        """The people a visitor may name as host (type-ahead: a part of the name)."""
        return self.gallery.hosts(search)

    # -- first-time sign-in ------------------------------------------------------------------

    def sign_in(self, form: SignInForm, samples: Sequence[NewSample] = (), model_version: str = "") -> SignInResult:
        """Sign a first-time visitor in: a visitor person (with the guided capture's `samples`
        only when they ticked face consent), their visit (kind sign_in) and the accepted
        agreement version, in one transaction; then the host is told (a `sign_in` event).

        GalleryError (one line, nothing written) for: no name, an unknown host, texts of another
        version, face consent without samples, samples without consent."""
        name = clean_name(form.name)
        if not name:
            raise GalleryError("please enter your name")
        if form.agreement_version != self.desk.agreement_version:
            raise GalleryError("the visitor agreement changed while it was shown; please read it again")
        if form.face_consent and not samples:
            raise GalleryError("recognition was chosen but no photo was taken")
        if samples and not form.face_consent:
            raise GalleryError("photos can only be kept with the visitor's consent")
        if samples and not model_version:
            raise GalleryError("the photos' model version is missing")
        host = self._host(form.host_id) if form.host_id is not None else None
        now = self.clock()
        texts = self.agreement(form.agreement_language)  # the consent as they read it
        visitor = NewVisitor(name, clean_name(form.company), form.host_id, self.desk.agreement_version,
                             texts.face_consent if form.face_consent else "",
                             self._retention(now.date(), bool(samples)), agreement_language=form.agreement_language)
        added = self.gallery.add_visitor(visitor, list(samples), model_version or "none",
                                         sign_in=self._stamp(now))
        assert added.visit_id is not None
        event = self._emit("sign_in", added.person_id, name, now)
        return SignInResult(added.person_id, added.visit_id, bool(samples), host, event)

    def undo_sign_in(self, visit_id: int) -> UndoneSignIn:
        """Undo a sign-in of today (the receptionist's undo): the visit goes, and the person too
        when the sign-in created them (with their face data, if any). Earlier days: GalleryError."""
        today = self.clock().date()
        ours = {s.visit_id for s in self.gallery.self_sign_ins(today)}
        if visit_id not in ours:
            raise GalleryError(f"visit {visit_id} is not a sign-in of today; it cannot be undone")
        return self.gallery.undo_sign_in(visit_id)

    def self_sign_ins(self, day: dt.date | None = None) -> list[SelfSignIn]:
        """Sign-ins by touch of a day (today by default), newest first."""
        return self.gallery.self_sign_ins(day or self.clock().date())

    # -- invitations ---------------------------------------------------------------------------

    def invite(self, form: InvitationForm, samples: Sequence[NewSample] = (), model_version: str = "") -> Invitation:
        """Invite a visitor: a visitor person (with the photo's `samples`, so they are greeted by
        face on arrival) and an invitation for `form.day`, in one transaction. The day may not
        be in the past; the host must be a host."""
        name = clean_name(form.name)
        if not name:
            raise GalleryError("an invitation needs the visitor's name")
        today = self.clock().date()
        if form.day < today:
            raise GalleryError(f"{form.day.isoformat()} is in the past")
        if samples and not model_version:
            raise GalleryError("the photo's model version is missing")
        self._host(form.host_id)
        consent = "photo given with the invitation" if samples else ""
        visitor = NewVisitor(name, clean_name(form.company), form.host_id, "", consent,
                             self._retention(form.day, bool(samples)))
        added = self.gallery.add_visitor(visitor, list(samples), model_version or "none", invite_day=form.day)
        assert added.invitation_id is not None
        return self.gallery.get_invitation(added.invitation_id)

    def expected(self, day: dt.date | None = None) -> list[Invitation]:
        """A day's invitations (today by default) that are not cancelled, by name."""
        return [i for i in self.gallery.invitations(day or self.clock().date()) if i.status != "cancelled"]

    def expected_to_pick(self) -> list[Invitation]:
        """Today's guests still expected: the list an invited guest picks their name from."""
        return [i for i in self.gallery.invitations(self.clock().date()) if i.status == "expected"]

    def no_shows(self, day: dt.date | None = None) -> list[Invitation]:
        """Invitations of a day still expected after `frontdesk.no_show_after` (or the day's end)."""
        now = self.clock()
        return [i for i in self.gallery.invitations(day or now.date()) if i.is_no_show(now, self.desk.no_show_time)]

    def cancel_invitation(self, invitation_id: int) -> None:
        """Cancel an invitation (the visitor's record stays until its retention date)."""
        self.gallery.set_invitation_status(invitation_id, "cancelled")

    def arrive(self, invitation_id: int, agreement_version: str | None = None, language: str = "") -> ArrivalResult:
        """An invited guest picked their name from the expected list: a sign_in visit, the
        invitation marked arrived, the agreement version they accepted (and the `language` they
        read it in) stored, the host told."""
        now = self.clock()
        invitation = self.gallery.get_invitation(invitation_id)
        if invitation.status != "expected":
            raise GalleryError(f"{invitation.name} is not expected any more ({invitation.status})")
        if agreement_version is not None and agreement_version != self.desk.agreement_version:
            raise GalleryError("the visitor agreement changed while it was shown; please read it again")
        visit_id = self.gallery.record_visit(invitation.person_id, SIGN_IN, None, False, self.kiosk,
                                             now.isoformat(timespec="seconds"), site=self.site, kiosk=self.kiosk)
        self.gallery.set_invitation_status(invitation_id, "arrived", visit_id or None)
        if agreement_version is not None:
            self.gallery.accept_agreement(invitation.person_id, agreement_version, now.isoformat(timespec="seconds"),
                                          language)
        event = self._emit("sign_in", invitation.person_id, invitation.name, now)
        return ArrivalResult(self.gallery.get_invitation(invitation_id), visit_id or None, event)

    def recognised(self, person_id: int, visit_id: int | None) -> Invitation | None:
        """A person was greeted by face (the kiosk session calls this with the visit it wrote):
        an invitation of today still expected for them is marked arrived. The host is told by
        the session's own `arrival` event (a visitor's contacts are their host's)."""
        today = self.clock().date()
        for invitation in self.gallery.invitations(today, person_id=person_id):
            if invitation.status == "expected":
                self.gallery.set_invitation_status(invitation.id, "arrived", visit_id)
                return dataclasses.replace(invitation, status="arrived", visit_id=visit_id)
        return None

    # -- sign-out and who is inside ----------------------------------------------------------

    def sign_out_person(self, person_id: int, how: SignOutHow) -> SignOutResult:
        """Close every open visit of a person (Leaving button, exit camera, receptionist)."""
        now = self.clock()
        closed = self.gallery.sign_out(at=now.isoformat(timespec="seconds"), how=how, person_id=person_id)
        if closed:
            self._emit("sign_out", person_id, self.gallery.get_person(person_id).name, now)
        return SignOutResult(tuple(closed), (person_id,) if closed else ())

    def sign_out_visit(self, visit_id: int, how: SignOutHow = "receptionist") -> SignOutResult:
        """Close one visit (the receptionist's list)."""
        now = self.clock()
        closed = self.gallery.sign_out(at=now.isoformat(timespec="seconds"), how=how, visit_id=visit_id)
        if not closed:
            return SignOutResult((), ())
        person = self.gallery.get_visit(visit_id).person_id
        if person is not None:
            self._emit("sign_out", person, self.gallery.get_person(person).name, now)
        return SignOutResult(tuple(closed), () if person is None else (person,))

    def end_of_day(self) -> SignOutResult:
        """Sign out every visit still open from before the last end-of-day moment (today's
        `frontdesk.end_of_day` once it has passed, else yesterday's), at that moment. Nothing
        when the setting is off."""
        cutoff = self.last_end_of_day()
        if cutoff is None:
            return SignOutResult((), ())
        stamp = cutoff.isoformat(timespec="seconds")
        closed = self.gallery.sign_out(at=stamp, how="end_of_day", before=stamp)
        if closed:
            log.info("end of day: %d open visit(s) signed out", len(closed))
        return SignOutResult(tuple(closed), ())

    def last_end_of_day(self) -> dt.datetime | None:
        """The most recent end-of-day moment at or before now (None when the setting is off)."""
        at = self.desk.end_of_day_time
        if at is None:
            return None
        now = self.clock()
        today = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
        return today if now >= today else today - dt.timedelta(days=1)

    def on_site(self) -> OnSiteReport:
        """Who is inside now (open visits of today): the evacuation list."""
        now = self.clock()
        rows = self.gallery.on_site(now.date())
        unknown = sum(1 for v in self.gallery.visits(now.date()) if v.kind == "unknown")
        return OnSiteReport(now, self.site, tuple(sorted(rows, key=lambda r: (r.kind != "staff", r.name.lower()))),
                            unknown)

    def visitors_on_site(self) -> list[OnSite]:
        """Visitors with an open visit of today, by name (the kiosk's sign-out by name picks
        from these; staff are recognised, or signed out at the desk)."""
        return [row for row in self.gallery.on_site(self.clock().date()) if row.kind == VISITOR]

    # -- helpers -----------------------------------------------------------------------------

    def _host(self, host_id: int) -> Host:
        person: Person = self.gallery.get_person(host_id)
        if not person.is_host or person.kind == VISITOR:
            raise GalleryError(f"{person.name} (id {host_id}) is not marked as a host")
        return Host(person.id, person.name, person.company, person.contact)

    def _retention(self, day: dt.date, has_face: bool) -> str:
        days = self.desk.visitor_retention_days if has_face else self.config.privacy.visits_retention_days
        return (day + dt.timedelta(days=days)).isoformat()

    def _stamp(self, now: dt.datetime) -> VisitStamp:
        return VisitStamp(now.isoformat(timespec="seconds"), self.site, self.kiosk)

    def _emit(self, kind: EventType, person_id: int, name: str, now: dt.datetime) -> KioskEvent | None:
        event = KioskEvent(event=kind, t=0.0, track=0, kiosk=self.kiosk, site=self.site, logged=True,
                           person=name[:200], person_id=person_id, time=now.astimezone(dt.timezone.utc))
        if self.publish is not None:
            try:
                self.publish(event)
            except Exception:  # delivery never stops the front desk (the bus itself never raises)
                log.exception("publishing a %s event failed", kind)
        return event
