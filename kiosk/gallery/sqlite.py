"""The SQLite gallery (the embedded default for one desk): encrypted, WAL, one transaction a write.

Implements kiosk.gallery.api.GalleryStore. A new gallery is a SQLCipher 4 file (the whole
database encrypted: names, crops, templates, visits, the audit log) whose key lives outside it
(kiosk.security.keys: the OS keyring, a 0600 key file, or the environment). A plaintext gallery
of an earlier version still opens, with a warning, until `face-kiosk gallery encrypt`.
Every connection zeroes deleted content (secure_delete); erasing a person also cuts the WAL
and vacuums (kiosk.security.erase). Every change is recorded in the hash-chained audit log in
the same transaction (kiosk.security.audit).

Embeddings stay in memory as one L2-normalised float32 matrix per model version, rebuilt only
after a write, so a match is a single matrix product. The driver is sqlcipher3 for every file,
plaintext ones included: two SQLite libraries in one process cannot see each other's locks.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid

import numpy as np
import sqlcipher3.dbapi2 as sqlcipher  # type: ignore[import-untyped]

from kiosk.errors import GalleryError, ModelMismatchError
from kiosk.gallery.api import (
    VISIT_COLUMNS,
    NewTemplate,
    TemplateSet,
    Visit,
    now_iso,
    visit_from_row,
)
from kiosk.gallery.frontdesk_sql import FrontDeskSql
from kiosk.gallery.sqlite_people import SqlitePeople
from kiosk.gallery.stored_faces import encode_png, mismatch_message


class Gallery(SqlitePeople, FrontDeskSql):
    """The SQLite gallery database. Thread-safe; keep one instance per process.

    `create=False` refuses a path with no gallery (read commands must not make an empty one);
    `encrypt=False` makes a new gallery in plaintext (for a disk that is encrypted already);
    `actor` names who acts in the audit log ("cli", "gui", "kiosk", ...); `site` and `kiosk`
    go on visits recorded without their own.

    Built in parts, one concern each: the file, key, schema, transactions and audit log
    (sqlite_connection), people and samples (sqlite_people, with the SQL both backends share:
    people_sql, frontdesk_sql); here: templates, visits and settings.
    """

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- templates -------------------------------------------------------------------

    def model_versions(self) -> dict[str, int]:
        """Template counts per model version."""
        return {v: n for v, n in self._rows("SELECT model_version, count(*) FROM templates GROUP BY 1")}

    def people_without(self, model_version: str) -> int:
        """People who have templates, but none of `model_version` (enrolled by an earlier version)."""
        row = self._rows("SELECT count(DISTINCT person_id) FROM templates WHERE person_id NOT IN"
                         " (SELECT person_id FROM templates WHERE model_version=?)", (model_version,))
        return int(row[0][0])

    def templates(self, model_version: str) -> TemplateSet:
        """All templates made by `model_version` (cached until the next write).

        Refuses to hand out templates when the gallery holds only other models' templates:
        comparing vectors from different models gives meaningless scores.
        """
        with self._lock:
            cached = self._cache.get(model_version)
            if cached is not None:
                return cached
            others = {v: n for v, n in self.model_versions().items() if v != model_version}
            rows = self._rows("SELECT person_id, kind, dim, embedding FROM templates WHERE model_version=?"
                              " ORDER BY id", (model_version,))
            if not rows and others:
                raise ModelMismatchError(mismatch_message(self.path, others, model_version))
            names = {pid: name for pid, name in self._rows("SELECT id, name FROM people")}
        if rows:
            dim = rows[0][2]
            matrix = np.frombuffer(b"".join(r[3] for r in rows), np.float32).reshape(len(rows), dim).copy()
            ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            kinds = np.array([r[1] for r in rows])
        else:
            matrix = np.zeros((0, 0), np.float32)
            ids = np.zeros(0, np.int64)
            kinds = np.array([], dtype=str)
        result = TemplateSet(model_version, ids, kinds, matrix, names)
        with self._lock:
            before = self._stale.pop(model_version, None)
            if before is not None and _same_templates(before, result):
                result = before
            self._cache[model_version] = result
        return result

    def replace_templates(self, model_version: str, per_sample: dict[int, list[NewTemplate]],
                          crops: dict[int, np.ndarray] | None = None) -> None:
        """Swap in templates of `model_version` for the given samples (re-embedding), atomically.

        Templates of every other version go (they can never be compared with these); `crops`
        stores re-made loose face crops for samples that had none.
        """
        stamp = now_iso()
        with self._transaction() as conn:
            for sample_id, crop in (crops or {}).items():
                conn.execute("UPDATE samples SET face_png=? WHERE id=?", (encode_png(crop), sample_id))
            conn.execute("DELETE FROM templates WHERE model_version != ?", (model_version,))
            for sample_id, templates in per_sample.items():
                person_id, source = conn.execute("SELECT person_id, source FROM samples WHERE id=?",
                                                 (sample_id,)).fetchone()
                conn.execute("DELETE FROM templates WHERE sample_id=? AND model_version=?", (sample_id, model_version))
                self._insert_templates(conn, person_id, sample_id, source, templates, model_version, stamp)
        self._cache.clear()

    # -- visits ----------------------------------------------------------------------

    def record_visit(self, person_id: int | None, kind: str, score: float | None = None,
                     masked: bool = False, source: str = "", ts: str | None = None, *,
                     site: str | None = None, kiosk: str | None = None, event_id: str | None = None) -> int:
        """Log a check-in (person_id set) or an unknown visitor (person_id None).

        `site` defaults to the gallery's own, `kiosk` to `source` (the check-in log's kiosk id)
        or else the gallery's own. `event_id` makes the write idempotent:
        a visit with an id already logged is not logged again (the existing row's id is returned)."""
        ts = ts or now_iso()
        site = self.site if site is None else site
        kiosk = (source or self.kiosk) if kiosk is None else kiosk  # the check-in log's source is its kiosk id
        event_id = event_id or uuid.uuid4().hex
        try:
            with self._transaction() as conn:
                cur = conn.execute("INSERT INTO visits(person_id, ts, kind, score, masked, source, site, kiosk,"
                                   " event_id) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(event_id) DO NOTHING",
                                   (person_id, ts, kind, score, int(masked), source, site, kiosk, event_id))
                if not cur.rowcount:
                    return int(conn.execute("SELECT id FROM visits WHERE event_id=?", (event_id,)).fetchone()[0])
                if person_id is not None:
                    conn.execute("UPDATE people SET last_seen=? WHERE id=?", (ts, person_id))
        except (sqlite3.IntegrityError, sqlcipher.IntegrityError):
            # FOREIGN KEY: the person was removed (e.g. by `people remove` in another process)
            # after this kiosk recognised them.
            raise GalleryError(f"person {person_id} is no longer in the gallery (removed); "
                               "no visit logged") from None
        return int(cur.lastrowid or 0)

    def visits(self, day: dt.date | None = None, *, site: str | None = None, kiosk: str | None = None) -> list[Visit]:
        """Visits (newest first), optionally of one local day, site or kiosk, with the person's name."""
        clauses, params = [], []
        for clause, value in (("substr(v.ts, 1, 10) = ?", day.isoformat() if day else None),
                              ("v.site = ?", site), ("v.kiosk = ?", kiosk)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._rows(
            f"SELECT {VISIT_COLUMNS} FROM visits v LEFT JOIN people p ON p.id = v.person_id {where} ORDER BY v.ts DESC, v.id DESC",  # noqa: S608
            tuple(params))
        return [visit_from_row(r) for r in rows]

    # -- settings ----------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        """A stored setting (e.g. the admin PIN hash), or None."""
        row = self._rows("SELECT value FROM settings WHERE key=?", (key,))
        return str(row[0][0]) if row else None

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))


def _same_templates(a: TemplateSet, b: TemplateSet) -> bool:
    """Whether two template sets hold the same rows (then the old one is kept: nobody re-votes)."""
    return (a.names == b.names and a.matrix.shape == b.matrix.shape and np.array_equal(a.person_ids, b.person_ids)
            and np.array_equal(a.kinds, b.kinds) and np.array_equal(a.matrix, b.matrix))



__all__ = ["Gallery"]
