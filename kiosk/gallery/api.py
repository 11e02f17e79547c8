"""The gallery's public, backend-neutral API: typed rows and the operations every backend offers.

The app (enrollment, check-in, the CLI, the GUI) only uses what is here; the SQLite backend
(kiosk.gallery.sqlite) and the PostgreSQL one implement it, and the same contract tests run
against both. Rows come back as frozen dataclasses, never as tuples or dicts.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from kiosk.errors import GalleryError
from kiosk.gallery.frontdesk_api import FrontDeskStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from kiosk.security.audit import AuditTail
    from kiosk.security.audit_anchor import GalleryGuard


def now_iso() -> str:
    """Local time with offset, to the second (what a receptionist reads)."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def new_uid() -> str:
    """A new stable person id (32 hex characters, random)."""
    return uuid.uuid4().hex


MAX_TEXT = 500  # characters in a name, company, host or note


def clean_name(text: str) -> str:
    """A name or detail as stored: control characters (terminal escapes, NULs, newlines) removed,
    runs of white space folded, at most MAX_TEXT characters."""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(kept.split())[:MAX_TEXT]


def storable(text: str) -> str:
    """Text the database can store: bytes of a file name that are not UTF-8 (lone surrogates
    in Python) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# A host's contact lives in the host field itself, as people write it: "Grace Hopper
# <grace@example.com>", or an apprise URL after the name ("Ops desk, ntfy://ntfy.lan/ops").
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_URL = re.compile(r"\b[a-z][a-z0-9+]{1,20}://[^\s,;<>]+")


def host_contacts(host: str) -> list[str]:
    """The contacts written in a host field: apprise URLs, then e-mail addresses not inside them."""
    urls = _URL.findall(host)
    rest = _URL.sub(" ", host)
    return [*urls, *(e for e in _EMAIL.findall(rest) if e not in urls)]


def unique_contacts(*fields: str | None) -> list[str]:
    """The contacts written in several fields (a person's host field, their host's own contact),
    each once, in order."""
    out: list[str] = []
    for text in fields:
        out.extend(c for c in host_contacts(text or "") if c not in out)
    return out


@dataclass(frozen=True)
class PersonDetails:
    """What is known about a person besides their face (what the receptionist types)."""

    name: str
    company: str = ""
    host: str = ""
    notes: str = ""
    consent_text: str = ""
    consent_at: str | None = None
    retention_until: str | None = None  # ISO date; past it the person is purged
    kind: str = "staff"  # "staff" or "visitor" (kiosk.gallery.frontdesk_api, schema version 7)
    uid: str | None = None  # a stable id kept across copies (None: a new random one)


#: The person fields `update_person` may change (one list, used by every backend).
PERSON_FIELDS = ("name", "company", "host", "notes", "consent_at", "consent_text", "retention_until")


@dataclass(frozen=True)
class Person:
    """One enrolled person (no biometric data)."""

    id: int
    name: str
    company: str = ""
    host: str = ""
    notes: str = ""
    consent_at: str | None = None
    consent_text: str = ""
    retention_until: str | None = None
    created_at: str = ""
    updated_at: str = ""
    last_seen: str | None = None
    n_samples: int = 0
    n_templates: int = 0
    # The front desk's (schema version 7, kiosk.gallery.frontdesk_api): staff or visitor, whether
    # a staff member is a host and their notification contact, a visitor's host, and the visitor
    # agreement they accepted (schema version 8: and the language they read it in, a code like "de").
    kind: str = "staff"
    is_host: bool = False
    contact: str = ""
    host_id: int | None = None
    agreement_version: str = ""
    agreement_at: str | None = None
    uid: str = ""  # stable across copies between galleries (schema version 6)
    edited: bool = False  # the row was changed outside face-kiosk (its MAC fails): never greeted
    agreement_language: str = ""

    @property
    def details(self) -> PersonDetails:
        """The editable details."""
        return PersonDetails(self.name, self.company, self.host, self.notes, self.consent_text,
                             self.consent_at, self.retention_until, self.kind)


@dataclass(frozen=True)
class NewTemplate:
    """A template to store: which kind, which model made it, the vector and its quality."""

    kind: str
    embedding: np.ndarray
    quality: float = 0.0


@dataclass(frozen=True)
class NewSample:
    """One enrollment sample: its crops (kept so templates can be re-made) and its templates."""

    aligned: np.ndarray  # 112x112x3 RGB uint8
    templates: list[NewTemplate]
    source: str = ""
    quality: float = 0.0
    masked: bool = False
    face_crop: np.ndarray | None = None  # 256x256x3 upright loose crop (to align again later)


@dataclass(frozen=True)
class StoredTemplate:
    """A template as stored."""

    kind: str
    model_version: str
    embedding: np.ndarray  # (D,) float32, unit length
    quality: float


@dataclass(frozen=True)
class Sample:
    """A stored sample."""

    id: int
    person_id: int
    aligned: np.ndarray  # 112x112x3
    face_crop: np.ndarray | None  # 256x256x3; None for samples from before schema version 2
    source: str
    quality: float
    masked: bool
    templates: tuple[StoredTemplate, ...] = ()


@dataclass(frozen=True)
class Visit:
    """One row of the visit log: a check-in (person set) or an unknown visitor."""

    id: int
    ts: str  # local ISO time with offset
    kind: str  # "checkin", "unknown" or "sign_in" (signed in by touch: kiosk.gallery.frontdesk_api)
    person_id: int | None
    name: str | None  # the person's name (None for an unknown visitor, or someone since removed)
    score: float | None
    masked: bool
    source: str
    site: str = ""  # which site and kiosk saw them (schema version 4; "" before)
    kiosk: str = ""
    event_id: str | None = None  # unique per visit: a repeated write is ignored
    signed_out_at: str | None = None  # when they left (schema version 7; None: still inside)
    signed_out_how: str = ""  # kiosk, exit_camera, receptionist or end_of_day
    edited: bool = False  # the row was changed outside face-kiosk (its MAC fails)


#: The columns of a person row every backend selects (`p` is people); `person_from_row` reads them.
PERSON_COLUMNS = ("p.id, p.name, p.company, p.host, p.notes, p.consent_at, p.consent_text,"
                  " p.retention_until, p.created_at, p.updated_at, p.last_seen,"
                  " (SELECT count(*) FROM samples s WHERE s.person_id = p.id),"
                  " (SELECT count(*) FROM templates t WHERE t.person_id = p.id),"
                  " p.kind, p.is_host, p.contact, p.host_id, p.agreement_version, p.agreement_at, p.uid,"
                  " p.agreement_language")


def person_from_row(row: tuple[Any, ...]) -> Person:
    """A Person from a row of PERSON_COLUMNS (either backend)."""
    return Person(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10], row[11],
                  row[12], kind=row[13], is_host=bool(row[14]), contact=row[15], host_id=row[16],
                  agreement_version=row[17], agreement_at=row[18], uid=row[19] or "",
                  agreement_language=row[20])


#: The columns of a visit row every backend selects (`v` is visits, `p` its person).
VISIT_COLUMNS = ("v.id, v.ts, v.kind, v.person_id, p.name, v.score, v.masked, v.source, v.site, v.kiosk,"
                 " v.event_id, v.signed_out_at, v.signed_out_how")


def visit_from_row(row: tuple[Any, ...]) -> Visit:
    """A Visit from a row of VISIT_COLUMNS (either backend)."""
    return Visit(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7], row[8], row[9], row[10],
                 row[11], row[12] or "")


@dataclass(frozen=True)
class TemplateSet:
    """All templates of one model version, ready for matching."""

    model_version: str
    person_ids: np.ndarray  # (n,) int64
    kinds: np.ndarray  # (n,) str
    matrix: np.ndarray  # (n, D) float32, rows L2-normalised
    names: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.person_ids)

    @property
    def n_people(self) -> int:
        """Distinct people with at least one template."""
        return len(np.unique(self.person_ids))

    def without(self, person_id: int) -> TemplateSet:
        """The same set without one person (the one samples are being added to)."""
        keep = self.person_ids != person_id
        return TemplateSet(self.model_version, self.person_ids[keep], self.kinds[keep], self.matrix[keep], self.names)


class GalleryStore(FrontDeskStore, Protocol):
    """What every gallery backend offers. Writes are transactional: all or nothing.

    The front desk's operations (visitors, hosts, invitations, sign-outs) are in
    kiosk.gallery.frontdesk_api.FrontDeskStore."""

    @property
    def schema_version(self) -> int: ...

    @property
    def path(self) -> Path | str:
        """Where the gallery is, for messages: its file, or its URL without the password."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> GalleryStore: ...

    def __exit__(self, *exc: object) -> None: ...

    def data_version(self) -> int:
        """A number that changes whenever any process changed the gallery."""
        ...

    # people
    def add_person(self, details: PersonDetails, samples: list[NewSample], model_version: str) -> int: ...

    def add_people(self, people: list[tuple[PersonDetails, list[NewSample]]], model_version: str, *,
                   imported: bool = False) -> list[int]: ...

    def add_samples(self, person_id: int, samples: list[NewSample], model_version: str, *,
                    replacing: Sequence[int] = ()) -> None:
        """Add samples to a person in one audited transaction; `replacing`: ids of that person's
        samples deleted in the same transaction (a learned sample taking the oldest one's place)."""
        ...

    def update_person(self, person_id: int, **fields: str | None) -> None: ...

    def remove_person(self, person_id: int) -> bool:
        """Erase the person (details, samples, crops, templates, visits). False when the deletion
        is committed but old copies may linger (a reader held the file; a vacuum failed)."""
        ...

    def remove_sample(self, sample_id: int) -> None: ...

    def get_person(self, person_id: int) -> Person: ...

    def find_people(self, name: str) -> list[Person]: ...

    def contacts_for(self, person_id: int) -> list[str]:
        """The person's host contacts (e-mail addresses or apprise URLs), for notifications."""
        ...

    def resolve(self, ref: str) -> Person:
        """The person an id or an exact name names (GalleryError when none or several)."""
        ...

    def resolve_name(self, name: str) -> Person:
        """The one person with this exact name, case-insensitive (GalleryError otherwise)."""
        ...

    def people(self, search: str = "") -> list[Person]: ...

    # samples and templates
    def samples(self, person_id: int | None = None, *, with_templates: bool = False) -> list[Sample]: ...

    def thumbnail(self, person_id: int) -> np.ndarray | None: ...

    def templates(self, model_version: str) -> TemplateSet: ...

    def model_versions(self) -> dict[str, int]: ...

    def people_without(self, model_version: str) -> int: ...

    def replace_templates(self, model_version: str, per_sample: dict[int, list[NewTemplate]],
                          crops: dict[int, np.ndarray] | None = None) -> None: ...

    # visits
    def record_visit(self, person_id: int | None, kind: str, score: float | None = None,
                     masked: bool = False, source: str = "", ts: str | None = None, *,
                     site: str | None = None, kiosk: str | None = None, event_id: str | None = None) -> int: ...

    def visits(self, day: dt.date | None = None, *, site: str | None = None,
               kiosk: str | None = None) -> list[Visit]: ...

    # settings (the admin PIN, the lockout)
    def get_setting(self, key: str) -> str | None: ...

    def set_setting(self, key: str, value: str) -> None: ...

    def counts(self, person_id: int | None = None) -> dict[str, int]: ...

    # privacy: retention, the audit log, the secret the gallery's MACs derive from
    def purge_expired(self, today: dt.date, visits_retention_days: int) -> tuple[int, int]: ...

    def record_event(self, action: Any, subject: str = "", details: dict[str, Any] | None = None) -> None: ...

    def audit_records(self) -> list[Any]: ...

    def verify_audit(self) -> Any: ...

    def recover_audit(self) -> Any:
        """Accept a broken audit log: a record says what was wrong; writes are possible again."""
        ...

    def audit_tail(self, actions: tuple[str, ...] = ()) -> AuditTail:
        """The end of the audit log: newest record, sealed head, newest of each of `actions`."""
        ...

    def seal_settings(self, make: Callable[[int], dict[str, str]], action: Any = None, subject: str = "",
                      details: dict[str, Any] | None = None, *, audit_required: bool = True) -> int:
        """Settings sealed at a point of the audit log, written with its record in one transaction."""
        ...

    @property
    def guard(self) -> GalleryGuard:
        """What this computer last saw of the gallery (kiosk.security.audit_anchor)."""
        ...

    def own_files(self) -> tuple[Path, ...]:
        """The files this gallery keeps on this computer (itself, its keys, salt, spool): an
        export or a CSV must never replace one."""
        ...

    @property
    def integrity_key(self) -> bytes: ...

    @property
    def gallery_id(self) -> str: ...


