"""The shared gallery's people and their samples: enrolling (one transaction, audited),
changing, erasing (then VACUUM), retention, and reading them back (crops decrypted)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg

from kiosk.errors import KioskError
from kiosk.gallery.api import (
    PERSON_COLUMNS,
    NewSample,
    Person,
    Sample,
    StoredTemplate,
    now_iso,
    person_from_row,
    storable,
    unique_contacts,
)
from kiosk.gallery.people_sql import PeopleSql, person_changes
from kiosk.gallery.pg_connection import GalleryPermissionError, one_row
from kiosk.gallery.pg_integrity import PERSON_CHECK_COLUMNS, PERSON_CHECK_COLUMNS_P
from kiosk.gallery.pg_templates import PgTemplates
from kiosk.gallery.row_seal import PERSON_SEALED
from kiosk.gallery.shared_sql import SqlTx
from kiosk.gallery.stored_faces import photo_provenance
from kiosk.security.audit import AuditAction

log = logging.getLogger("kiosk.gallery.postgres")  # one logger for the whole backend
_PERSON_WIDTH = PERSON_COLUMNS.count(",") + 1  # how many columns PERSON_COLUMNS selects (no comma inside one)


def _pg(sql: str) -> str:
    """The shared SQL's `?` placeholders as psycopg's (the shared SQL has no literal % or ?)."""
    return sql.replace("?", "%s")


class _Tx:
    """One PostgreSQL transaction as the shared SQL (kiosk.gallery.shared_sql) uses it."""

    def __init__(self, gallery: PgPeople, conn: psycopg.Connection) -> None:
        self.gallery, self.conn = gallery, conn

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; the people and visits rows it writes are sealed (row MACs,
        kiosk.gallery.pg_integrity) in the same transaction. A people row changed outside
        face-kiosk stays flagged: a front-desk change to it is not a reason to trust it again."""
        words = sql.split()
        head = " ".join(words[:3])
        changes_person = head == "UPDATE people SET" and not words[3].startswith("last_seen=")
        intact = changes_person and self.gallery.person_intact_now(self.conn, int(params[-1]))
        cur = self.conn.execute(_pg(sql), params)
        rows = cur.fetchall() if cur.description else []
        if head.startswith("INSERT INTO people") or (changes_person and intact):
            self.gallery._seal_people(self.conn, [int(r[0]) for r in rows] or [int(params[-1])])
        elif head.startswith("INSERT INTO visits"):
            self.gallery._seal_visits(self.conn, [int(r[0]) for r in rows])
        return rows

    def audit(self, action: AuditAction | str, subject: str, details: dict[str, Any]) -> None:
        self.gallery._audit(self.conn, action, subject, details)

    def insert_samples(self, person_id: int, samples: list[NewSample], model_version: str, stamp: str) -> None:
        self.gallery._insert_samples(self.conn, person_id, samples, model_version, stamp)


