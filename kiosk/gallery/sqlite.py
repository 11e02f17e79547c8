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
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import sqlcipher3.dbapi2 as sqlcipher  # type: ignore[import-untyped]

from kiosk.errors import GalleryError, KioskError, ModelMismatchError
from kiosk.gallery.api import (
    PERSON_FIELDS,
    NewSample,
    NewTemplate,
    Person,
    PersonDetails,
    Sample,
    StoredTemplate,
    TemplateSet,
    Visit,
    clean_name,
    host_contacts,
    now_iso,
    resolve_person,
    resolve_person_by_name,
    samples_added,
    storable,
)
from kiosk.gallery.schema import MIGRATIONS, SCHEMA_VERSION
from kiosk.security import erase
from kiosk.security.audit import AuditAction, AuditLog, AuditRecord, AuditVerdict, SqliteAuditStore
from kiosk.security.encrypted_gallery import open_gallery as open_encrypted
from kiosk.security.keys import GalleryKey, gallery_id, load_key
from kiosk.security.private_files import ensure_private_dir, tighten_file
from kiosk.security.sqlcipher import DB_ERRORS, GalleryBusyError, is_plaintext_sqlite

log = logging.getLogger(__name__)


def encode_png(rgb: np.ndarray) -> bytes:
    """RGB uint8 -> PNG bytes (lossless, so re-embedding gives the same vectors)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise GalleryError("cannot encode sample image")
    return bytes(buf.tobytes())


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> RGB uint8."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise GalleryError("a stored sample image is damaged")
    return np.ascontiguousarray(img[:, :, ::-1])


def unit_vector(embedding: np.ndarray | None) -> np.ndarray:
    """A template as a unit float32 vector; refuses empty, non-finite or zero vectors."""
    vec = np.asarray(embedding if embedding is not None else [], np.float32).ravel()
    norm = float(np.linalg.norm(vec)) if vec.size else 0.0
    if not vec.size or not np.isfinite(vec).all() or norm < 1e-6:
        raise GalleryError("refusing an empty or invalid template (nothing was saved)")
    return vec / norm


def mismatch_message(where: object, others: dict[str, int], model_version: str) -> str:
    """One line for a gallery whose templates were made by another model or alignment."""
    embedder = model_version.split("/")[0]
    if any(v.split("/")[0] == embedder for v in others):
        return (f"{where}: the gallery's templates were made by an earlier face-kiosk (its face alignment "
                f"changed since); run `face-kiosk people reembed` to re-make them from the stored photos")
    return (f"{where}: the gallery's templates were made by {', '.join(others)}, not by {model_version}; "
            "re-embed them (face-kiosk people reembed) or switch model")


_PERSON_COLUMNS = ("p.id, p.name, p.company, p.host, p.notes, p.consent_at, p.consent_text,"
                   " p.retention_until, p.created_at, p.updated_at, p.last_seen,"
                   " (SELECT count(*) FROM samples s WHERE s.person_id = p.id),"
                   " (SELECT count(*) FROM templates t WHERE t.person_id = p.id)")


class Gallery:
    """The SQLite gallery database. Thread-safe; keep one instance per process.

    `create=False` refuses a path with no gallery (read commands must not make an empty one);
    `encrypt=False` makes a new gallery in plaintext (for a disk that is encrypted already);
    `actor` names who acts in the audit log ("cli", "gui", "kiosk", ...); `site` and `kiosk`
    go on visits recorded without their own.
    """

    def __init__(self, path: str | Path, *, create: bool = True, encrypt: bool = True, actor: str = "app",
                 site: str = "", kiosk: str = "") -> None:
        self.path = Path(path)
        self.actor = actor
        self.site, self.kiosk = site, kiosk  # what visits carry unless told otherwise
        self._lock = threading.RLock()
        self._cache: dict[str, TemplateSet] = {}
        self._stale: dict[str, TemplateSet] = {}  # the cache before another process's change
        self._writes = 0  # commits of this connection (PRAGMA data_version does not count them)
        self._seen_version: int | None = None  # PRAGMA data_version when last asked
        if not create and not self.path.exists():
            raise GalleryError(f"{self.path}: no gallery here (enroll someone first, or check --db)")
        if self.path.is_dir():
            raise GalleryError(f"{self.path}: is a folder, not a gallery")
        ensure_private_dir(self.path.parent)
        try:
            if self.path.exists() and is_plaintext_sqlite(self.path) or (not self.path.exists() and not encrypt):
                self.encrypted = False
                conn = sqlcipher.connect(str(self.path), check_same_thread=False, isolation_level=None)
                self.key: GalleryKey = load_key(self.path, create=True)  # MACs the audit log and lockout
            else:
                self.encrypted = True
                try:
                    conn, self.key = open_encrypted(self.path, create=create)
                except GalleryBusyError:
                    raise  # in use by another program: not about the file's nature, say it as it is
                except GalleryError as exc:
                    raise GalleryError(f"{self.path}: not a face-kiosk gallery, or the file is damaged, or its "
                                       f"key is missing ({str(exc).removeprefix(f'{self.path}: ')})") from None
            self._conn = conn
            self._migrate()
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            erase.enable_secure_delete(conn)
        except DB_ERRORS as exc:  # sqlite3.DatabaseError is one of them
            raise GalleryError(f"{self.path}: not a face-kiosk gallery, or the file is damaged ({exc})") from None
        for file in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            if file.exists():
                tighten_file(file)
        self.audit = AuditLog(SqliteAuditStore(self._conn), self.key.key)
        self.data_version()  # the version the (empty) template cache belongs to
        if not self.encrypted:
            log.warning("%s is not encrypted: run `face-kiosk gallery encrypt` (docs: Privacy and security)",
                        self.path)

    @property
    def gallery_id(self) -> str:
        """A stable id of this gallery (binds MACs such as the PIN lockout to it)."""
        return gallery_id(self.path)

    @property
    def integrity_key(self) -> bytes:
        """The secret the gallery's MACs derive from (never stored in the gallery)."""
        return self.key.key

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (nothing half-written)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._writes += 1

    def data_version(self) -> int:
        """A number that changes whenever any process changed the gallery."""
        # PRAGMA data_version changes when another connection (this process or another) commits;
        # this connection's own commits are counted in `_writes`. A change by someone else also
        # drops the cached templates, so the next `templates()` reads the new ones (and hands back
        # the same object when they did not change: e.g. another kiosk only logged a visit).
        with self._lock:
            theirs = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            if self._seen_version is not None and theirs != self._seen_version:
                self._stale = {**self._stale, **self._cache}
                self._cache.clear()
            self._seen_version = theirs
            return (theirs << 32) | (self._writes & 0xFFFFFFFF)

    def _audit(self, action: AuditAction | str, subject: str, details: dict[str, Any] | None = None) -> None:
        """Record an action in the audit log: call inside the write's own transaction."""
        self.audit.append(action, self.actor, subject, details or {})

    def record_event(self, action: AuditAction | str, subject: str = "", details: dict[str, Any] | None = None) -> None:
        """Record an action that is not itself a write (export, kiosk unlock, wrong PIN)."""
        with self._transaction():
            self._audit(action, subject, details)

    def audit_records(self) -> list[AuditRecord]:
        """The audit log, oldest first."""
        with self._lock:
            return self.audit.records()

    def verify_audit(self) -> AuditVerdict:
        """Whether the audit log is whole and unedited."""
        with self._lock:
            return self.audit.verify()

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            rows: list[tuple[Any, ...]] = self._conn.execute(sql, params).fetchall()
            return rows

    def _migrate(self) -> None:
        tables = {r[0] for r in self._rows("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise GalleryError(f"{self.path}: this SQLite file is not a face-kiosk gallery")
        version = 0
        if "meta" in tables:
            row = self._rows("SELECT value FROM meta WHERE key = 'schema_version'")
            version = int(row[0][0]) if row else 0
        if version > SCHEMA_VERSION:
            raise GalleryError(
                f"{self.path}: made by a newer face-kiosk (schema {version}, this one reads up to "
                f"{SCHEMA_VERSION}); update face-kiosk"
            )
        if version == SCHEMA_VERSION:
            check = self._rows("PRAGMA quick_check")
            if not check or check[0][0] != "ok":
                raise GalleryError(f"{self.path}: the gallery file is damaged ({check[0][0] if check else 'no answer'}); "
                                   "restore it from a backup (face-kiosk export)")
            return
        with self._transaction() as conn:
            for step in MIGRATIONS[version:]:
                step(conn)
            AuditLog(SqliteAuditStore(conn), self.key.key).create_schema()  # seals the first head
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', ?)", (now_iso(),))

    @property
    def schema_version(self) -> int:
        """The schema version stored in the file."""
        return int(self._rows("SELECT value FROM meta WHERE key='schema_version'")[0][0])

    # -- people ----------------------------------------------------------------------

    def add_person(self, details: PersonDetails, samples: list[NewSample], model_version: str) -> int:
        """Create a person with their samples and templates in one transaction; returns the id."""
        return self.add_people([(details, samples)], model_version)[0]

    def add_people(self, people: list[tuple[PersonDetails, list[NewSample]]], model_version: str) -> list[int]:
        """Create several people in one transaction (an import): all of them, or none."""
        stamp = now_iso()
        ids = []
        for details, samples in people:
            _check_new_person(details, samples)
        with self._transaction() as conn:
            for details, samples in people:
                cur = conn.execute(
                    "INSERT INTO people(name, company, host, notes, consent_at, consent_text, retention_until,"
                    " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (clean_name(details.name), clean_name(details.company), clean_name(details.host),
                     clean_name(details.notes), details.consent_at, details.consent_text,
                     details.retention_until, stamp, stamp),
                )
                ids.append(int(cur.lastrowid or 0))
                self._insert_samples(conn, ids[-1], samples, model_version, stamp)
                self._audit(AuditAction.ENROLL, f"person {ids[-1]}",
                            {"samples": len(samples), "consent": bool(details.consent_at)})
        self._cache.clear()
        return ids

    def add_samples(self, person_id: int, samples: list[NewSample], model_version: str, *,
                    replacing: Sequence[int] = ()) -> None:
        """Add samples (and their templates) to an existing person, atomically; `replacing`: ids of
        that person's samples deleted in the same transaction (zeroed by secure_delete; the file
        is not vacuumed here: that is for erasing a person)."""
        self.get_person(person_id)
        stamp = now_iso()
        with self._transaction() as conn:
            for sample_id in replacing:
                conn.execute("DELETE FROM samples WHERE id=? AND person_id=?", (int(sample_id), person_id))
            self._insert_samples(conn, person_id, samples, model_version, stamp)
            conn.execute("UPDATE people SET updated_at=? WHERE id=?", (stamp, person_id))
            self._audit(AuditAction.UPDATE, f"person {person_id}", samples_added(samples, replacing))
        self._cache.clear()

    def _insert_samples(self, conn: sqlite3.Connection, person_id: int, samples: list[NewSample],
                        model_version: str, stamp: str) -> None:
        for sample in samples:
            cur = conn.execute(
                "INSERT INTO samples(person_id, aligned_png, face_png, source, quality, masked, created_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (person_id, encode_png(sample.aligned),
                 None if sample.face_crop is None else encode_png(sample.face_crop), storable(sample.source),
                 float(sample.quality), int(sample.masked), stamp),
            )
            self._insert_templates(conn, person_id, int(cur.lastrowid or 0), storable(sample.source), sample.templates,
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
        unknown = set(fields) - set(PERSON_FIELDS)
        if unknown:
            raise GalleryError(f"unknown person field(s): {', '.join(sorted(unknown))}")
        fields = {k: clean_name(v) if isinstance(v, str) and k in ("name", "company", "host", "notes") else v
                  for k, v in fields.items()}
        if "name" in fields and not fields["name"]:
            raise GalleryError("a person needs a name")
        self.get_person(person_id)
        if not fields:
            return
        sets = ", ".join(f"{k}=?" for k in fields)
        with self._transaction() as conn:
            conn.execute(f"UPDATE people SET {sets}, updated_at=? WHERE id=?",  # noqa: S608 - keys whitelisted
                         (*fields.values(), now_iso(), person_id))
            self._audit(AuditAction.UPDATE, f"person {person_id}", {"fields": sorted(fields)})
        self._cache.clear()

    def remove_person(self, person_id: int) -> bool:
        """Erase a person: their details, samples, crops, templates and visits, from the files too.

        Deleted pages are zeroed (secure_delete), the WAL cut and the file vacuumed. Returns
        False when another connection was reading so old copies may remain until the next
        erase or purge (the deletion itself is committed).
        """
        self.get_person(person_id)
        with self._transaction() as conn:
            n = conn.execute("SELECT count(*) FROM samples WHERE person_id=?", (person_id,)).fetchone()[0]
            conn.execute("DELETE FROM people WHERE id=?", (person_id,))
            self._audit(AuditAction.REMOVE, f"person {person_id}", {"samples": int(n)})
        self._cache.clear()
        return self._scrub()

    def remove_sample(self, sample_id: int) -> None:
        """Delete one sample and its templates."""
        with self._transaction() as conn:
            row = conn.execute("SELECT person_id FROM samples WHERE id=?", (sample_id,)).fetchone()
            conn.execute("DELETE FROM samples WHERE id=?", (sample_id,))
            if row:
                self._audit(AuditAction.UPDATE, f"person {row[0]}", {"sample_removed": sample_id})
        self._cache.clear()
        self._scrub()

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

    def get_person(self, person_id: int) -> Person:
        """One person, or GalleryError if there is none with that id."""
        if not 0 < person_id < 2**63:  # SQLite's ids; beyond them there is nobody (not an OverflowError)
            raise GalleryError(f"no person with id {person_id}")
        rows = self._people_query("WHERE p.id = ?", (person_id,))
        if not rows:
            raise GalleryError(f"no person with id {person_id}")
        return rows[0]

    def find_people(self, name: str) -> list[Person]:
        """People whose name equals `name` (case-insensitive)."""
        return self._people_query("WHERE lower(p.name) = lower(?)", (name.strip(),))

    def resolve(self, ref: str) -> Person:
        """A person by id ("12") or by exact name (kiosk.gallery.api.resolve_person)."""
        return resolve_person(self, ref)

    def resolve_name(self, name: str) -> Person:
        """The one person with this exact name (kiosk.gallery.api.resolve_person_by_name)."""
        return resolve_person_by_name(self, name)

    def people(self, search: str = "") -> list[Person]:
        """Everyone, by name; `search` filters on name, company and host."""
        if search:
            like = f"%{search.strip()}%"
            return self._people_query("WHERE p.name LIKE ? OR p.company LIKE ? OR p.host LIKE ?", (like,) * 3)
        return self._people_query("", ())

    def _people_query(self, where: str, params: tuple[Any, ...]) -> list[Person]:
        sql = f"SELECT {_PERSON_COLUMNS} FROM people p {where} ORDER BY lower(p.name), p.id"  # noqa: S608
        return [Person(*row) for row in self._rows(sql, params)]

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

    def contacts_for(self, person_id: int) -> list[str]:
        """The person's host contacts (e-mail or apprise URL), for arrival notifications."""
        rows = self._rows("SELECT host FROM people WHERE id=?", (person_id,))
        return host_contacts(rows[0][0] or "") if rows else []

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
            "SELECT v.id, v.ts, v.kind, v.person_id, p.name, v.score, v.masked, v.source, v.site, v.kiosk, v.event_id"
            f" FROM visits v LEFT JOIN people p ON p.id = v.person_id {where} ORDER BY v.ts DESC, v.id DESC",  # noqa: S608
            tuple(params))
        return [Visit(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], r[9], r[10]) for r in rows]

    # -- settings ----------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        """A stored setting (e.g. the admin PIN hash), or None."""
        row = self._rows("SELECT value FROM settings WHERE key=?", (key,))
        return str(row[0][0]) if row else None

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    def counts(self, person_id: int | None = None) -> dict[str, int]:
        """Row counts of the main tables (of one person's rows when `person_id` is given)."""
        out = {}
        for table in ("people", "samples", "templates", "visits"):
            if person_id is None:
                out[table] = int(self._rows(f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608 - fixed names
            else:
                column = "id" if table == "people" else "person_id"
                out[table] = int(self._rows(f"SELECT count(*) FROM {table} WHERE {column}=?",  # noqa: S608
                                            (person_id,))[0][0])
        return out


def _same_templates(a: TemplateSet, b: TemplateSet) -> bool:
    """Whether two template sets hold the same rows (then the old one is kept: nobody re-votes)."""
    return (a.names == b.names and a.matrix.shape == b.matrix.shape and np.array_equal(a.person_ids, b.person_ids)
            and np.array_equal(a.kinds, b.kinds) and np.array_equal(a.matrix, b.matrix))


def _check_new_person(details: PersonDetails, samples: list[NewSample]) -> None:
    name = clean_name(details.name)
    if not name:
        raise GalleryError("a person needs a name")
    if not samples:
        raise GalleryError(f"{name}: no usable face sample, nothing enrolled")
