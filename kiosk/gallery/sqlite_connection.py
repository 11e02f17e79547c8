"""The SQLite gallery's file and connection (kiosk.gallery.sqlite.Gallery is built on it): opening
or creating the encrypted file, its key, the schema migrations, one transaction per write, the
change counter other processes' writes move, and the audit log."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher  # type: ignore[import-untyped]

from kiosk.errors import GalleryError
from kiosk.gallery.api import TemplateSet, now_iso
from kiosk.gallery.schema import MIGRATIONS, SCHEMA_VERSION
from kiosk.security import erase
from kiosk.security.audit import AuditAction, AuditLog, AuditRecord, AuditVerdict, SqliteAuditStore
from kiosk.security.encrypted_gallery import open_gallery as open_encrypted
from kiosk.security.keys import GalleryKey, gallery_id, load_key
from kiosk.security.private_files import ensure_private_dir, tighten_file
from kiosk.security.sqlcipher import DB_ERRORS, GalleryBusyError, is_plaintext_sqlite

log = logging.getLogger("kiosk.gallery.sqlite")  # one logger for the whole backend


class SqliteConnection:
    """What every part of the SQLite Gallery stands on: the open file and its key, the
    transaction, the change counter and the template cache it invalidates, the audit log."""

    def __init__(self, path: str | Path, *, create: bool = True, encrypt: bool = True, actor: str = "app",
                 site: str = "", kiosk: str = "", tighten_folder: bool = True) -> None:
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
        # A new folder is made 0700; an existing one is tightened to 0700 too, unless the caller
        # says it is the user's own to keep as it is (`gallery copy --to DIR/g.db`): the file is 0600.
        ensure_private_dir(self.path.parent, tighten=tighten_folder)
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