def samples_added(samples: Sequence[NewSample], replacing: Sequence[int] = ()) -> dict[str, Any]:
    """The audit details of `add_samples` (every backend records the same)."""
    details: dict[str, Any] = {"samples_added": len(samples)}
    if replacing:
        details["samples_replaced"] = [int(s) for s in replacing]
    return details


class PeopleLookup(Protocol):
    """The part of a GalleryStore that finding a person needs (a backend's people part alone
    has it: the backends are built in parts)."""

    def get_person(self, person_id: int) -> Person: ...

    def find_people(self, name: str) -> list[Person]: ...


def resolve_person(store: PeopleLookup, ref: str) -> Person:
    """A person by id ("12") or by exact name (every backend's `resolve`); errors when missing,
    ambiguous, or when `ref` is an id and also somebody's name."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():
        if store.find_people(ref):
            raise GalleryError(f"{ref!r} is both an id and a name here; say which (--id or --name)")
        return store.get_person(int(ref))
    return resolve_person_by_name(store, ref)


def resolve_person_by_name(store: PeopleLookup, name: str) -> Person:
    """The one person with this exact name, case-insensitive (every backend's `resolve_name`)."""
    found = store.find_people(name)
    if not found:
        raise GalleryError(f"no person named {name.strip()!r}")
    if len(found) > 1:
        ids = ", ".join(str(p.id) for p in found)
        raise GalleryError(f"{len(found)} people are named {name.strip()!r} (ids {ids}); use an id")
    return found[0]
