"""The shared gallery on PostgreSQL + pgvector: several kiosks, one gallery (issue 12).

Implements kiosk.gallery.api.GalleryStore, like the SQLite `Gallery`, on psycopg 3 with a
small psycopg-pool. Chosen by URL (`postgresql://user@host/db?sslmode=verify-full`, see
kiosk.gallery.open); every libpq option in the URL is passed through; the password is never
printed or logged (`redact_url`).

Guarantees, the same as SQLite's: one transaction per write (a crash mid-enrolment leaves no
half person: the server rolls the open transaction back), a schema version with migrations
(kiosk.gallery.pg_schema, numbered like SQLite's), a newer schema and a model-version mismatch
refused with one line, the HMAC-chained audit log (kiosk.security.audit) written in the same
transaction as the change, retention (`purge_expired`) and erasure.

Privacy: crops and templates are encrypted on the kiosk (AES-256-GCM, the site key of
kiosk.security.site_key, never sent to the server), bound to their person, so the server's
DBA sees names and visits (the site's policy) but no face. Encrypted templates cannot be
searched by pgvector: each kiosk decrypts them once at start into its in-memory matrix
(`templates()`), which is the default. `encrypt_templates=False` (chosen when the gallery is
created, stored in it) keeps templates as plain pgvector columns, so a gallery too big for
memory can be searched on the server (`search`, exact or HNSW after `build_index`); the
DBA can then read templates (crops stay encrypted).

Live sync: every write fires a NOTIFY (statement triggers), and the triggers note which
people changed in `gallery_changes`. A listener thread bumps `data_version()`; `templates()`
then refetches only the people that changed. When the server is unreachable the kiosk keeps
its loaded matrix, `record_visit` goes to an encrypted local spool (kiosk.gallery.spool) that
is flushed, idempotently by event id, when the server is back; other writes are refused with
a clear message; `status()` says so for the staff screen.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

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
)
from kiosk.gallery.pg_schema import CHANNEL, MIGRATIONS, SCHEMA_VERSION, PgAuditStore
from kiosk.gallery.spool import SpooledVisit, VisitSpool, default_spool_path
from kiosk.gallery.sqlite import decode_png, encode_png, mismatch_message, unit_vector
from kiosk.security.audit import AuditAction, AuditLog, AuditRecord, AuditVerdict
from kiosk.security.keys import GalleryKey
from kiosk.security.site_key import BlobCipher, key_check, load_site_key

log = logging.getLogger(__name__)

_MIGRATE_LOCK = 0x6B696F736B01  # pg_advisory_xact_lock keys: migrations, audited writes
_AUDIT_LOCK = 0x6B696F736B02
_INCREMENTAL_MAX = 2000  # more changed people than this: reload the whole matrix


class GalleryOfflineError(GalleryError):
    """The PostgreSQL server cannot be reached right now."""


@dataclass(frozen=True)
class GalleryStatus:
    """What the staff screen shows about the shared gallery."""

    online: bool
    spooled: int  # visits waiting in the local spool
    detail: str  # why it is offline, or ""


def redact_url(url: str) -> str:
    """The URL with its password (in the netloc or as ?password=) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(unparseable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)], safe="/")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def site_ref(url: str) -> str:
    """What names this gallery for its site key: user@host:port/dbname (no password)."""
    info = conninfo_to_dict(url)
    return f"{info.get('user', '')}@{info.get('host', 'localhost')}:{info.get('port', '5432')}/{info.get('dbname', '')}"


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate or ""
        return not state or state.startswith(("08", "57P"))
    return isinstance(exc, psycopg.InterfaceError)


def _connect_message(where: str, exc: BaseException) -> str:
    text = str(exc)
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low or "authentication failed" in low:
        return f"{where}: the server refused the login (wrong user name or password)"
    if "database" in low and "does not exist" in low:
        return f"{where}: no such database on that server (create it first, e.g. createdb)"
    reason = text.splitlines()[0] if text else type(exc).__name__
    reason = reason.split("failed: ")[-1].strip() or reason
    return f"{where}: cannot reach the PostgreSQL server ({reason})"


class _RawBinary(psycopg.adapt.Loader):
    """Loads a value as its raw binary bytes (pgvector rows, joined into one matrix after)."""

    format = psycopg.pq.Format.BINARY

    def load(self, data: Any) -> bytes:
        return bytes(data)


_PERSON_COLUMNS = ("p.id, p.name, p.company, p.host, p.notes, p.consent_at, p.consent_text,"
                   " p.retention_until, p.created_at, p.updated_at, p.last_seen,"
                   " (SELECT count(*) FROM samples s WHERE s.person_id = p.id),"
                   " (SELECT count(*) FROM templates t WHERE t.person_id = p.id)")


