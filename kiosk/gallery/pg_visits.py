"""The shared gallery's visits and settings: a visit goes to the server, or to the encrypted
local spool while the server is offline (kiosk.gallery.spool), sent exactly once when it is
back; the visit log; settings and row counts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid

import psycopg

from kiosk.errors import KioskError
from kiosk.gallery.api import VISIT_COLUMNS, Visit, now_iso, visit_from_row
from kiosk.gallery.pg_connection import GalleryOfflineError
from kiosk.gallery.pg_integrity import PERSON_CHECK_COLUMNS, PgIntegrity
from kiosk.gallery.row_seal import EDITED_LABEL
from kiosk.gallery.spool import SpooledVisit, VisitSpool

log = logging.getLogger("kiosk.gallery.postgres")  # one logger for the whole backend


class PgVisits(PgIntegrity):
    """The visits (and the local spool), settings and counts of PgGallery."""

    def record_visit(self, person_id: int | None, kind: str, score: float | None = None,
                     masked: bool = False, source: str = "", ts: str | None = None, *,
                     site: str | None = None, kiosk: str | None = None, event_id: str | None = None) -> int:
        """Log a check-in or an unknown visitor; returns its id, or 0 when it went to the local
        spool (the server is offline: it is sent when the server is back, exactly once)."""
        visit = SpooledVisit(event_id or uuid.uuid4().hex, person_id, kind, score, bool(masked), source,
                             ts or now_iso(), self.site if site is None else site,
                             (source or self.kiosk) if kiosk is None else kiosk)  # the log's source: its kiosk
        if self._online:
            try:
                with self._transaction("recording a visit", audited=False) as conn:
                    return self._insert_visit(conn, visit)
            except GalleryOfflineError:
                pass
        with self._lock:
            if self._spool is None:
                self._spool = VisitSpool(self._spool_path)
            self._spool.add(visit)
        log.info("%s offline: visit %s spooled locally", self.where, visit.event_id)
        return 0

    def _insert_visit(self, conn: psycopg.Connection, v: SpooledVisit) -> int:
        """Insert once (by event id), sealed (row_seal); a visit of someone erased meanwhile is
        dropped. The id, or 0."""
        mac = self._visit_seal((v.event_id, v.person_id, v.ts, v.kind, v.score, v.masked, v.source, v.site,
                                v.kiosk))
        row = conn.execute(
            "INSERT INTO visits(person_id, ts, kind, score, masked, source, site, kiosk, event_id, mac)"
            " SELECT %s,%s,%s,%s,%s,%s,%s,%s,%s,%s"
            " WHERE %s::bigint IS NULL OR EXISTS (SELECT 1 FROM people WHERE id=%s)"
            " ON CONFLICT (event_id) DO NOTHING RETURNING id",
            (v.person_id, v.ts, v.kind, v.score, v.masked, v.source, v.site, v.kiosk, v.event_id, mac, v.person_id,
             v.person_id)).fetchone()
        if row and v.person_id is not None:
            conn.execute("UPDATE people SET last_seen=%s WHERE id=%s AND (last_seen IS NULL OR last_seen < %s)",
                         (v.ts, v.person_id, v.ts))
        return int(row[0]) if row else 0

    def _flush_spool(self) -> int:
        """Send spooled visits to the server (each in its own transaction, then dropped from the
        spool); returns how many were sent. Safe to repeat: the event id makes it exactly once."""
        with self._lock:
            spool = self._spool
            if spool is None or not self._online:
                return 0
            sent = 0
            for item in spool.pending():
                try:
                    with self._transaction("sending spooled visits", audited=False) as conn:
                        self._insert_visit(conn, item)
                except GalleryOfflineError:
                    break
                except KioskError as exc:  # the server refuses this one: keep it, send the others
                    log.warning("%s: spooled visit %s not accepted (%s); kept in the spool", self.where,
                                item.event_id, exc)
                    continue
                spool.remove(item.event_id)
                sent += 1
        if sent:
            log.info("%s: %d spooled visit(s) sent", self.where, sent)
        return sent

    def visits(self, day: dt.date | None = None, *, site: str | None = None, kiosk: str | None = None) -> list[Visit]:
        """Visits (newest first), optionally of one local day, site or kiosk, with the name; a
        visit or a person changed outside face-kiosk is flagged (`edited`, EDITED_LABEL)."""
        clauses, params = [], []
        for clause, value in (("substr(v.ts, 1, 10) = %s", day.isoformat() if day else None),
                              ("v.site = %s", site), ("v.kiosk = %s", kiosk)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._rows(
            f"SELECT {VISIT_COLUMNS}, v.mac FROM visits v LEFT JOIN people p ON p.id = v.person_id {where}"  # noqa: S608
            " ORDER BY v.ts DESC, v.id DESC", tuple(params))
        pids = sorted({int(r[3]) for r in rows if r[3] is not None})
        edited_people = {int(r[0]) for r in self._rows(
            f"SELECT {PERSON_CHECK_COLUMNS} FROM people WHERE id = ANY(%s)", (pids,))  # noqa: S608
            if not self.person_intact(r)} if pids else set()
        out = []
        for r in rows:
            visit = visit_from_row(r[:-1])
            intact = self.visit_intact((r[10], r[3], r[1], r[2], r[5], r[6], r[7], r[8], r[9], r[-1]))
            out.append(dataclasses.replace(visit, name=EDITED_LABEL if r[3] in edited_people else visit.name,
                                           edited=not intact))
        return out

    # -- settings ------------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        """A stored setting (e.g. the admin PIN hash), or None; while the server is offline, as
        the local copy has it (a kiosk's, kiosk.gallery.local_copy)."""
        try:
            row = self._rows("SELECT value FROM settings WHERE key=%s", (key,))
        except GalleryOfflineError:
            if self._local is None:
                raise
            return self._local.settings().get(key)
        return str(row[0][0]) if row else None

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._transaction("changing a setting", audited=False) as conn:
            conn.execute("INSERT INTO settings(key, value) VALUES (%s, %s)"
                         " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