class PgPeople(PgTemplates, PeopleSql):
    """The people and samples of PgGallery; the shared SQL's hooks on the server (the people
    writes in kiosk.gallery.people_sql, the front desk in kiosk.gallery.frontdesk_sql)."""

    _purge_refused = False
    _CASELESS_LIKE = "ILIKE"

    def _sql_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._rows(_pg(sql), params)

    @contextmanager
    def _sql_write(self, what: str) -> Iterator[SqlTx]:
        with self._transaction(what) as conn:
            yield _Tx(self, conn)

    def _sql_changed(self, scrub: bool) -> bool:
        # The template cache follows the change feed (the triggers note every person changed).
        return self._scrub() if scrub else True

    def _insert_samples(self, conn: psycopg.Connection, person_id: int, samples: list[NewSample],
                        model_version: str, stamp: str) -> None:
        for sample in samples:
            source = photo_provenance(storable(sample.source), self.key.key)  # never the photo's path
            row = one_row(conn.execute(
                "INSERT INTO samples(person_id, aligned_png, face_png, source, quality, masked, created_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                (person_id, self._seal_png(sample.aligned, "aligned", person_id),
                 None if sample.face_crop is None else self._seal_png(sample.face_crop, "face", person_id),
                 source, float(sample.quality), bool(sample.masked), stamp)))
            self._insert_templates(conn, person_id, int(row[0]), source, sample.templates, model_version, stamp)

    def update_person(self, person_id: int, **fields: str | None) -> None:
        """Change details (name, company, host, notes, consent_*, retention_until)."""
        fields = person_changes(fields)
        self.get_person(person_id)
        if not fields:
            return
        sets = ", ".join(f"{k}=%s" for k in fields)
        with self._transaction("changing a person") as conn:
            conn.execute(f"UPDATE people SET {sets}, updated_at=%s WHERE id=%s",  # noqa: S608 - keys whitelisted
                         (*fields.values(), now_iso(), person_id))
            self._seal_people(conn, [person_id])  # re-sealed as the admin saved it (also repairs an edit)
            self._audit(conn, AuditAction.UPDATE, f"person {person_id}", {"fields": sorted(fields)})

    def purge_expired(self, today: dt.date, visits_retention_days: int) -> tuple[int, int]:
        """Delete people past their `retention_until` and visits older than the retention period.

        One transaction, audited; returns (people, visits) removed. Old change-feed rows go too.
        A kiosk role may not delete (docs/shared-gallery.md: roles): retention is then left to
        the admin role, which runs it whenever it opens the gallery; (0, 0) here.
        """
        try:
            return self._purge(today, visits_retention_days)
        except GalleryPermissionError:
            if not self._purge_refused:
                log.info("%s: this role does not run retention (the admin role does, whenever it opens the "
                         "gallery)", self.where)
            self._purge_refused = True
            return 0, 0

    def _purge(self, today: dt.date, visits_retention_days: int) -> tuple[int, int]:
        cutoff = (today - dt.timedelta(days=visits_retention_days)).isoformat()
        with self._transaction("purging expired data") as conn:
            expired = [r[0] for r in conn.execute(
                "SELECT id FROM people WHERE retention_until IS NOT NULL AND retention_until != ''"
                " AND substr(retention_until, 1, 10) < %s", (today.isoformat(),)).fetchall()]
            if expired:
                conn.execute("DELETE FROM people WHERE id = ANY(%s)", (expired,))
            visits = conn.execute("DELETE FROM visits WHERE substr(ts, 1, 10) < %s", (cutoff,)).rowcount
            conn.execute("DELETE FROM gallery_changes WHERE at < now() - interval '7 days'")
            if expired or visits:
                self._audit(conn, AuditAction.PURGE, "retention", {"people": expired, "visits": int(visits)})
        if expired or visits:
            self._scrub()
        return len(expired), int(visits)

    def _scrub(self) -> bool:
        """VACUUM the tables that held the rows (the server reuses their space; old copies in
        its WAL and backups hold crops and templates only as ciphertext)."""
        try:
            with self._conn("vacuuming") as conn:
                conn.execute("VACUUM people, samples, templates, visits")
            return True
        except KioskError as exc:
            log.warning("%s: deleted, but the tables could not be vacuumed (%s)", self.where, exc)
            return False

    def _people_query(self, where: str, params: tuple[Any, ...]) -> list[Person]:
        sql = (f"SELECT {PERSON_COLUMNS}, {PERSON_CHECK_COLUMNS_P} FROM people p {_pg(where)}"  # noqa: S608
               " ORDER BY lower(p.name), p.id")
        return [dataclasses.replace(person_from_row(row[:_PERSON_WIDTH]), edited=not self.person_intact(row[_PERSON_WIDTH:]))
                for row in self._rows(sql, params)]

    def contacts_for(self, person_id: int) -> list[str]:
        """The person's host contacts (e-mail or apprise URL): their host field and their host's
        contact; none from a row changed outside face-kiosk (it may hold anyone's address now)."""
        rows = self._rows(f"SELECT {PERSON_CHECK_COLUMNS} FROM people WHERE id = %s"  # noqa: S608
                          " OR id = (SELECT host_id FROM people WHERE id = %s)", (person_id, person_id),
                          "reading a host contact")
        by_id = {int(r[0]): r for r in rows}
        person = by_id.get(person_id)
        if person is None:
            return []
        if not self.person_intact(person):
            log.warning("%s: person %d was edited outside face-kiosk; their host is not notified", self.where,
                        person_id)
            return []
        host = by_id.get(person[1 + PERSON_SEALED.index("host_id")])
        contact = host[1 + PERSON_SEALED.index("contact")] if host is not None and self.person_intact(host) else ""
        return unique_contacts(person[1 + PERSON_SEALED.index("host")], contact)

    # -- samples -------------------------------------------------------------------------

    def samples(self, person_id: int | None = None, *, with_templates: bool = False) -> list[Sample]:
        """A person's samples (everyone's when `person_id` is None), oldest first."""
        where, params = ("WHERE person_id=%s", (person_id,)) if person_id is not None else ("", ())
        rows = self._rows("SELECT id, person_id, aligned_png, face_png, source, quality, masked FROM samples"
                          f" {where} ORDER BY id", params)  # noqa: S608 - fixed clause
        templates: dict[int, list[StoredTemplate]] = {}
        if with_templates:
            for sid, pid, kind, version, enc, vec, quality in self._rows(
                    "SELECT sample_id, person_id, kind, model_version, embedding_enc, embedding, quality FROM templates"
                    f" {where} ORDER BY id", params):  # noqa: S608
                templates.setdefault(sid, []).append(
                    StoredTemplate(kind, version, self._open_template(enc, vec, pid, version, kind), quality))
        return [Sample(r[0], r[1], self._open_png(r[2], "aligned", r[1]),
                       None if r[3] is None else self._open_png(r[3], "face", r[1]), r[4], r[5], bool(r[6]),
                       tuple(templates.get(r[0], ()))) for r in rows]

    def thumbnail(self, person_id: int) -> np.ndarray | None:
        """The best-quality unmasked sample crop of a person, or None."""
        row = self._rows("SELECT aligned_png FROM samples WHERE person_id=%s ORDER BY masked, quality DESC LIMIT 1",
                         (person_id,))
        return self._open_png(row[0][0], "aligned", person_id) if row else None