@dataclass
class _Cached:
    templates: TemplateSet
    version: int  # data_version() when loaded
    seq: int  # gallery_changes seq the matrix is up to date with
    template_ids: np.ndarray


class PgGallery:
    """The gallery in a PostgreSQL database (with pgvector). Thread-safe; one per process.

    `create=False` refuses a database without a gallery; `encrypt_templates` only matters for
    a new gallery; `actor` names who acts in the audit log; `site` and `kiosk` go on visits
    recorded without their own; `spool_path` is the local visit spool (default: the data
    folder); `listen=False` starts no listener thread (one-shot CLI commands).
    """

    def __init__(self, url: str, *, create: bool = True, encrypt_templates: bool = True, actor: str = "app",
                 site: str = "", kiosk: str = "", spool_path: str | Path | None = None,
                 keys_dir: Path | None = None, listen: bool = True, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.where = redact_url(url)
        self.path = self.where  # what messages name (the SQLite gallery's is its file)
        self.actor = actor
        self.site, self.kiosk = site, kiosk
        self.encrypted = True
        self._timeout = connect_timeout
        self._lock = threading.RLock()
        self._cache: dict[str, _Cached] = {}
        self._version = 1
        self._online = True
        self._offline_reason = ""
        self._stop = threading.Event()
        self._kwargs: dict[str, Any] = {"autocommit": True, "application_name": "face-kiosk"}
        if "connect_timeout" not in url:
            self._kwargs["connect_timeout"] = max(1, int(connect_timeout))
        try:
            info = conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            raise KioskError(f"{self.where}: not a valid PostgreSQL URL") from None
        self.ref = site_ref(url)
        try:
            probe = psycopg.connect(url, **self._kwargs)
        except psycopg.Error as exc:
            raise KioskError(_connect_message(self.where, exc)) from None
        try:
            self._ensure_vector(probe)
            self.key = self._migrate(probe, create=create, keys_dir=keys_dir, encrypt_templates=encrypt_templates)
        except psycopg.Error as exc:
            raise GalleryError(f"{self.where}: {str(exc).splitlines()[0]}") from None
        finally:
            probe.close()
        self._cipher = BlobCipher(self.key.key)
        self._pool = self._new_pool()
        self.audit_key_source = self.key.source
        self._spool_path = Path(spool_path) if spool_path else default_spool_path(self.ref)
        self._spool: VisitSpool | None = VisitSpool(self._spool_path) if self._spool_path.exists() else None
        self._dbname = info.get("dbname", "")
        self._flush_spool()
        self._listener: threading.Thread | None = None
        if listen:
            self._listener = threading.Thread(target=self._listen, name="gallery-listener", daemon=True)
            self._listener.start()

    # -- connecting and migrating ------------------------------------------------------

    def _new_pool(self) -> ConnectionPool:
        pool = ConnectionPool(self.url, kwargs=self._kwargs, min_size=1, max_size=4, open=False,
                              configure=self._configure, check=ConnectionPool.check_connection,
                              timeout=self._timeout, reconnect_timeout=30, name="face-kiosk-gallery")
        pool.open(wait=False)
        return pool

    @staticmethod
    def _configure(conn: psycopg.Connection) -> None:
        from pgvector.psycopg import register_vector

        register_vector(conn)

    def _ensure_vector(self, conn: psycopg.Connection) -> None:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
            return
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as exc:
            detail = "pgvector is not installed on the server" if isinstance(exc, pg_errors.UndefinedFile) \
                else "this role may not add it"
            raise KioskError(f"{self.where}: the database has no pgvector extension and {detail}; as the "
                             "database owner or a superuser run: CREATE EXTENSION vector;") from None

    def _migrate(self, conn: psycopg.Connection, *, create: bool, keys_dir: Path | None,
                 encrypt_templates: bool) -> GalleryKey:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
            has_meta = _one(conn.execute("SELECT to_regclass('meta') IS NOT NULL"))[0]
            version = 0
            meta: dict[str, str] = {}
            if has_meta:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                version = int(meta.get("schema_version", "0"))
            elif _one(conn.execute("SELECT to_regclass('people') IS NOT NULL"))[0]:
                raise GalleryError(f"{self.where}: this database holds a 'people' table but no face-kiosk gallery")
            if version > SCHEMA_VERSION:
                raise GalleryError(f"{self.where}: made by a newer face-kiosk (schema {version}, this one reads up "
                                   f"to {SCHEMA_VERSION}); update face-kiosk")
            if not version and not create:
                raise GalleryError(f"{self.where}: no gallery here (enroll someone first, or check --db)")
            key = load_site_key(self.ref, create=not version, keys_dir=keys_dir)
            if version and meta.get("key_check") != key_check(key.key):
                raise KioskError(f"{self.where}: the site key ({key.location}) is not this gallery's; use the key "
                                 "of the kiosk that created it (FACE_KIOSK_SITE_KEY or its key file)")
            if version < SCHEMA_VERSION:
                for step in MIGRATIONS[version:]:
                    step(conn)
                AuditLog(PgAuditStore(conn), key.key).create_schema()  # seals the first head
                conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', %s)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
                for k, v in (("created_at", now_iso()), ("gallery_id", uuid.uuid4().hex),
                             ("key_check", key_check(key.key)), ("templates_encrypted", "1" if encrypt_templates else "0")):
                    conn.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (k, v))
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self._gallery_id = meta["gallery_id"]
        self.templates_encrypted = meta.get("templates_encrypted", "1") == "1"
        self._schema_version = int(meta["schema_version"])
        return key

    # -- identity, lifecycle -------------------------------------------------------------

    @property
    def gallery_id(self) -> str:
        """A stable id of this gallery (made when it was created, stored in it)."""
        return self._gallery_id

    @property
    def integrity_key(self) -> bytes:
        """The secret the gallery's MACs derive from: the site key (never stored in the server)."""
        return self.key.key

    @property
    def schema_version(self) -> int:
        """The schema version stored in the database."""
        return self._schema_version

    def close(self) -> None:
        """Stop the listener and close the connections (the spool too)."""
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        with self._lock:
            self._pool.close(timeout=2)
            if self._spool is not None:
                self._spool.close()
                self._spool = None  # status() after close: nothing spooled here any more

    def __enter__(self) -> PgGallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def online(self) -> bool:
        """Whether the server answered last time we asked (the listener keeps asking)."""
        return self._online

    def status(self) -> GalleryStatus:
        """Online or not, and how many visits wait in the local spool (for the staff screen)."""
        with self._lock:
            spooled = self._spool.count() if self._spool is not None else 0
        return GalleryStatus(self._online, spooled, "" if self._online else self._offline_reason)

    def _set_offline(self, exc: BaseException) -> None:
        if self._online:
            log.warning("%s: the shared gallery is offline (%s)", self.where, str(exc).splitlines()[0] if str(exc)
                        else type(exc).__name__)
        self._online = False
        self._offline_reason = _connect_message(self.where, exc)

    def data_version(self) -> int:
        """A number that changes whenever any process changed the gallery."""
        return self._version

    def _bump(self) -> None:
        with self._lock:
            self._version += 1

    # -- connections and transactions ---------------------------------------------------

    def _offline_error(self, what: str) -> GalleryOfflineError:
        return GalleryOfflineError(f"{self.where}: the shared gallery is offline, so {what} is not possible "
                                   "now; try again when the server is back")

    @contextmanager
    def _conn(self, what: str = "this") -> Iterator[psycopg.Connection]:
        if not self._online:
            raise self._offline_error(what)
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            if _is_connection_error(exc):
                self._set_offline(exc)
                raise self._offline_error(what) from None
            raise GalleryError(f"{self.where}: {str(exc).splitlines()[0]}") from None

    @contextmanager
    def _transaction(self, what: str = "changing the gallery", *, audited: bool = True) -> Iterator[psycopg.Connection]:
        """One server transaction: all of it commits, or none (also when this process dies)."""
        with self._conn(what) as conn, conn.transaction():
            if audited:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_AUDIT_LOCK,))
            yield conn
        self._bump()

    def _rows(self, sql: str, params: tuple[Any, ...] = (), what: str = "reading the gallery") -> list[tuple[Any, ...]]:
        with self._conn(what) as conn:
            return conn.execute(sql, params).fetchall()

    def _audit(self, conn: psycopg.Connection, action: AuditAction | str, subject: str,
               details: dict[str, Any] | None = None) -> None:
        AuditLog(PgAuditStore(conn), self.key.key).append(action, self.actor, subject, details or {})

    def record_event(self, action: AuditAction | str, subject: str = "", details: dict[str, Any] | None = None) -> None:
        """Record an action that is not itself a write (export, kiosk unlock, wrong PIN)."""
        with self._transaction("writing the audit log") as conn:
            self._audit(conn, action, subject, details)

    def audit_records(self) -> list[AuditRecord]:
        """The audit log, oldest first."""
        with self._conn("reading the audit log") as conn:
            return list(PgAuditStore(conn).records())

    def verify_audit(self) -> AuditVerdict:
        """Whether the audit log is whole and unedited."""
        with self._conn("checking the audit log") as conn:
            return AuditLog(PgAuditStore(conn), self.key.key).verify()

    # -- encryption of faces --------------------------------------------------------------

    def _aad(self, what: str, person_id: int, extra: str = "") -> str:
        return f"face-kiosk|{self._gallery_id}|{what}|{person_id}|{extra}"

    def _seal_png(self, rgb: np.ndarray, what: str, person_id: int) -> bytes:
        return self._cipher.encrypt(encode_png(rgb), self._aad(what, person_id))

    def _open_png(self, blob: bytes, what: str, person_id: int) -> np.ndarray:
        return decode_png(self._cipher.decrypt(blob, self._aad(what, person_id)))

    def seal_template(self, vec: np.ndarray, person_id: int, model_version: str, kind: str) -> bytes:
        """A unit template encrypted as `templates.embedding_enc` holds it (bulk loads, benchmarks)."""
        return self._cipher.encrypt(np.asarray(vec, np.float32).tobytes(),
                                    self._aad("template", person_id, f"{model_version}|{kind}"))

    def _open_template(self, row_enc: Any, row_vec: Any, person_id: int, model_version: str, kind: str) -> np.ndarray:
        if row_enc is not None:
            raw = self._cipher.decrypt(row_enc, self._aad("template", person_id, f"{model_version}|{kind}"))
            return np.frombuffer(raw, np.float32).copy()
        if isinstance(row_vec, (bytes, bytearray, memoryview)):  # raw binary (see _RawBinary)
            return np.frombuffer(bytes(row_vec)[4:], ">f4").astype(np.float32)
        return np.asarray(row_vec.to_numpy() if hasattr(row_vec, "to_numpy") else row_vec, np.float32)

    # -- people --------------------------------------------------------------------------

    def add_person(self, details: PersonDetails, samples: list[NewSample], model_version: str) -> int:
        """Create a person with their samples and templates in one transaction; returns the id."""
        return self.add_people([(details, samples)], model_version)[0]

    def add_people(self, people: list[tuple[PersonDetails, list[NewSample]]], model_version: str) -> list[int]:
        """Create several people in one transaction (an import): all of them, or none."""
        stamp = now_iso()
        ids: list[int] = []
        for details, samples in people:
            _check_new_person(details, samples)
        with self._transaction("enrolling") as conn:
            for details, samples in people:
                row = _one(conn.execute(
                    "INSERT INTO people(name, company, host, notes, consent_at, consent_text, retention_until,"
                    " created_at, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                    (clean_name(details.name), clean_name(details.company), clean_name(details.host),
                     clean_name(details.notes), details.consent_at, details.consent_text,
                     details.retention_until, stamp, stamp)))
                ids.append(int(row[0]))
                self._insert_samples(conn, ids[-1], samples, model_version, stamp)
                self._audit(conn, AuditAction.ENROLL, f"person {ids[-1]}",
                            {"samples": len(samples), "consent": bool(details.consent_at)})
        return ids

    def add_samples(self, person_id: int, samples: list[NewSample], model_version: str, *,
                    replacing: Sequence[int] = ()) -> None:
        """Add samples (and their templates) to an existing person, atomically; `replacing`: ids of
        that person's samples deleted in the same transaction (autovacuum reclaims them)."""
        self.get_person(person_id)
        stamp = now_iso()
        with self._transaction("adding photos") as conn:
            for sample_id in replacing:
                conn.execute("DELETE FROM samples WHERE id=%s AND person_id=%s", (int(sample_id), person_id))
            self._insert_samples(conn, person_id, samples, model_version, stamp)
            conn.execute("UPDATE people SET updated_at=%s WHERE id=%s", (stamp, person_id))
            self._audit(conn, AuditAction.UPDATE, f"person {person_id}", samples_added(samples, replacing))

    def _insert_samples(self, conn: psycopg.Connection, person_id: int, samples: list[NewSample],
                        model_version: str, stamp: str) -> None:
        for sample in samples:
            row = _one(conn.execute(
                "INSERT INTO samples(person_id, aligned_png, face_png, source, quality, masked, created_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                (person_id, self._seal_png(sample.aligned, "aligned", person_id),
                 None if sample.face_crop is None else self._seal_png(sample.face_crop, "face", person_id),
                 sample.source, float(sample.quality), bool(sample.masked), stamp)))
            self._insert_templates(conn, person_id, int(row[0]), sample.source, sample.templates, model_version, stamp)

    def _insert_templates(self, conn: psycopg.Connection, person_id: int, sample_id: int, source: str,
                          templates: list[NewTemplate], model_version: str, stamp: str) -> None:
        from pgvector import Vector

        for tpl in templates:
            vec = unit_vector(tpl.embedding)
            enc = plain = None
            if self.templates_encrypted:
                enc = self.seal_template(vec, person_id, model_version, tpl.kind)
            else:
                plain = Vector(vec)
            conn.execute(
                "INSERT INTO templates(person_id, sample_id, kind, model_version, dim, embedding_enc, embedding,"
                " quality, source, created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (person_id, sample_id, tpl.kind, model_version, len(vec), enc, plain, float(tpl.quality), source,
                 stamp))

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
        sets = ", ".join(f"{k}=%s" for k in fields)
        with self._transaction("changing a person") as conn:
            conn.execute(f"UPDATE people SET {sets}, updated_at=%s WHERE id=%s",  # noqa: S608 - keys whitelisted
                         (*fields.values(), now_iso(), person_id))
            self._audit(conn, AuditAction.UPDATE, f"person {person_id}", {"fields": sorted(fields)})

    def remove_person(self, person_id: int) -> bool:
        """Erase a person: details, samples, crops, templates and visits; then VACUUM the tables.

        Every kiosk drops them from its matrix on the change notification. Returns False when
        the tables could not be vacuumed (the deletion itself is committed).
        """
        self.get_person(person_id)
        with self._transaction("removing a person") as conn:
            n = _one(conn.execute("SELECT count(*) FROM samples WHERE person_id=%s", (person_id,)))[0]
            conn.execute("DELETE FROM people WHERE id=%s", (person_id,))
            self._audit(conn, AuditAction.REMOVE, f"person {person_id}", {"samples": int(n)})
        return self._scrub()

    def remove_sample(self, sample_id: int) -> None:
        """Delete one sample and its templates."""
        with self._transaction("removing a photo") as conn:
            row = conn.execute("SELECT person_id FROM samples WHERE id=%s", (sample_id,)).fetchone()
            conn.execute("DELETE FROM samples WHERE id=%s", (sample_id,))
            if row:
                self._audit(conn, AuditAction.UPDATE, f"person {row[0]}", {"sample_removed": sample_id})
        self._scrub()

    def purge_expired(self, today: dt.date, visits_retention_days: int) -> tuple[int, int]:
        """Delete people past their `retention_until` and visits older than the retention period.

        One transaction, audited; returns (people, visits) removed. Old change-feed rows go too.
        """
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

    def get_person(self, person_id: int) -> Person:
        """One person, or GalleryError if there is none with that id."""
        rows = self._people_query("WHERE p.id = %s", (person_id,))
        if not rows:
            raise GalleryError(f"no person with id {person_id}")
        return rows[0]

    def find_people(self, name: str) -> list[Person]:
        """People whose name equals `name` (case-insensitive)."""
        return self._people_query("WHERE lower(p.name) = lower(%s)", (name.strip(),))

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
            return self._people_query("WHERE p.name ILIKE %s OR p.company ILIKE %s OR p.host ILIKE %s", (like,) * 3)
        return self._people_query("", ())

    def _people_query(self, where: str, params: tuple[Any, ...]) -> list[Person]:
        sql = f"SELECT {_PERSON_COLUMNS} FROM people p {where} ORDER BY lower(p.name), p.id"  # noqa: S608
        return [Person(*row) for row in self._rows(sql, params)]

    def contacts_for(self, person_id: int) -> list[str]:
        """The person's host contacts (e-mail or apprise URL), written in their host field."""
        rows = self._rows("SELECT host FROM people WHERE id=%s", (person_id,), "reading a host contact")
        return host_contacts(rows[0][0] or "") if rows else []

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

    # -- templates -----------------------------------------------------------------------

    def model_versions(self) -> dict[str, int]:
        """Template counts per model version."""
        return {v: int(n) for v, n in self._rows("SELECT model_version, count(*) FROM templates GROUP BY 1")}

    def people_without(self, model_version: str) -> int:
        """People who have templates, but none of `model_version`."""
        row = self._rows("SELECT count(DISTINCT person_id) FROM templates WHERE person_id NOT IN"
                         " (SELECT person_id FROM templates WHERE model_version=%s)", (model_version,))
        return int(row[0][0])

    def _fetch(self, conn: psycopg.Connection, model_version: str, person_ids: list[int] | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(template ids, person ids, kinds, matrix) of `model_version`, of some people or all.

        Built in one piece: decrypted templates (or pgvector's binary rows, read as raw bytes)
        are joined and viewed as one matrix, not made into a numpy array per row."""
        sql = ("SELECT id, person_id, kind, dim, embedding_enc, embedding FROM templates WHERE model_version=%s"
               + ("" if person_ids is None else " AND person_id = ANY(%s)") + " ORDER BY id")
        params: tuple[Any, ...] = (model_version,) if person_ids is None else (model_version, person_ids)
        with conn.cursor(binary=True) as cur:
            vector = conn.adapters.types.get("vector")
            if vector is not None:
                cur.adapters.register_loader(vector.oid, _RawBinary)
            rows = cur.execute(sql, params).fetchall()
        n = len(rows)
        tids = np.fromiter((r[0] for r in rows), np.int64, n)
        pids = np.fromiter((r[1] for r in rows), np.int64, n)
        kinds = np.array([r[2] for r in rows]) if rows else np.array([], dtype=str)
        if not rows:
            return tids, pids, kinds, np.zeros((0, 0), np.float32)
        dims = {r[3] for r in rows}
        if len(dims) != 1:
            raise GalleryError(f"{self.where}: templates of {model_version} have several lengths ({sorted(dims)})")
        dim = dims.pop()
        if all(r[4] is not None for r in rows):
            raw = b"".join(self._cipher.decrypt(r[4], self._aad("template", r[1], f"{model_version}|{r[2]}"))
                           for r in rows)
            matrix = np.frombuffer(raw, np.float32).reshape(n, dim).copy()
        elif all(r[4] is None for r in rows) and vector is not None:
            # pgvector's binary form: uint16 dim, uint16 unused, then dim big-endian float32.
            packed = np.frombuffer(b"".join(r[5] for r in rows), np.uint8).reshape(n, 4 + 4 * dim)
            matrix = packed[:, 4:].copy().view(">f4").astype(np.float32)
        else:
            matrix = np.vstack([self._open_template(r[4], r[5], r[1], model_version, r[2]) for r in rows])
        return tids, pids, kinds, matrix

    def templates(self, model_version: str) -> TemplateSet:
        """All templates made by `model_version`, kept in memory and brought up to date with
        only the people that changed since (any kiosk's writes, via the change feed).

        Refuses templates of other models only (ModelMismatchError). While the server is
        offline, the loaded matrix is returned as it is.
        """
        with self._lock:
            cached = self._cache.get(model_version)
            version = self._version
            if cached is not None and cached.version == version:
                return cached.templates
            if cached is not None and not self._online:
                return cached.templates
            try:
                with self._conn("loading the gallery") as conn, conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    fresh = self._refresh(conn, model_version, cached)
            except GalleryOfflineError:
                if cached is not None:
                    return cached.templates
                raise
            fresh.version = version
            self._cache[model_version] = fresh
            return fresh.templates

    def _refresh(self, conn: psycopg.Connection, model_version: str, cached: _Cached | None) -> _Cached:
        seq = int(_one(conn.execute("SELECT coalesce(max(seq), 0) FROM gallery_changes"))[0])
        changed: list[int] | None = None
        if cached is not None:
            if seq == cached.seq:  # a visit or a setting: no face or name changed
                return _Cached(cached.templates, 0, seq, cached.template_ids)
            low = _one(conn.execute("SELECT min(seq) FROM gallery_changes"))[0]
            if low is not None and low <= cached.seq + 1:
                rows = conn.execute("SELECT DISTINCT person_id FROM gallery_changes WHERE seq > %s", (cached.seq,))
                changed = [int(r[0]) for r in rows.fetchall()]
                if len(changed) > _INCREMENTAL_MAX:
                    changed = None
        if changed is None:
            others = {v: int(n) for v, n in conn.execute(
                "SELECT model_version, count(*) FROM templates WHERE model_version != %s GROUP BY 1",
                (model_version,)).fetchall()}
            tids, pids, kinds, matrix = self._fetch(conn, model_version, None)
            if not len(tids) and others:
                raise ModelMismatchError(mismatch_message(self.where, others, model_version))
            names: dict[int, str] = dict(conn.execute("SELECT id, name FROM people").fetchall())
            return _Cached(TemplateSet(model_version, pids, kinds, matrix, names), 0, seq, tids)
        assert cached is not None
        old = cached.templates
        gone = set(changed)
        names = {pid: name for pid, name in old.names.items() if pid not in gone}
        names.update(conn.execute("SELECT id, name FROM people WHERE id = ANY(%s)", (changed,)).fetchall())
        keep = ~np.isin(old.person_ids, np.asarray(changed, np.int64))
        tids, pids, kinds, matrix = self._fetch(conn, model_version, changed)
        if old.matrix.size and matrix.size:
            matrix = np.vstack([old.matrix[keep], matrix])
        elif old.matrix.size:
            matrix = old.matrix[keep]
        all_tids = np.concatenate([cached.template_ids[keep], tids])
        person_ids = np.concatenate([old.person_ids[keep], pids])
        all_kinds = np.concatenate([old.kinds[keep].astype(str), kinds.astype(str)])
        if not matrix.size:
            matrix = np.zeros((0, 0), np.float32)
        if len(all_tids) > 1 and not bool((all_tids[1:] > all_tids[:-1]).all()):  # not simply appended
            order = np.argsort(all_tids, kind="stable")  # the same row order as a full load
            person_ids, all_kinds, all_tids = person_ids[order], all_kinds[order], all_tids[order]
            matrix = matrix[order] if matrix.size else matrix
        return _Cached(TemplateSet(model_version, person_ids, all_kinds, matrix, names), 0, seq, all_tids)

    def changes_since(self, seq: int) -> tuple[int, list[int] | None]:
        """(the newest change number, the people changed after `seq`); None instead of the list
        when `seq` is too old to tell (the feed keeps 7 days): reload everything then."""
        rows = self._rows("SELECT coalesce(max(seq), 0), min(seq) FROM gallery_changes")
        newest, low = int(rows[0][0]), rows[0][1]
        if low is not None and low > seq + 1:
            return newest, None
        people = self._rows("SELECT DISTINCT person_id FROM gallery_changes WHERE seq > %s ORDER BY 1", (seq,))
        return newest, [int(r[0]) for r in people]

    def replace_templates(self, model_version: str, per_sample: dict[int, list[NewTemplate]],
                          crops: dict[int, np.ndarray] | None = None) -> None:
        """Swap in templates of `model_version` for the given samples (re-embedding), atomically."""
        stamp = now_iso()
        with self._transaction("re-embedding") as conn:
            for sample_id, crop in (crops or {}).items():
                pid = _one(conn.execute("SELECT person_id FROM samples WHERE id=%s", (sample_id,)))[0]
                conn.execute("UPDATE samples SET face_png=%s WHERE id=%s", (self._seal_png(crop, "face", pid), sample_id))
            conn.execute("DELETE FROM templates WHERE model_version != %s", (model_version,))
            for sample_id, templates in per_sample.items():
                person_id, source = _one(conn.execute("SELECT person_id, source FROM samples WHERE id=%s",
                                                      (sample_id,)))
                conn.execute("DELETE FROM templates WHERE sample_id=%s AND model_version=%s", (sample_id, model_version))
                self._insert_templates(conn, person_id, sample_id, source, templates, model_version, stamp)

    # -- search on the server (plaintext templates only) ----------------------------------

    def build_index(self, dim: int, *, m: int = 16, ef_construction: int = 64) -> None:
        """An HNSW index (cosine) over the `dim`-wide templates (only without template encryption)."""
        self._require_plain("an HNSW index")
        with self._conn("building the index") as conn:
            conn.execute(f"CREATE INDEX IF NOT EXISTS templates_hnsw_{int(dim)} ON templates USING hnsw"
                         f" ((embedding::vector({int(dim)})) vector_cosine_ops) WITH (m = {int(m)},"
                         f" ef_construction = {int(ef_construction)}) WHERE dim = {int(dim)}")

    def search(self, model_version: str, probe: np.ndarray, k: int = 5, *, exact: bool = False,
               ef_search: int = 40) -> list[tuple[int, float]]:
        """The `k` nearest templates as (person_id, cosine similarity), searched by pgvector.

        `exact` scans every row; otherwise the HNSW index is used when there is one."""
        self._require_plain("a search on the server")
        from pgvector import Vector

        vec = unit_vector(probe)
        dim = len(vec)
        with self._conn("searching") as conn, conn.transaction():
            if exact:
                conn.execute("SET LOCAL enable_indexscan = off")
            conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
            rows = conn.execute(
                f"SELECT person_id, 1 - (embedding::vector({dim}) <=> %s) FROM templates"
                f" WHERE dim = {dim} AND model_version = %s ORDER BY embedding::vector({dim}) <=> %s LIMIT %s",
                (Vector(vec), model_version, Vector(vec), int(k))).fetchall()
        return [(int(p), float(s)) for p, s in rows]

    def _require_plain(self, what: str) -> None:
        if self.templates_encrypted:
            raise GalleryError(f"{self.where}: templates are encrypted here, so {what} is not possible "
                               "(the in-memory matrix is used instead; see encrypt_templates)")

    # -- visits --------------------------------------------------------------------------

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

    @staticmethod
    def _insert_visit(conn: psycopg.Connection, v: SpooledVisit) -> int:
        """Insert once (by event id); a visit of someone erased meanwhile is dropped. The id, or 0."""
        row = conn.execute(
            "INSERT INTO visits(person_id, ts, kind, score, masked, source, site, kiosk, event_id)"
            " SELECT %s,%s,%s,%s,%s,%s,%s,%s,%s WHERE %s::bigint IS NULL OR EXISTS (SELECT 1 FROM people WHERE id=%s)"
            " ON CONFLICT (event_id) DO NOTHING RETURNING id",
            (v.person_id, v.ts, v.kind, v.score, v.masked, v.source, v.site, v.kiosk, v.event_id, v.person_id,
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
        """Visits (newest first), optionally of one local day, site or kiosk, with the name."""
        clauses, params = [], []
        for clause, value in (("substr(v.ts, 1, 10) = %s", day.isoformat() if day else None),
                              ("v.site = %s", site), ("v.kiosk = %s", kiosk)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._rows(
            "SELECT v.id, v.ts, v.kind, v.person_id, p.name, v.score, v.masked, v.source, v.site, v.kiosk, v.event_id"
            f" FROM visits v LEFT JOIN people p ON p.id = v.person_id {where} ORDER BY v.ts DESC, v.id DESC",  # noqa: S608
            tuple(params))
        return [Visit(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], r[9], r[10]) for r in rows]

    # -- settings ------------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        """A stored setting (e.g. the admin PIN hash), or None."""
        row = self._rows("SELECT value FROM settings WHERE key=%s", (key,))
        return str(row[0][0]) if row else None

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._transaction("changing a setting", audited=False) as conn:
            conn.execute("INSERT INTO settings(key, value) VALUES (%s, %s)"
                         " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def counts(self, person_id: int | None = None) -> dict[str, int]:
        """Row counts of the main tables (of one person's rows when `person_id` is given)."""
        out = {}
        for table in ("people", "samples", "templates", "visits"):
            if person_id is None:
                out[table] = int(self._rows(f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608 - fixed names
            else:
                column = "id" if table == "people" else "person_id"
                out[table] = int(self._rows(f"SELECT count(*) FROM {table} WHERE {column}=%s",  # noqa: S608
                                            (person_id,))[0][0])
        return out

    # -- the listener ----------------------------------------------------------------------

    def _listen(self) -> None:
        """LISTEN for changes; bump data_version on each; notice the server going and coming back."""
        backoff = 0.25
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, **self._kwargs) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if not self._online:
                        log.warning("%s: the shared gallery is back online", self.where)
                        old, self._pool = self._pool, self._new_pool()
                        threading.Thread(target=old.close, kwargs={"timeout": 5}, daemon=True).start()
                        self._online = True
                    self._bump()  # anything may have changed while nobody listened
                    self._flush_spool()
                    backoff = 0.25
                    idle = 0
                    while not self._stop.is_set():
                        got = sum(1 for _ in conn.notifies(timeout=0.5, stop_after=1))  # back on the first
                        if got:
                            self._bump()
                            idle = 0
                            continue
                        idle += 1
                        if idle % 10 == 0:  # a heartbeat: a silent network loss shows too
                            conn.execute("SELECT 1")
                            if self._spool is not None and self._spool.count():
                                self._flush_spool()
            except (psycopg.Error, OSError) as exc:
                if self._stop.is_set():
                    return
                self._set_offline(exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:  # never let the listener die: the kiosk would stop syncing silently
                log.exception("%s: the change listener failed; restarting it", self.where)
                self._bump()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)


def _one(cursor: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    """The one row a statement returns (an aggregate, RETURNING id): never None by SQL."""
    row: tuple[Any, ...] | None = cursor.fetchone()
    if row is None:
        raise GalleryError("the database returned no row where one is always expected")
    return row


def _check_new_person(details: PersonDetails, samples: list[NewSample]) -> None:
    name = clean_name(details.name)
    if not name:
        raise GalleryError("a person needs a name")
    if not samples:
        raise GalleryError(f"{name}: no usable face sample, nothing enrolled")
