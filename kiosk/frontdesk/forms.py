"""What the front desk is handed and hands back: typed forms and results (no logic here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kiosk.events.event import KioskEvent
from kiosk.gallery.frontdesk_api import Host, Invitation


@dataclass(frozen=True)
class AgreementTexts:
    """What a first-time visitor reads before signing in, with its version (stored with them).
    The retention periods are filled in ({visit_days}, {face_days} in the configured texts);
    `language` is the one the texts are in ("": as configured)."""

    version: str
    agreement: str
    privacy: str
    face_consent: str
    visit_days: int
    face_days: int
    language: str = ""


@dataclass(frozen=True)
class SignInForm:
    """A first-time visitor's sign-in at the kiosk.

    `agreement_version` is the version of the texts the visitor was shown (AgreementTexts.version);
    a sign-in with another version is refused (the texts changed while they read them).
    `agreement_language` is the language they read them in (a code: "en", "de"); it is stored
    with the version, since the version alone does not say which translation was accepted.
    `face_consent` is the separate "recognise me next time" tick: only with it may samples come."""

    name: str
    company: str = ""
    host_id: int | None = None
    agreement_version: str = ""
    face_consent: bool = False
    agreement_language: str = ""


@dataclass(frozen=True)
class SignInResult:
    """A completed sign-in: the visitor, their visit, whether face data was stored, their host,
    and the event published (the host's notification goes from it)."""

    person_id: int
    visit_id: int
    has_face: bool
    host: Host | None
    event: KioskEvent | None


@dataclass(frozen=True)
class InvitationForm:
    """An expected visitor: name, host, day, company (`face-kiosk invite`, the CSV, the GUI)."""

    name: str
    host_id: int
    day: dt.date
    company: str = ""


@dataclass(frozen=True)
class ArrivalResult:
    """An invited guest arrived: the invitation (now arrived), their visit and the event."""

    invitation: Invitation
    visit_id: int | None
    event: KioskEvent | None


@dataclass(frozen=True)
class SignOutResult:
    """The visits a sign-out closed, and whose they were."""

    visit_ids: tuple[int, ...]
    person_ids: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.visit_ids)


@dataclass(frozen=True)
class ImportLine:
    """One line of an invitations CSV: what became of it (`error` empty when invited)."""

    line: int
    name: str
    invitation_id: int | None = None
    error: str = ""


@dataclass(frozen=True)
class ImportReport:
    """An invitations CSV: a result per data line, in order."""

    lines: tuple[ImportLine, ...]

    @property
    def invited(self) -> int:
        """Lines that became invitations."""
        return sum(1 for line in self.lines if line.invitation_id is not None)

    @property
    def errors(self) -> tuple[ImportLine, ...]:
        """Lines refused, each with its reason."""
        return tuple(line for line in self.lines if line.error)
