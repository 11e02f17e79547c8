"""The SQLite gallery's file and connection (kiosk.gallery.sqlite.Gallery is built on it): opening
or creating the encrypted file, its key, the schema migrations, one transaction per write, the
change counter other processes' writes move, the audit log and what this computer last saw of
it (kiosk.security.audit_anchor)."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher  # type: ignore[import-untyped]

from kiosk.errors import GalleryError, os_reason
from kiosk.gallery.api import TemplateSet, now_iso
from kiosk.gallery.schema import MIGRATIONS, SCHEMA_VERSION
from kiosk.gallery.sealed_settings import sealing_seq
from kiosk.security import erase
from kiosk.security.audit import (
    AuditAction,
    AuditError,
    AuditLog,
    AuditRecord,
    AuditTail,
    AuditVerdict,
    SqliteAuditStore,
    open_head,
)
from kiosk.security.audit_anchor import GalleryGuard, anchor_path, forget_anchors, resolved
from kiosk.security.encrypted_gallery import open_gallery as open_encrypted
from kiosk.security.keys import (
    GalleryKey,
    candidate_keys,
    find_moved_key,
    gallery_ref,
    key_file_path,
    load_key,
    salt_path,
)
from kiosk.security.private_files import ensure_private_dir, gallery_files, tighten_file
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
        self._appended: AuditRecord | None = None
        try:
            exists = self.path.exists()
        except OSError as exc:  # a name too long, a folder we may not enter
            raise GalleryError(f"{self.path}: cannot open ({os_reason(exc)})") from None
        if not create and not exists:
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
                self.key: GalleryKey = _plaintext_key(self.path, conn)  # MACs the audit log and lockout
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
        self._gallery_id = str(self._rows("SELECT value FROM meta WHERE key = 'gallery_id'")[0][0])
        self.guard = GalleryGuard(anchor_path(self._gallery_id, resolved(self.path)))
        self._look_at_anchor()
        self.data_version()  # the version the (empty) template cache belongs to
        if not self.encrypted:
            log.warning("%s is not encrypted: run `face-kiosk gallery encrypt` (docs: Privacy and security)",
                        self.path)

    @property
    def gallery_id(self) -> str:
        """The gallery's own id, made with it and kept inside it (binds MACs such as the PIN
        lockout to it; a moved or copied file keeps it)."""
        return self._gallery_id

    def _look_at_anchor(self) -> None:
        """Compare the log with what this computer saw last (a restored copy shows), and move
        the record on when the gallery is as seen or newer."""
        with self._lock:
            last = self.audit.store.last()
            if not self.guard.check(last.seq if last else 0, self.audit.store.mac_at) and last is not None:
                self.guard.seen(last.seq, last.mac)

    def own_files(self) -> tuple[Path, ...]:
        """Every file this gallery keeps on this computer, which no export or CSV may replace:
        the gallery and its -wal/-shm/-journal, its key files (both slots, and the one it was
        found in), the passphrase salt."""
        files = [*gallery_files(self.path), salt_path(self.path),
                 *(key_file_path(self.path, slot=slot) for slot in ("current", "next"))]
        if self.key.source == "file":
            files.append(Path(self.key.location))
        return tuple(files)

    @property
    def integrity_key(self) -> bytes:
        """The secret the gallery's MACs derive from (never stored in the gallery)."""
        return self.key.key

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> SqliteConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (nothing half-written)."""
        with self._lock:
            self._appended = None  # the newest audit record this transaction writes
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._writes += 1
            appended, self._appended = self._appended, None
        if appended is not None:
            self.guard.seen(appended.seq, appended.mac)

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

    def _audit(self, action: AuditAction | str, subject: str, details: dict[str, Any] | None = None) -> AuditRecord:
        """Record an action in the audit log: call inside the write's own transaction. Refused
        (AuditError) while the gallery is older than this computer saw it, as for a broken head."""
        last = self.audit.store.last()
        if not self.guard.problem:
            self.guard.check(last.seq if last else 0, self.audit.store.mac_at)
        if self.guard.problem:
            raise AuditError(f"{self.guard.problem}; nothing was changed. An admin must check it (audit verify) "
                             "and accept it (audit recover)")
        self._appended = self.audit.append(action, self.actor, subject, details or {})
        return self._appended

    def seal_settings(self, make: Callable[[int], dict[str, str]], action: AuditAction | str | None = None,
                      subject: str = "", details: dict[str, Any] | None = None, *,
                      audit_required: bool = True) -> int:
        """Write `make(seq)`'s settings sealed at a point of the audit log, in one transaction (the
        point: kiosk.gallery.sealed_settings.sealing_seq, with `action`'s record appended).
        Returns the seq."""
        with self._transaction() as conn:
            seq = sealing_seq(action, lambda a: self._audit(a, subject, details), self.audit.store.last,
                              audit_required=audit_required)
            for key, value in make(seq).items():
                conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))
        return seq

    def audit_tail(self, actions: tuple[str, ...] = ()) -> AuditTail:
        """The end of the audit log (kiosk.security.audit.AuditTail)."""
        with self._lock:
            return self.audit.tail(actions)

    def record_event(self, action: AuditAction | str, subject: str = "", details: dict[str, Any] | None = None) -> None:
        """Record an action that is not itself a write (export, kiosk unlock, wrong PIN)."""
        with self._transaction():
            self._audit(action, subject, details)

    def recover_audit(self) -> AuditRecord:
        """Accept a broken audit log (kiosk.security.audit.AuditLog.recover): a record saying what
        was wrong, after which writes are possible again. The caller checked the admin PIN."""
        with self._transaction():
            problem = self.guard.problem
            record = self.audit.recover(self.actor, problem)
        self.guard.accept(record.seq, record.mac)
        return record

    def audit_records(self) -> list[AuditRecord]:
        """The audit log, oldest first."""
        with self._lock:
            return self.audit.records()

    def verify_audit(self) -> AuditVerdict:
        """Whether the audit log is whole and unedited."""
        with self._lock:
            verdict = self.audit.verify()
        if verdict.ok and self.guard.problem:
            return AuditVerdict(False, verdict.count, verdict.count + 1, self.guard.problem)
        return verdict

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
            audit = AuditLog(SqliteAuditStore(conn), self.key.key)
            audit.create_schema()  # seals the first head
            if version < 5:
                self._seal_for_schema_5(conn, audit)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', ?)", (now_iso(),))

    def _seal_for_schema_5(self, conn: sqlite3.Connection, audit: AuditLog) -> None:
        """Photo paths to keyed hashes of their names, the PIN sealed for schema 5 (kiosk.gallery.sealing)."""
        from kiosk.gallery.admin_pin import LOCKOUT_RECORDS
        from kiosk.gallery.sealing import reseal_pin
        from kiosk.gallery.stored_faces import photo_provenance

        key = self.key.key
        for table in ("samples", "templates"):
            for (source,) in conn.execute(f"SELECT DISTINCT source FROM {table}").fetchall():  # noqa: S608
                conn.execute(f"UPDATE {table} SET source = ? WHERE source = ?",  # noqa: S608 - fixed names
                             (photo_provenance(source, key), source))
        gid = str(conn.execute("SELECT value FROM meta WHERE key = 'gallery_id'").fetchone()[0])

        def get(name: str) -> str | None:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (name,)).fetchone()
            return str(row[0]) if row else None

        def put(name: str, value: str) -> None:
            conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (name, value))

        # Schema 4 bound the lockout to the path's hash (keys.gallery_id, as it was).
        legacy_id = hashlib.sha256(gallery_ref(self.path).encode("utf-8")).hexdigest()[:32]
        reseal_pin(get, put, key, gid, legacy_id, audit.tail(LOCKOUT_RECORDS))

    @property
    def schema_version(self) -> int:
        """The schema version stored in the file."""
        return int(self._rows("SELECT value FROM meta WHERE key='schema_version'")[0][0])


def _plaintext_key(path: Path, conn: Any) -> GalleryKey:
    """The key that MACs a plaintext gallery's audit log and PIN: found for its path, or (a
    gallery moved or copied here) the stored key its audit head verifies with, or new."""
    if candidate_keys(path):
        return load_key(path, create=True)
    try:
        head = conn.execute("SELECT value FROM audit_head WHERE id = 1").fetchone()
    except DB_ERRORS:
        head = None  # a new gallery, or one from before the audit log
    if head is not None:
        from kiosk.security.audit import audit_key

        def verifies(key: bytes) -> bool:
            pointer, authentic = open_head(audit_key(key), str(head[0]))
            return pointer is not None and authentic

        moved = find_moved_key(path, verifies)
        if moved is not None:
            return moved
    return load_key(path, create=True)


def forget_gallery(path: str | Path, gallery_id: str | None = None) -> None:
    """Remove what the key store keeps for a gallery file that is gone (a throw-away one): its
    keys in both slots, and what this computer saw of it. Env keys and passphrases are not
    ours to remove."""
    from kiosk.security.keys import delete_key

    if gallery_id is None and Path(path).exists():
        try:
            with SqliteConnection(path, create=False) as gallery:
                gallery_id = gallery.gallery_id
        except (GalleryError,) + DB_ERRORS:
            gallery_id = None
    delete_key(path, slot="current")
    delete_key(path, slot="next")
    if gallery_id is not None:
        forget_anchors(gallery_id, resolved(path))
