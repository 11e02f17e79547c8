"""The shared gallery's connection to PostgreSQL (kiosk.gallery.postgres.PgGallery is built on
it): the URL and its redaction, the pool, the schema migrations and the site key, online or
offline, one transaction per write, the audit log, and the encryption of faces."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from kiosk.errors import GalleryError, KioskError
from kiosk.gallery.api import now_iso
from kiosk.gallery.pg_schema import MIGRATIONS, SCHEMA_VERSION, PgAuditStore
from kiosk.gallery.spool import VisitSpool, default_spool_path
from kiosk.gallery.stored_faces import decode_png, encode_png
from kiosk.gallery.url_secrets import redact_url as redact_url
from kiosk.gallery.url_secrets import scrub_secrets
from kiosk.security.audit import (
    AuditAction,
    AuditError,
    AuditLog,
    AuditRecord,
    AuditTail,
    AuditVerdict,
)
from kiosk.security.audit_anchor import GalleryGuard, anchor_path
from kiosk.security.keys import GalleryKey
from kiosk.security.site_key import BlobCipher, key_check, load_site_key

log = logging.getLogger("kiosk.gallery.postgres")  # one logger for the whole backend

_MIGRATE_LOCK = 0x6B696F736B01  # pg_advisory_xact_lock keys: migrations, audited writes
_AUDIT_LOCK = 0x6B696F736B02


class GalleryOfflineError(GalleryError):
    """The PostgreSQL server cannot be reached right now."""


@dataclass(frozen=True)
class GalleryStatus:
    """What the staff screen shows about the shared gallery."""

    online: bool
    spooled: int  # visits waiting in the local spool
    detail: str  # why it is offline, or ""


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


def _connect_message(where: str, exc: BaseException, url: str = "") -> str:
    text = scrub_secrets(str(exc), url) if url else str(exc)
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low or "authentication failed" in low:
        return f"{where}: the server refused the login (wrong user name or password)"
    if "database" in low and "does not exist" in low:
        return f"{where}: no such database on that server (create it first, e.g. createdb)"
    reason = text.splitlines()[0] if text else type(exc).__name__
    reason = reason.split("failed: ")[-1].strip() or reason
    return f"{where}: cannot reach the PostgreSQL server ({reason})"


def one_row(cursor: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    """The one row a statement returns (an aggregate, RETURNING id): never None by SQL."""
    row: tuple[Any, ...] | None = cursor.fetchone()
    if row is None:
        raise GalleryError("the database returned no row where one is always expected")
    return row


class PgConnection:
    """What every part of PgGallery stands on: the connection pool, the migrated schema and its
    site key, online or offline, transactions, the audit log and the encryption of faces."""

    def __init__(self, url: str, *, create: bool = True, encrypt_templates: bool = True, actor: str = "app",
                 site: str = "", kiosk: str = "", spool_path: str | Path | None = None,
                 keys_dir: Path | None = None, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.where = redact_url(url)
        self.path = self.where  # what messages name (the SQLite gallery's is its file)
        self.actor = actor
        self.site, self.kiosk = site, kiosk
        self.encrypted = True
        self._timeout = connect_timeout
        self._lock = threading.RLock()
        self._version = 1
        self._online = True
        self._offline_reason = ""
        self._stop = threading.Event()
        self._appended: AuditRecord | None = None  # the newest audit record the open transaction wrote
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
            raise KioskError(_connect_message(self.where, exc, self.url)) from None
        try:
            self._ensure_vector(probe)
            self.key = self._migrate(probe, create=create, keys_dir=keys_dir, encrypt_templates=encrypt_templates)
        except psycopg.Error as exc:
            raise GalleryError(f"{self.where}: {str(exc).splitlines()[0]}") from None
        finally:
            probe.close()
        self._cipher = BlobCipher(self.key.key)
        self._pool = self._new_pool()
        self.guard = GalleryGuard(anchor_path(self._gallery_id, self.ref, keys_dir))
        self._look_at_anchor()
        self.audit_key_source = self.key.source
        self._spool_path = Path(spool_path) if spool_path else default_spool_path(self.ref)
        self._spool: VisitSpool | None = VisitSpool(self._spool_path) if self._spool_path.exists() else None
        self._dbname = info.get("dbname", "")
        self._listener: threading.Thread | None = None  # PgGallery starts it

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
            has_meta = one_row(conn.execute("SELECT to_regclass('meta') IS NOT NULL"))[0]
            version = 0
            meta: dict[str, str] = {}
            if has_meta:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                version = int(meta.get("schema_version", "0"))
            elif one_row(conn.execute("SELECT to_regclass('people') IS NOT NULL"))[0]:
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
                audit = AuditLog(PgAuditStore(conn), key.key)
                audit.create_schema()  # seals the first head
                conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', %s)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
                for k, v in (("created_at", now_iso()), ("gallery_id", uuid.uuid4().hex),
                             ("key_check", key_check(key.key)), ("templates_encrypted", "1" if encrypt_templates else "0")):
                    conn.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (k, v))
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                if version and version < 5:
                    _seal_for_schema_5(conn, audit, key.key, meta["gallery_id"])
        self._gallery_id = meta["gallery_id"]
        self.templates_encrypted = meta.get("templates_encrypted", "1") == "1"
        self._schema_version = int(meta["schema_version"])
        return key

    def _look_at_anchor(self) -> None:
        """Compare the log with what this computer saw last (a restored copy shows), and move
        the record on when the gallery is as seen or newer."""
        with self._conn("reading the audit log") as conn:
            store = PgAuditStore(conn)
            last = store.last()
            if not self.guard.check(last.seq if last else 0, store.mac_at) and last is not None:
                self.guard.seen(last.seq, last.mac)

    # -- identity, lifecycle -------------------------------------------------------------

    @property
    def gallery_id(self) -> str:
        """A stable id of this gallery (made when it was created, stored in it)."""
        return self._gallery_id

    def own_files(self) -> tuple[Path, ...]:
        """Every file this gallery keeps on this computer, which no export or CSV may replace:
        the visit spool with its -wal/-shm and key files, and the site key file."""
        from kiosk.security.keys import key_file_path
        from kiosk.security.private_files import gallery_files
        from kiosk.security.site_key import site_key_path

        files = [*gallery_files(self._spool_path), site_key_path(self.ref),
                 *(key_file_path(self._spool_path, slot=slot) for slot in ("current", "next"))]
        if self.key.source == "file":
            files.append(Path(self.key.location))
        return tuple(files)

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
            log.warning("%s: the shared gallery is offline (%s)", self.where,
                        scrub_secrets(str(exc), self.url).splitlines()[0] if str(exc)
                        else type(exc).__name__)
        self._online = False
        self._offline_reason = _connect_message(self.where, exc, self.url)

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
        self._appended = None
        with self._conn(what) as conn, conn.transaction():
            if audited:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_AUDIT_LOCK,))
            yield conn
        self._bump()
        appended, self._appended = self._appended, None
        if appended is not None:
            self.guard.seen(appended.seq, appended.mac)

    def _rows(self, sql: str, params: tuple[Any, ...] = (), what: str = "reading the gallery") -> list[tuple[Any, ...]]:
        with self._conn(what) as conn:
            return conn.execute(sql, params).fetchall()

    def _audit(self, conn: psycopg.Connection, action: AuditAction | str, subject: str,
               details: dict[str, Any] | None = None) -> AuditRecord:
        """Record an action in the audit log, inside the write's transaction. Refused (AuditError)
        while the gallery is older than this computer saw it, as for a broken head."""
        store = PgAuditStore(conn)
        if not self.guard.problem:
            last = store.last()
            self.guard.check(last.seq if last else 0, store.mac_at)
        if self.guard.problem:
            raise AuditError(f"{self.guard.problem}; nothing was changed. An admin must check it (audit verify) "
                             "and accept it (audit recover)")
        record = AuditLog(store, self.key.key).append(action, self.actor, subject, details or {})
        self._appended = record
        return record

    def seal_settings(self, make: Callable[[int], dict[str, str]], action: AuditAction | str | None = None,
                      subject: str = "", details: dict[str, Any] | None = None, *,
                      audit_required: bool = True) -> int:
        """Write settings sealed at a point of the audit log, in one transaction (see the SQLite
        gallery's `seal_settings`). Returns the seq."""
        with self._transaction("writing the admin PIN") as conn:
            record = None
            if action is not None:
                try:
                    record = self._audit(conn, action, subject, details)
                except AuditError as exc:
                    if audit_required:
                        raise
                    log.warning("%s: not in the audit log (%s)", action, exc)
            if record is not None:
                seq = record.seq
            else:
                last = PgAuditStore(conn).last()
                seq = last.seq if last else 0
            for key, value in make(seq).items():
                conn.execute("INSERT INTO settings(key, value) VALUES (%s, %s)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
        return seq

    def audit_tail(self, actions: tuple[str, ...] = ()) -> AuditTail:
        """The end of the audit log (kiosk.security.audit.AuditTail)."""
        with self._conn("reading the audit log") as conn:
            return AuditLog(PgAuditStore(conn), self.key.key).tail(actions)

    def record_event(self, action: AuditAction | str, subject: str = "", details: dict[str, Any] | None = None) -> None:
        """Record an action that is not itself a write (export, kiosk unlock, wrong PIN)."""
        with self._transaction("writing the audit log") as conn:
            self._audit(conn, action, subject, details)

    def recover_audit(self) -> AuditRecord:
        """Accept a broken audit log (kiosk.security.audit.AuditLog.recover): a record saying what
        was wrong, after which writes are possible again. The caller checked the admin PIN."""
        with self._transaction("recovering the audit log") as conn:
            record = AuditLog(PgAuditStore(conn), self.key.key).recover(self.actor, self.guard.problem)
        self.guard.accept(record.seq, record.mac)
        return record

    def audit_records(self) -> list[AuditRecord]:
        """The audit log, oldest first."""
        with self._conn("reading the audit log") as conn:
            return list(PgAuditStore(conn).records())

    def verify_audit(self) -> AuditVerdict:
        """Whether the audit log is whole and unedited."""
        with self._conn("checking the audit log") as conn:
            verdict = AuditLog(PgAuditStore(conn), self.key.key).verify()
        if verdict.ok and self.guard.problem:
            return AuditVerdict(False, verdict.count, verdict.count + 1, self.guard.problem)
        return verdict

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


def _seal_for_schema_5(conn: psycopg.Connection, audit: AuditLog, key: bytes, gallery_id: str) -> None:
    """Photo paths to keyed hashes of their names, the PIN sealed for schema 5 (kiosk.gallery.sealing)."""
    from kiosk.gallery.admin_pin import LOCKOUT_RECORDS
    from kiosk.gallery.sealing import reseal_pin
    from kiosk.gallery.stored_faces import photo_provenance

    for table in ("samples", "templates"):
        for (source,) in conn.execute(f"SELECT DISTINCT source FROM {table}").fetchall():  # noqa: S608
            conn.execute(f"UPDATE {table} SET source = %s WHERE source = %s",  # noqa: S608 - fixed names
                         (photo_provenance(source, key), source))

    def get(name: str) -> str | None:
        row = conn.execute("SELECT value FROM settings WHERE key = %s", (name,)).fetchone()
        return str(row[0]) if row else None

    def put(name: str, value: str) -> None:
        conn.execute("INSERT INTO settings(key, value) VALUES (%s, %s)"
                     " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (name, value))

    # Schema 4 bound the lockout to the same id (PostgreSQL galleries always had their own).
    reseal_pin(get, put, key, gallery_id, gallery_id, audit.tail(LOCKOUT_RECORDS))
