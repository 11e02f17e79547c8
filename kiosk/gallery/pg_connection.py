"""The shared gallery's connection to PostgreSQL (kiosk.gallery.postgres.PgGallery is built on
it): the URL and its redaction, the pool, the schema migrations and the site key, online or
offline, one transaction per write, the audit log, and the encryption of faces."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
from kiosk.gallery.local_copy import LocalCopy
from kiosk.gallery.pg_migrate import open_schema
from kiosk.gallery.pg_schema import PgAuditStore
from kiosk.gallery.row_seal import row_key
from kiosk.gallery.sealed_settings import sealing_seq
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
from kiosk.security.site_key import BlobCipher, find_site_key

log = logging.getLogger("kiosk.gallery.postgres")  # one logger for the whole backend

AUDIT_LOCK = 0x6B696F736B02


class GalleryOfflineError(GalleryError):
    """The PostgreSQL server cannot be reached right now."""


class GalleryPermissionError(GalleryError):
    """The database role may not do this (a kiosk role: docs/shared-gallery.md, roles)."""


@dataclass(frozen=True)
class GalleryStatus:
    """What the staff screen shows about the shared gallery."""

    online: bool
    spooled: int  # visits waiting in the local spool
    detail: str  # why it is offline, or ""
    local_copy: str = ""  # started offline: when the local copy it recognises from was saved


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


def first_line(exc: BaseException, url: str = "") -> str:
    """The error's first line, with every piece of the URL's secrets scrubbed (libpq may echo them)."""
    text = scrub_secrets(str(exc), url) if url else str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _is_unreachable(message: str) -> bool:
    """Whether a connect message says the server is out of reach (not a refused login)."""
    return ": cannot reach the PostgreSQL server (" in message


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
    site key, online or offline (started from the local copy when the server is down),
    transactions, the audit log and the encryption of faces."""

    def __init__(self, url: str, *, create: bool = True, encrypt_templates: bool = True, actor: str = "app",
                 site: str = "", kiosk: str = "", spool_path: str | Path | None = None,
                 keys_dir: Path | None = None, connect_timeout: float = 5.0, migrate: bool = False,
                 local_copy: str | Path | None = None) -> None:
        self.url = url
        self.where = redact_url(url)
        self.path = self.where  # what messages name (the SQLite gallery's is its file)
        self.actor = actor
        self.site, self.kiosk = site, kiosk
        self.encrypted = True
        self._timeout = connect_timeout
        self._keys_dir = keys_dir
        self._lock = threading.RLock()
        self._version = 1
        self._online = True
        self._offline_reason = ""
        self._from_copy = ""  # when the local copy was saved, while the kiosk runs from it
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
        self._dbname = info.get("dbname", "")
        self._listener: threading.Thread | None = None  # PgGallery starts it
        self._pool: ConnectionPool | None = None
        self._spool_path = Path(spool_path) if spool_path else default_spool_path(self.ref)
        self._spool: VisitSpool | None = VisitSpool(self._spool_path) if self._spool_path.exists() else None
        self._local: LocalCopy | None = None
        self._local_path = Path(local_copy) if local_copy is not None else None
        if local_copy is not None:
            self._local = LocalCopy(local_copy)
        self.migrated_from = 0
        try:
            probe = psycopg.connect(url, **self._kwargs)
        except psycopg.Error as exc:
            message = _connect_message(self.where, exc, self.url)
            copy_meta = self._local.meta() if self._local is not None else {}
            if not _is_unreachable(message) or "gallery_id" not in copy_meta:
                self._close_files()
                raise KioskError(message) from None
            self._start_offline(message, copy_meta)
            return
        try:
            self._start(probe, create=create, migrate=migrate, encrypt_templates=encrypt_templates)
        except BaseException:
            self._close_files()
            raise

    # -- connecting and migrating ------------------------------------------------------

    def _start(self, probe: psycopg.Connection, *, create: bool, migrate: bool, encrypt_templates: bool) -> None:
        """Check (or make, or migrate) the schema on `probe`, find the site key, open the pool."""
        try:
            self._ensure_vector(probe)
            state = open_schema(probe, where=self.where, ref=self.ref, create=create, migrate=migrate,
                                keys_dir=self._keys_dir, encrypt_templates=encrypt_templates)
            self._use_key(state.key, state.gallery_id)
            self._look_at_anchor(probe)
        except psycopg.Error as exc:
            raise GalleryError(f"{self.where}: {first_line(exc, self.url)}") from None
        finally:
            probe.close()
        if state.role_site is not None:  # a kiosk role: the server decides its site
            if self.site and self.site != state.role_site:
                raise KioskError(f"{self.where}: this database role is a kiosk of site {state.role_site!r}, but this "
                                 f"kiosk is configured for site {self.site!r} (events.site); fix one of them")
            self.site = state.role_site
        self.templates_encrypted = state.templates_encrypted
        self._schema_version = state.schema_version
        self.migrated_from = state.migrated_from
        self._pool = self._new_pool()

    def _start_offline(self, reason: str, copy_meta: dict[str, str]) -> None:
        """Start without the server, from the local copy: recognise, spool visits, refuse writes."""
        found = find_site_key(copy_meta["gallery_id"], keys_dir=self._keys_dir, legacy_ref=self.ref)
        self._use_key(found, copy_meta["gallery_id"])
        self.templates_encrypted = True  # unknown until the server answers; only read offline
        self._schema_version = int(copy_meta.get("schema_version", "0"))
        self._online = False
        self._offline_reason = reason
        self._from_copy = copy_meta.get("saved_at", "?")
        log.warning("%s: started OFFLINE (%s): recognising from the local copy saved %s; visits are spooled",
                    self.where, reason, self._from_copy)

    def _start_from_listener(self) -> bool:
        """The server answered after an offline start: open it as a kiosk does (no create, no
        migration); KioskError when it cannot be used (the kiosk stays on its local copy).
        True when the server holds another gallery than the copy (reload everything)."""
        copy_id = self._gallery_id
        probe = psycopg.connect(self.url, **self._kwargs)
        self._start(probe, create=False, migrate=False, encrypt_templates=True)
        return self._gallery_id != copy_id

    def _use_key(self, key: GalleryKey | None, gallery_id: str) -> None:
        if getattr(self, "_gallery_id", None) != gallery_id:
            # What this computer saw of the gallery, by its id (kiosk.security.audit_anchor);
            # checked once the server answers (_look_at_anchor).
            self.guard = GalleryGuard(anchor_path(gallery_id, self.ref, self._keys_dir))
        self._gallery_id = gallery_id
        self._key: GalleryKey | None = key
        self._cipher: BlobCipher | None = BlobCipher(key.key) if key is not None else None
        self._row_key = row_key(key.key) if key is not None else b""
        self.audit_key_source = key.source if key is not None else ""

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
                else "this role may not add it (pgvector is not a trusted extension)"
            raise KioskError(f"{self.where}: the database has no pgvector extension and {detail}; a superuser "
                             "runs in this database: CREATE EXTENSION vector; (on a managed service: its "
                             "extension setting)") from None

    def _look_at_anchor(self, conn: psycopg.Connection) -> None:
        """Compare the log with what this computer saw last (a restored copy shows), and move
        the record on when the gallery is as seen or newer."""
        store = PgAuditStore(conn)
        last = store.last()
        if not self.guard.check(last.seq if last else 0, store.mac_at, resigned_since=self._resigned_since(store)) \
                and last is not None:
            self.guard.seen(last.seq, last.mac)

    @staticmethod
    def _resigned_since(store: PgAuditStore) -> Callable[[int], bool]:
        """Whether `gallery rekey` re-signed the log after record `seq` (its macs then differ from
        those this computer saw, and rightly)."""
        def since(seq: int) -> bool:
            rekey = AuditAction.GALLERY_REKEY.value
            rekeyed = store.last_seqs((rekey,)).get(rekey)
            return rekeyed is not None and rekeyed > seq
        return since

    # -- identity, lifecycle -------------------------------------------------------------

    @property
    def gallery_id(self) -> str:
        """A stable id of this gallery (made when it was created, stored in it)."""
        return self._gallery_id

    def own_files(self) -> tuple[Path, ...]:
        """Every file this gallery keeps on this computer, which no export or CSV may replace:
        the visit spool and the local copy (each with its -wal/-shm and key files), and the
        site key files (both slots, the name from before schema 6, and the one it was found in)."""
        from kiosk.security.keys import key_file_path
        from kiosk.security.private_files import gallery_files
        from kiosk.security.site_key import legacy_site_key_path, site_key_path

        files = [site_key_path(self._gallery_id, self._keys_dir), site_key_path(self._gallery_id, self._keys_dir, "next"),
                 legacy_site_key_path(self.ref, self._keys_dir)]
        for path in (self._spool_path, self._local_path):
            if path is not None:
                files += [*gallery_files(path), *(key_file_path(path, slot=slot) for slot in ("current", "next"))]
        if self._key is not None and self._key.source == "file":
            files.append(Path(self._key.location))
        return tuple(files)

    @property
    def key(self) -> GalleryKey:
        """The site key (GalleryOfflineError when a kiosk started offline has none yet)."""
        if self._key is None:
            raise self._offline_error("using the site key")
        return self._key

    @property
    def integrity_key(self) -> bytes:
        """The secret the gallery's MACs derive from: the site key (never stored in the server)."""
        return self.key.key

    @property
    def schema_version(self) -> int:
        """The schema version stored in the database."""
        return self._schema_version

    _copy_writer: ThreadPoolExecutor | None = None  # writes the local copy (pg_templates)

    def close(self) -> None:
        """Stop the listener and close the connections (the spool and the local copy too, once
        its last write is done)."""
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        if self._copy_writer is not None:
            self._copy_writer.shutdown(wait=True)
        with self._lock:
            if self._pool is not None:
                self._pool.close(timeout=2)
            self._close_files()

    def _close_files(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None  # status() after close: nothing spooled here any more
        if self._local is not None:
            self._local.close()
            self._local = None

    @property
    def online(self) -> bool:
        """Whether the server answered last time we asked (the listener keeps asking)."""
        return self._online

    def status(self) -> GalleryStatus:
        """Online or not, and how many visits wait in the local spool (for the staff screen)."""
        with self._lock:
            spooled = self._spool.count() if self._spool is not None else 0
        return GalleryStatus(self._online, spooled, "" if self._online else self._offline_reason, self._from_copy)

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
        if not self._online or self._pool is None:
            raise self._offline_error(what)
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            if _is_connection_error(exc):
                self._set_offline(exc)
                raise self._offline_error(what) from None
            if isinstance(exc, pg_errors.InsufficientPrivilege):
                raise GalleryPermissionError(f"{self.where}: this database role may not do that ({what}): "
                                             f"{first_line(exc, self.url)}") from None
            raise GalleryError(f"{self.where}: {first_line(exc, self.url)}") from None

    @contextmanager
    def _transaction(self, what: str = "changing the gallery", *, audited: bool = True) -> Iterator[psycopg.Connection]:
        """One server transaction: all of it commits, or none (also when this process dies)."""
        self._appended = None
        with self._conn(what) as conn, conn.transaction():
            if audited:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
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
            self.guard.check(last.seq if last else 0, store.mac_at, resigned_since=self._resigned_since(store))
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
            seq = sealing_seq(action, lambda a: self._audit(conn, a, subject, details), PgAuditStore(conn).last,
                              audit_required=audit_required)
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

    @property
    def _blobs(self) -> BlobCipher:
        if self._cipher is None:
            raise self._offline_error("reading faces")
        return self._cipher

    def _aad(self, what: str, person_id: int, extra: str = "") -> str:
        return f"face-kiosk|{self._gallery_id}|{what}|{person_id}|{extra}"

    def _seal_png(self, rgb: np.ndarray, what: str, person_id: int) -> bytes:
        return self._blobs.encrypt(encode_png(rgb), self._aad(what, person_id))

    def _open_png(self, blob: bytes, what: str, person_id: int) -> np.ndarray:
        return decode_png(self._blobs.decrypt(blob, self._aad(what, person_id)))

    def seal_template(self, vec: np.ndarray, person_id: int, model_version: str, kind: str) -> bytes:
        """A unit template encrypted as `templates.embedding_enc` holds it (bulk loads, benchmarks)."""
        return self._blobs.encrypt(np.asarray(vec, np.float32).tobytes(),
                                    self._aad("template", person_id, f"{model_version}|{kind}"))

    def _open_template(self, row_enc: Any, row_vec: Any, person_id: int, model_version: str, kind: str) -> np.ndarray:
        if row_enc is not None:
            raw = self._blobs.decrypt(row_enc, self._aad("template", person_id, f"{model_version}|{kind}"))
            return np.frombuffer(raw, np.float32).copy()
        if isinstance(row_vec, (bytes, bytearray, memoryview)):  # raw binary (see _RawBinary)
            return np.frombuffer(bytes(row_vec)[4:], ">f4").astype(np.float32)
        return np.asarray(row_vec.to_numpy() if hasattr(row_vec, "to_numpy") else row_vec, np.float32)

