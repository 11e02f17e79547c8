"""The people writes both backends run as written, through kiosk.gallery.shared_sql's hooks:
enrolling (one transaction, audited), adding and replacing photos, erasing a person or a
photo, the row counts; and the rules for a new person and for changed details. One home, so
SQLite and PostgreSQL cannot drift apart. What differs stays with each backend: how faces are
stored and read back, sealing rows (PostgreSQL), searching, retention and scrubbing.

The audit log gets ids and counts, never a name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kiosk.errors import GalleryError
from kiosk.gallery.api import (
    PERSON_FIELDS,
    NewSample,
    Person,
    PersonDetails,
    clean_name,
    new_uid,
    now_iso,
    resolve_person,
    resolve_person_by_name,
    samples_added,
)
from kiosk.gallery.frontdesk_api import person_kind
from kiosk.gallery.shared_sql import SharedSql
from kiosk.security.audit import AuditAction

_TEXT_FIELDS = ("name", "company", "host", "notes")  # free text: cleaned as a name is


class PeopleSql(SharedSql):
    """The people writes and look-ups of a backend that provides the shared SQL's hooks and
    `_people_query`."""

    _CASELESS_LIKE = "LIKE"  # SQLite's LIKE ignores case already (ASCII); PostgreSQL's is ILIKE

    def _people_query(self, where: str, params: tuple[Any, ...]) -> list[Person]:
        """People (`where`: a clause on `people p`, `?` placeholders), by name: the backend's read."""
        raise NotImplementedError

    def get_person(self, person_id: int) -> Person:
        """One person, or GalleryError if there is none with that id."""
        if not 0 < person_id < 2**63:  # both backends' ids; beyond them there is nobody (not an OverflowError)
            raise GalleryError(f"no person with id {person_id}")
        rows = self._people_query("WHERE p.id = ?", (person_id,))
        if not rows:
            raise GalleryError(f"no person with id {person_id}")
        return rows[0]

    def find_people(self, name: str) -> list[Person]:
        """People whose name equals `name` (case-insensitive)."""
        return self._people_query("WHERE lower(p.name) = lower(?)", (name.strip(),))

    def people(self, search: str = "") -> list[Person]:
        """Everyone, by name; `search` filters on name, company and host (any case)."""
        if search:
            like, op = f"%{search.strip()}%", self._CASELESS_LIKE
            return self._people_query(f"WHERE p.name {op} ? OR p.company {op} ? OR p.host {op} ?", (like,) * 3)
        return self._people_query("", ())

    def resolve(self, ref: str) -> Person:
        """A person by id ("12") or by exact name (kiosk.gallery.api.resolve_person)."""
        return resolve_person(self, ref)

    def resolve_name(self, name: str) -> Person:
        """The one person with this exact name (kiosk.gallery.api.resolve_person_by_name)."""
        return resolve_person_by_name(self, name)

    def add_person(self, details: PersonDetails, samples: list[NewSample], model_version: str) -> int:
        """Create a person with their samples and templates in one transaction; returns the id."""
        return self.add_people([(details, samples)], model_version)[0]

    def add_people(self, people: list[tuple[PersonDetails, list[NewSample]]], model_version: str, *,
                   imported: bool = False) -> list[int]:
        """Create several people in one transaction (an import): all of them, or none. Each is
        logged as enrolled, or (`imported`: a gallery copy) the batch once, by its caller."""
        stamp = now_iso()
        ids: list[int] = []
        for details, samples in people:
            _check_new_person(details, samples)
        with self._sql_write("enrolling") as tx:
            for details, samples in people:
                # The kind only for a visitor (staff is the column's default, as in every schema).
                kind = () if person_kind(details.kind) == "staff" else (details.kind,)
                kind_column, kind_value = (", kind", ",?") if kind else ("", "")
                ids.append(int(tx.run(
                    "INSERT INTO people(name, company, host, notes, consent_at, consent_text, retention_until,"
                    f" created_at, updated_at, uid{kind_column}) VALUES (?,?,?,?,?,?,?,?,?,?{kind_value})"
                    " RETURNING id",
                    (clean_name(details.name), clean_name(details.company), clean_name(details.host),
                     clean_name(details.notes), details.consent_at, details.consent_text,
                     details.retention_until, stamp, stamp, details.uid or new_uid(), *kind))[0][0]))
                tx.insert_samples(ids[-1], samples, model_version, stamp)
                if not imported:
                    tx.audit(AuditAction.ENROLL, f"person {ids[-1]}",
                             {"samples": len(samples), "consent": bool(details.consent_at)})
        self._sql_changed(scrub=False)
        return ids

    def add_samples(self, person_id: int, samples: list[NewSample], model_version: str, *,
                    replacing: Sequence[int] = ()) -> None:
        """Add samples (and their templates) to an existing person, atomically; `replacing`: ids of
        that person's samples deleted in the same transaction (SQLite zeroes them, secure_delete;
        the files are not compacted here: that is for erasing a person)."""
        self.get_person(person_id)
        stamp = now_iso()
        with self._sql_write("adding photos") as tx:
            for sample_id in replacing:
                tx.run("DELETE FROM samples WHERE id=? AND person_id=?", (int(sample_id), person_id))
            tx.insert_samples(person_id, samples, model_version, stamp)
            tx.run("UPDATE people SET updated_at=? WHERE id=?", (stamp, person_id))
            tx.audit(AuditAction.UPDATE, f"person {person_id}", samples_added(samples, replacing))
        self._sql_changed(scrub=False)

    def remove_person(self, person_id: int) -> bool:
        """Erase a person: details, samples, crops, templates and visits, from the files too.

        The backend then scrubs (SQLite: deleted pages zeroed, the WAL cut and the file
        vacuumed; PostgreSQL: VACUUM). Returns False when that was incomplete (the deletion
        itself is committed).
        """
        self.get_person(person_id)
        with self._sql_write("removing a person") as tx:
            n = tx.run("SELECT count(*) FROM samples WHERE person_id=?", (person_id,))[0][0]
            tx.run("DELETE FROM people WHERE id=?", (person_id,))
            tx.audit(AuditAction.REMOVE, f"person {person_id}", {"samples": int(n)})
        return self._sql_changed(scrub=True)

    def remove_sample(self, sample_id: int) -> None:
        """Delete one sample and its templates."""
        with self._sql_write("removing a photo") as tx:
            rows = tx.run("SELECT person_id FROM samples WHERE id=?", (sample_id,))
            tx.run("DELETE FROM samples WHERE id=?", (sample_id,))
            if rows:
                tx.audit(AuditAction.UPDATE, f"person {rows[0][0]}", {"sample_removed": sample_id})
        self._sql_changed(scrub=True)

    def counts(self, person_id: int | None = None) -> dict[str, int]:
        """Row counts of the main tables (of one person's rows when `person_id` is given)."""
        out = {}
        for table in ("people", "samples", "templates", "visits"):
            if person_id is None:
                out[table] = int(self._sql_rows(f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608 - fixed names
            else:
                column = "id" if table == "people" else "person_id"
                out[table] = int(self._sql_rows(f"SELECT count(*) FROM {table} WHERE {column}=?",  # noqa: S608
                                                (person_id,))[0][0])
        return out


def person_changes(fields: dict[str, str | None]) -> dict[str, str | None]:
    """The checked, cleaned details of an `update_person` (every backend's): GalleryError for an
    unknown field or an empty name."""
    unknown = set(fields) - set(PERSON_FIELDS)
    if unknown:
        raise GalleryError(f"unknown person field(s): {', '.join(sorted(unknown))}")
    cleaned = {k: clean_name(v) if isinstance(v, str) and k in _TEXT_FIELDS else v for k, v in fields.items()}
    if "name" in cleaned and not cleaned["name"]:
        raise GalleryError("a person needs a name")
    return cleaned


def _check_new_person(details: PersonDetails, samples: list[NewSample]) -> None:
    name = clean_name(details.name)
    if not name:
        raise GalleryError("a person needs a name")
    if not samples:
        raise GalleryError(f"{name}: no usable face sample, nothing enrolled")

