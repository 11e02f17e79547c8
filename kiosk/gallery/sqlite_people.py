"""The SQLite gallery's people and their samples: enrolling (one transaction, audited),
changing, erasing (then the WAL cut and VACUUM), retention, and reading them back."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from kiosk.errors import KioskError
from kiosk.gallery.api import (
    PERSON_COLUMNS,
    NewSample,
    NewTemplate,
    Person,
    Sample,
    StoredTemplate,
    now_iso,
    person_from_row,
    storable,
    unique_contacts,
)
from kiosk.gallery.people_sql import PeopleSql, person_changes
from kiosk.gallery.shared_sql import SqlTx
from kiosk.gallery.sqlite_connection import SqliteConnection
from kiosk.gallery.stored_faces import decode_png, encode_png, photo_provenance, unit_vector
from kiosk.security import erase
from kiosk.security.audit import AuditAction
from kiosk.security.sqlcipher import DB_ERRORS

log = logging.getLogger("kiosk.gallery.sqlite")  # one logger for the whole backend


class _Tx:
    """One SQLite transaction as the shared SQL (kiosk.gallery.shared_sql) uses it."""

    def __init__(self, gallery: SqlitePeople, conn: sqlite3.Connection) -> None:
        self.gallery, self.conn = gallery, conn

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(sql, params)
        return cur.fetchall() if cur.description else []

    def audit(self, action: AuditAction | str, subject: str, details: dict[str, Any]) -> None:
        self.gallery._audit(action, subject, details)

    def insert_samples(self, person_id: int, samples: list[NewSample], model_version: str, stamp: str) -> None:
        self.gallery._insert_samples(self.conn, person_id, samples, model_version, stamp)


class SqlitePeople(SqliteConnection, PeopleSql):
    """The people and samples of the SQLite Gallery; the shared SQL's hooks on this file's
    connection (the people writes in kiosk.gallery.people_sql, the front desk in
    kiosk.gallery.frontdesk_sql)."""

    def _sql_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._rows(sql, params)

    @contextmanager
    def _sql_write(self, what: str) -> Iterator[SqlTx]:
        with self._transaction() as conn:
            yield _Tx(self, conn)

    def _sql_changed(self, scrub: bool) -> bool:
        self._cache.clear()
        return self._scrub() if scrub else True

    def _insert_samples(self, conn: sqlite3.Connection, person_id: int, samples: list[NewSample],
                        model_version: str, stamp: str) -> None:
        for sample in samples:
            source = photo_provenance(storable(sample.source), self.key.key)  # never the photo's path
            cur = conn.execute(
                "INSERT INTO samples(person_id, aligned_png, face_png, source, quality, masked, created_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (person_id, encode_png(sample.aligned),
                 None if sample.face_crop is None else encode_png(sample.face_crop), source,
                 float(sample.quality), int(sample.masked), stamp),
            )
            self._insert_templates(conn, person_id, int(cur.lastrowid or 0), source, sample.templates,
                                   model_version, stamp)

    @staticmethod
    def _insert_templates(conn: sqlite3.Connection, person_id: int, sample_id: int, source: str,
                          templates: list[NewTemplate], model_version: str, stamp: str) -> None:
        for tpl in templates:
            vec = unit_vector(tpl.embedding)
            conn.execute(
                "INSERT INTO templates(person_id, sample_id, kind, model_version, dim, embedding,"
                " quality, source, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (person_id, sample_id, tpl.kind, model_version, len(vec), vec.tobytes(),
                 float(tpl.quality), source, stamp),
            )

    def update_person(self, person_id: int, **fields: str | None) -> None:
        """Change details (name, company, host, notes, consent_*, retention_until)."""
        fields = person_changes(fields)
        self.get_person(person_id)
        if not fields:
            return
        sets = ", ".join(f"{k}=?" for k in fields)
        with self._transaction() as conn:
            conn.execute(f"UPDATE people SET {sets}, updated_at=? WHERE id=?",  # noqa: S608 - keys whitelisted
                         (*fields.values(), now_iso(), person_id))
            self._audit(AuditAction.UPDATE, f"person {person_id}", {"fields": sorted(fields)})
        self._cache.clear()

    def purge_expired(self, today: dt.date, visits_retention_days: int) -> tuple[int, int]:
        """Delete people past their `retention_until` and visits older than the retention period.

        One transaction, audited; returns (people, visits) removed.
        """
        cutoff = (today - dt.timedelta(days=visits_retention_days)).isoformat()
        with self._transaction() as conn:
            expired = [r[0] for r in conn.execute(
                "SELECT id FROM people WHERE retention_until IS NOT NULL AND retention_until != ''"
                " AND substr(retention_until, 1, 10) < ?", (today.isoformat(),)).fetchall()]
            for pid in expired:
                conn.execute("DELETE FROM people WHERE id=?", (pid,))
            visits = conn.execute("DELETE FROM visits WHERE substr(ts, 1, 10) < ?", (cutoff,)).rowcount
            if expired or visits:
                self._audit(AuditAction.PURGE, "retention", {"people": expired, "visits": int(visits)})
        if expired or visits:
            self._cache.clear()
            self._scrub()
        return len(expired), int(visits)

    def _scrub(self) -> bool:
        """Make deleted rows leave the files (kiosk.security.erase.purge); False if incomplete."""
        with self._lock:
            try:
                return erase.purge(self._conn, strict=False).complete
            except (KioskError,) + DB_ERRORS as exc:
                log.warning("%s: deleted, but the files could not be compacted yet (%s)", self.path, exc)
                return False

    def _people_query(self, where: str, params: tuple[Any, ...]) -> list[Person]:
        sql = f"SELECT {PERSON_COLUMNS} FROM people p {where} ORDER BY lower(p.name), p.id"  # noqa: S608
        return [person_from_row(row) for row in self._rows(sql, params)]

    # -- samples ---------------------------------------------------------------------

    def samples(self, person_id: int | None = None, *, with_templates: bool = False) -> list[Sample]:
        """A person's samples (everyone's when `person_id` is None), oldest first."""
        where, params = ("WHERE person_id=?", (person_id,)) if person_id is not None else ("", ())
        rows = self._rows("SELECT id, person_id, aligned_png, face_png, source, quality, masked FROM samples"
                          f" {where} ORDER BY id", params)  # noqa: S608 - fixed clause
        templates: dict[int, list[StoredTemplate]] = {}
        if with_templates:
            t_where = "WHERE person_id=?" if person_id is not None else ""
            for sid, kind, version, blob, quality in self._rows(
                    f"SELECT sample_id, kind, model_version, embedding, quality FROM templates {t_where}"  # noqa: S608
                    " ORDER BY id", params):
                templates.setdefault(sid, []).append(
                    StoredTemplate(kind, version, np.frombuffer(blob, np.float32).copy(), quality))
        return [Sample(r[0], r[1], decode_png(r[2]), None if r[3] is None else decode_png(r[3]), r[4], r[5],
                       bool(r[6]), tuple(templates.get(r[0], ()))) for r in rows]

    def thumbnail(self, person_id: int) -> np.ndarray | None:
        """The best-quality unmasked sample crop of a person, or None."""
        row = self._rows("SELECT aligned_png FROM samples WHERE person_id=? ORDER BY masked, quality DESC LIMIT 1",
                         (person_id,))
        return decode_png(row[0][0]) if row else None

    def contacts_for(self, person_id: int) -> list[str]:
        """The person's host contacts (e-mail or apprise URL), for arrival notifications."""
        rows = self._rows("SELECT p.host, h.contact FROM people p LEFT JOIN people h ON h.id = p.host_id"
                          " WHERE p.id=?", (person_id,))
        return unique_contacts(rows[0][0], rows[0][1]) if rows else []

