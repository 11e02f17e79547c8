"""The front desk's part of the gallery API (schema version 7): typed rows and the operations
every backend offers for visitors, hosts, invitations, self sign-ins and sign-outs.

The data model in short (docs/front-desk.md has the whole of it):

- A person has a kind: `staff` (enrolled by the receptionist) or `visitor` (signed in at the
  kiosk, or invited). A staff member may be a host (`is_host`), with a `contact` (an e-mail
  address or an apprise URL) that their visitors' notifications go to. A visitor names their
  host by id (`host_id`; the host's erasure sets it to NULL).
- A visitor without face consent is a person row with no samples and no templates: the same
  row, the same erasure (`remove_person`), the same retention (`retention_until`) as everyone.
  The visitor agreement they accepted is stored as its version, language and time.
- A visit (the existing `visits` table) gets a sign-out time and how (kiosk button, exit
  camera, receptionist, end of day). A self sign-in or a pick from the expected list is a visit
  of kind `sign_in`; a face recognised is a `checkin`, as before.
- An invitation names a visitor person, their host and a day; its status is expected, arrived
  (with the visit that marked it) or cancelled; a no-show is an expected invitation whose day
  is over (derived, never stored).

Everything here is plain data: no SQL, no names of backends. Both backends implement it with the
SQL of kiosk.gallery.frontdesk_sql, run through their kiosk.gallery.shared_sql hooks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, get_args

if TYPE_CHECKING:
    from kiosk.gallery.api import NewSample, Visit

PersonKind = Literal["staff", "visitor"]
PERSON_KINDS: tuple[str, ...] = get_args(PersonKind)
STAFF: PersonKind = "staff"
VISITOR: PersonKind = "visitor"

#: visits.kind of a visit signed in by touch (a self sign-in, or a name picked from the expected
#: list, or the receptionist signing someone in); "checkin" (a face recognised) and "unknown"
#: are kiosk.checkin.visits'.
SIGN_IN = "sign_in"

def person_kind(kind: str) -> PersonKind:
    """`kind` checked to be a person kind (ValueError otherwise)."""
    if kind not in PERSON_KINDS:
        raise ValueError(f"a person's kind is one of {', '.join(PERSON_KINDS)}, not {kind!r}")
    return STAFF if kind == STAFF else VISITOR


SignOutHow = Literal["kiosk", "exit_camera", "receptionist", "end_of_day"]
SIGN_OUT_HOW: tuple[str, ...] = get_args(SignOutHow)

InvitationStatus = Literal["expected", "arrived", "cancelled"]
INVITATION_STATUSES: tuple[str, ...] = get_args(InvitationStatus)


@dataclass(frozen=True)
class Host:
    """A staff member visitors can name as their host (the kiosk's type-ahead list)."""

    id: int
    name: str
    company: str = ""
    contact: str = ""  # e-mail address or apprise URL their visitors' notifications go to


@dataclass(frozen=True)
class NewVisitor:
    """A visitor to store (self sign-in or invitation). `retention_until` is an ISO date.

    `agreement_version` is the visitor agreement and privacy text's version they accepted
    ("" for an invitation: they accept it at the kiosk), `agreement_language` the language they
    read it in (a code: "en", "de"). `face_consent_text` is the wording of the "recognise me
    next time" consent they ticked; "" means no consent, and then no sample may come with them."""

    name: str
    company: str = ""
    host_id: int | None = None
    agreement_version: str = ""
    face_consent_text: str = ""
    retention_until: str | None = None
    notes: str = ""
    uid: str | None = None  # a stable id kept across copies (schema 6; None: a new random one)
    agreement_language: str = ""


@dataclass(frozen=True)
class VisitStamp:
    """Where and when a visit happened (a sign-in written with the visitor, one transaction)."""

    ts: str  # local ISO time with offset
    site: str = ""
    kiosk: str = ""
    event_id: str | None = None


@dataclass(frozen=True)
class VisitorAdded:
    """What `add_visitor` wrote: the person and, when asked for, their visit and invitation."""

    person_id: int
    visit_id: int | None = None
    invitation_id: int | None = None


@dataclass(frozen=True)
class Invitation:
    """An expected visitor on a day. `no_show` is derived by `is_no_show`, never stored."""

    id: int
    person_id: int
    name: str
    company: str
    host_id: int | None
    host_name: str  # "" when the host was erased
    day: str  # ISO date
    status: InvitationStatus
    visit_id: int | None  # the visit that marked the arrival
    has_face: bool  # the visitor has templates (is recognised on arrival)
    created_at: str = ""
    arrived_at: str | None = None  # the arrival visit's time

    def is_no_show(self, now: dt.datetime, no_show_after: dt.time) -> bool:
        """Still expected once the day is over, or on the day after `no_show_after`."""
        if self.status != "expected":
            return False
        day = dt.date.fromisoformat(self.day)
        return day < now.date() or (day == now.date() and now.time() >= no_show_after)


@dataclass(frozen=True)
class SelfSignIn:
    """A visit signed in by touch, as the receptionist's list shows it (with undo)."""

    visit_id: int
    person_id: int
    name: str
    company: str
    host_id: int | None
    host_name: str
    ts: str
    kiosk: str
    has_face: bool  # face consent given and samples stored
    agreement_version: str
    signed_out_at: str | None = None
    agreement_language: str = ""


@dataclass(frozen=True)
class OnSite:
    """One person inside now: their open visit of the day (the newest when several)."""

    person_id: int
    name: str
    kind: PersonKind
    company: str
    host_id: int | None
    host_name: str
    arrived_at: str  # the first open visit's time that day
    visit_id: int  # the newest open visit (what a sign-out from the list closes)
    kiosk: str
    site: str


@dataclass(frozen=True)
class UndoneSignIn:
    """What undoing a self sign-in removed."""

    visit_id: int
    person_id: int
    person_erased: bool  # the sign-in had created the person, so they are gone altogether
    scrubbed: bool  # the deleted rows left the files too (see GalleryStore.remove_person)


class FrontDeskStore(Protocol):
    """The front desk's operations of a gallery backend. Writes are transactional and audited
    (ids only, never names); erasure and retention cover every row here."""

    def add_visitor(self, visitor: NewVisitor, samples: list[NewSample], model_version: str, *,
                    sign_in: VisitStamp | None = None, invite_day: dt.date | None = None) -> VisitorAdded:
        """Create a visitor (kind visitor), with samples only when they consented
        (`face_consent_text` set; GalleryError otherwise), optionally their `sign_in` visit and
        an invitation for `invite_day`, in one transaction."""
        ...

    def set_visitor_host(self, person_id: int, host_id: int | None) -> None:
        """Who a visitor (or anyone) is here to see; None clears it."""
        ...

    def accept_agreement(self, person_id: int, version: str, at: str, language: str = "") -> None:
        """Record that the person accepted the visitor agreement `version`, read in `language`, at `at`."""
        ...

    def set_host(self, person_id: int, is_host: bool, contact: str = "") -> None:
        """Mark a staff member as a host (or not), with their notification contact."""
        ...

    def hosts(self, search: str = "") -> list[Host]:
        """Staff marked as hosts, by name; `search` matches a part of the name, case-insensitive."""
        ...

    def add_invitation(self, person_id: int, host_id: int | None, day: dt.date) -> int:
        """Invite an existing person for `day` (status expected); returns the invitation id."""
        ...

    def invitations(self, day: dt.date | None = None, *, person_id: int | None = None) -> list[Invitation]:
        """Invitations of one day (all when None), optionally of one person, by name."""
        ...

    def get_invitation(self, invitation_id: int) -> Invitation:
        """One invitation (GalleryError when there is none with that id)."""
        ...

    def set_invitation_status(self, invitation_id: int, status: InvitationStatus,
                              visit_id: int | None = None) -> None:
        """Mark an invitation arrived (with its visit), cancelled, or expected again."""
        ...

    def sign_out(self, *, at: str, how: SignOutHow, visit_id: int | None = None, person_id: int | None = None,
                 before: str | None = None) -> list[int]:
        """Close open visits: one (`visit_id`), a person's (`person_id`), or everyone's that
        started before `before` (an ISO time: the end-of-day sweep). Returns the visit ids closed."""
        ...

    def get_visit(self, visit_id: int) -> Visit:
        """One visit, with its person's name (GalleryError when there is none with that id)."""
        ...

    def on_site(self, day: dt.date) -> list[OnSite]:
        """People with an open visit on `day` (local date), by name."""
        ...

    def self_sign_ins(self, day: dt.date) -> list[SelfSignIn]:
        """The visits of kind sign_in on `day`, newest first."""
        ...

    def undo_sign_in(self, visit_id: int) -> UndoneSignIn:
        """Delete a sign_in visit; when the sign-in created the person (a visitor with no other
        visit and no invitation), erase the person too (samples, templates, consent)."""
        ...

    def purge_invitations(self, before: dt.date) -> int:
        """Delete invitations of days before `before` (retention); returns how many."""
        ...
