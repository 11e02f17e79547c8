"""The encrypted gallery file: SQLCipher 4 through `sqlcipher3` (a drop-in for `sqlite3`).

Every page of the database, the -wal included, is AES-256-CBC encrypted and HMAC-SHA512
authenticated; only the first 16 bytes of the file (a random salt) are plain. The key is
the raw 32-byte gallery key (``PRAGMA key = "x'<64 hex>'"``), so SQLCipher's own PBKDF2 is
skipped: the key is already random (see `kiosk.security.keys` for where it comes from).

Compatibility with the rest of the code, checked by the tests:

- WAL mode works; the connection takes the same arguments as `sqlite3.connect`.
- Its exceptions are `sqlcipher3.dbapi2.*Error`, NOT subclasses of `sqlite3`'s. Code that
  catches `sqlite3.DatabaseError` (the Gallery constructor does) must catch `DB_ERRORS`.
- `sqlcipher3` ships its own SQLite (3.51 here) with ``secure_delete`` OFF by default
  (Debian's sqlite3 has it ON): see `kiosk.security.erase`.
- Never open one gallery file through both `sqlite3` and `sqlcipher3` in the SAME process:
  they are two copies of SQLite, and POSIX file locks are per process, so neither sees the
  other's locks (closing one's descriptor even drops the other's): the "is anyone else
  using it" checks below then pass wrongly, and concurrent writes can corrupt the file.
  Across processes (the usual kiosk + admin tool case) the locks work.

Functions that open a file never write to it before the key is verified: a wrong key or a
plaintext file leaves the file (and the absence of -wal/-shm) exactly as it was.

`encrypt_in_place` and `rekey` need the gallery to themselves: they take SQLite's EXCLUSIVE
locking mode, which in WAL mode fails while any other connection is open, even an idle one
(a running kiosk), and keeps everyone else out until they are done. A connection left open
across a rekey would read the re-encrypted pages with the old key ("file is not a database").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import sqlcipher3.dbapi2 as _sc  # type: ignore[import-untyped]

from kiosk.errors import GalleryError
from kiosk.security.private_files import gallery_files, private_temp_path, shred_fd, shred_file

# The connection is typed as sqlite3's: sqlcipher3 has the same API (and no type hints), so
# Gallery code type-checks unchanged. At run time it is a sqlcipher3.dbapi2.Connection.
Connection = sqlite3.Connection
DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.DatabaseError, _sc.DatabaseError)
SQLITE_HEADER = b"SQLite format 3\x00"
KEY_BYTES = 32
_WRONG_KEY = "wrong key, or not an encrypted face-kiosk gallery"
_BUSY = "the gallery is in use by another program (is the kiosk running?); stop it and retry"
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


class GalleryBusyError(GalleryError):
    """Another connection holds the gallery (the key was not judged)."""


def _key_literal(key: bytes) -> str:
    """SQLCipher's raw-key syntax. Hex digits only, so it is safe inside the PRAGMA text."""
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise GalleryError(f"a gallery key has {KEY_BYTES} bytes")
    return f"x'{key.hex()}'"


def is_plaintext_sqlite(path: str | os.PathLike[str]) -> bool:
    """True when the file starts with SQLite's plain header (read only, nothing written)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def connect_encrypted(
    path: str | os.PathLike[str], key: bytes, *, create: bool = False, timeout: float = 5.0
) -> Connection:
    """Open (or with `create`, make) an encrypted gallery; returns an autocommit connection.

    `PRAGMA key` is the first statement, then a read of sqlite_master proves the key. A
    wrong key, a plaintext file or another file raises a one-line GalleryError and the file
    is not touched. A new file is created 0600 (SQLite gives its -wal/-shm the same mode).
    Journal mode, foreign keys etc. are the caller's, as with `sqlite3.connect`.
    """
    db = Path(path)
    literal = _key_literal(key)
    try:
        st: os.stat_result | None = os.stat(db)
    except FileNotFoundError:
        st = None
    if st is None:
        if not create:
            raise GalleryError(f"{db}: no gallery there")
    elif not stat.S_ISREG(st.st_mode):
        raise GalleryError(f"{db}: not a file")
    elif is_plaintext_sqlite(db):
        raise GalleryError(f"{db}: {_WRONG_KEY} (it is a plaintext SQLite file: encrypt it first)")
    elif st.st_size == 0 and not create:
        raise GalleryError(f"{db}: {_WRONG_KEY}")
    made = st is None and _create_private_file(db)
    conn = _sc.connect(str(db), timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f'PRAGMA key = "{literal}"')
        # Pin the format: a future SQLCipher with new defaults still opens today's files.
        conn.execute("PRAGMA cipher_compatibility = 4")
        _verify_key(conn)
        if st is None or st.st_size == 0:
            # An empty transaction writes the encrypted page 1 now: from here on the file is
            # bound to this key (an empty file would take any key, or none).
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("COMMIT")
    except DB_ERRORS as exc:
        conn.close()
        if made:
            _remove_if_empty(db)
        if _is_busy(exc):
            raise GalleryBusyError(f"{db}: {_BUSY}") from None
        raise GalleryError(f"{db}: {_WRONG_KEY}") from None
    except BaseException:
        conn.close()
        if made:
            _remove_if_empty(db)
        raise
    return cast(Connection, conn)


def _is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: someone else holds the file, the key may be fine."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _remove_if_empty(db: Path) -> None:
    with contextlib.suppress(OSError):
        if os.lstat(db).st_size == 0:
            os.unlink(db)


def _create_private_file(db: Path) -> bool:
    """Create the empty gallery file 0600 ourselves (SQLite would use 0644 minus the umask);
    True when we made it."""
    if not db.parent.is_dir():
        raise GalleryError(f"{db}: the folder {db.parent} does not exist")
    try:
        fd = os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def _take_exclusive(conn: Any, db: Path) -> None:
    """Hold the file alone until `conn` closes, or GalleryError if anyone else has it open.

    EXCLUSIVE locking mode in WAL: the first transaction takes the lock that every other
    connection, idle or not, keeps a share of; it is kept until this connection closes.
    """
    try:
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("COMMIT")
    except DB_ERRORS as exc:
        if _is_busy(exc):
            raise GalleryBusyError(f"{db}: {_BUSY}") from None
        raise


def _verify_key(conn: Any) -> None:
    """Raise a DB error unless the key decrypts page 1 and the library really is SQLCipher."""
    with _quiet_cipher_log(conn):
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    # A plain SQLite build would accept PRAGMA key silently and write plaintext.
    if not conn.execute("PRAGMA cipher_version").fetchall():
        raise GalleryError("this sqlcipher3 build has no encryption (PRAGMA cipher_version is empty)")


@contextlib.contextmanager
def _quiet_cipher_log(conn: Any) -> Iterator[None]:
    """SQLCipher logs "hmac check failed" to stderr on a wrong key; we report it ourselves.
    The level is process-wide, so it is restored right after the check."""
    level = conn.execute("PRAGMA cipher_log_level").fetchone()
    conn.execute("PRAGMA cipher_log_level = NONE")
    try:
        yield
    finally:
        if level and str(level[0]).isalpha():
            conn.execute(f"PRAGMA cipher_log_level = {level[0]}")


@dataclass(frozen=True)
class Snapshot:
    """What a copy must keep: the schema, the rows per table, the header's two numbers."""

    schema: tuple[tuple[str, str, str, str], ...]
    counts: tuple[tuple[str, int], ...]
    user_version: int
    application_id: int
    journal_mode: str


def snapshot(conn: Any, schema: str = "main") -> Snapshot:
    """The schema and the row count of every table (for verifying a copy)."""
    rows = conn.execute(
        f"SELECT type, name, tbl_name, coalesce(sql, '') FROM {schema}.sqlite_master ORDER BY type, name"
    ).fetchall()
    counts = tuple(
        (name, int(conn.execute(f'SELECT count(*) FROM {schema}."{name}"').fetchone()[0]))
        for kind, name, _, _ in rows
        if kind == "table"
    )
    return Snapshot(
        tuple((str(a), str(b), str(c), str(d)) for a, b, c, d in rows),
        counts,
        int(conn.execute(f"PRAGMA {schema}.user_version").fetchone()[0]),
        int(conn.execute(f"PRAGMA {schema}.application_id").fetchone()[0]),
        str(conn.execute(f"PRAGMA {schema}.journal_mode").fetchone()[0]).lower(),
    )


def _check_copy(conn: Any, expected: Snapshot, what: Path) -> None:
    """The copy opened in `conn` holds what `expected` describes and is undamaged."""
    got = snapshot(conn)
    if got.schema != expected.schema:
        raise GalleryError(f"{what}: the copy's schema differs from the original")
    if got.counts != expected.counts:
        raise GalleryError(f"{what}: the copy's row counts differ from the original")
    if (got.user_version, got.application_id) != (expected.user_version, expected.application_id):
        raise GalleryError(f"{what}: the copy's header differs from the original")
    if conn.execute("PRAGMA integrity_check").fetchall() != [("ok",)]:
        raise GalleryError(f"{what}: the copy fails SQLite's integrity check")


def _leftovers(db: Path) -> list[Path]:
    return [p for p in gallery_files(db)[1:] if p.exists()]


def encrypt_in_place(path: str | os.PathLike[str], key: bytes) -> None:
    """Turn a plaintext gallery into an encrypted one, losing nothing on any failure.

    Order: take the file alone (refused while the kiosk or anyone else has it open: it would
    keep writing to the old, unlinked file); export (`sqlcipher_export`, in one transaction
    with the row counts it is checked against) into a 0600 temp file next to the gallery;
    verify the copy with the key (same schema and row counts per table, same user_version,
    integrity_check ok); check again that no -wal/-shm remains after we closed the plaintext
    (nobody opened it meanwhile); then `os.replace` the copy
    over the gallery and overwrite the old plaintext through a descriptor kept open across
    the replace (best effort: see `shred_file`). Until the replace, the original is intact
    and a failure removes the temp file. Stop the kiosk first.
    """
    db = Path(path)
    literal = _key_literal(key)
    if not is_plaintext_sqlite(db):
        raise GalleryError(f"{db}: not a plaintext SQLite gallery (already encrypted?)")
    old_fd = -1
    try:
        with private_temp_path(db, overwrite=True) as tmp:
            src = _sc.connect(str(db), isolation_level=None)  # no key: plaintext
            try:
                _take_exclusive(src, db)
                src.execute("ATTACH DATABASE ? AS enc KEY ?", (str(tmp), literal))
                # The snapshot and the export in one transaction: they describe the same rows.
                src.execute("BEGIN IMMEDIATE")
                expected = snapshot(src)
                src.execute("SELECT sqlcipher_export('enc')")
                # sqlcipher_export copies schema and rows, not these header fields.
                src.execute(f"PRAGMA enc.user_version = {expected.user_version}")
                src.execute(f"PRAGMA enc.application_id = {expected.application_id}")
                src.execute("COMMIT")
                src.execute("DETACH DATABASE enc")
            finally:
                src.close()
            enc = connect_encrypted(tmp, key)
            try:
                _check_copy(enc, expected, db)
                if expected.journal_mode == "wal":
                    enc.execute("PRAGMA journal_mode = WAL")
            finally:
                enc.close()
            busy = _leftovers(db)
            if busy:
                raise GalleryError(
                    f"{db}: the gallery is open elsewhere ({busy[0].name} remains); stop the kiosk and retry"
                )
            # Kept open across the replace: the only handle left on the plaintext inode.
            old_fd = os.open(db, os.O_RDWR | _O_NOFOLLOW | _O_BINARY)
    except DB_ERRORS as exc:
        raise GalleryError(f"{db}: encryption failed ({exc}); the plaintext gallery is unchanged") from None
    finally:
        if old_fd >= 0 and not is_plaintext_sqlite(db):
            with contextlib.suppress(OSError):
                shred_fd(old_fd)
        if old_fd >= 0:
            os.close(old_fd)
    for leftover in _leftovers(db):  # none expected; a plaintext -wal would be read as ours
        shred_file(leftover)


def rekey(path: str | os.PathLike[str], old_key: bytes, new_key: bytes,
          within: Callable[[Any, bytes, bytes], None] | None = None) -> None:
    """Re-encrypt every page with `new_key` (PRAGMA rekey, one transaction), then verify.

    Store the new key BEFORE calling this (see `encrypted_gallery.rotate_key`). Refused
    while another connection is open (see the module docstring). Afterwards the WAL is
    truncated, so no page encrypted with the old key stays in the -wal file (old blocks may
    survive on the disk itself; they need the old key, so forget it once this returns).
    `within(conn, old_key, new_key)` writes what must change with the key (MACs made with it)
    in the same transaction: PRAGMA rekey commits it together with the re-encrypted pages, so
    a crash leaves either the old key and old MACs, or the new key and new ones.
    """
    db = Path(path)
    new_literal = _key_literal(new_key)
    conn = connect_encrypted(db, old_key)
    try:
        _take_exclusive(conn, db)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            if within is not None:
                within(conn, old_key, new_key)
            expected = snapshot(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute(f'PRAGMA rekey = "{new_literal}"')
        if conn.in_transaction:
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except DB_ERRORS as exc:
        raise GalleryError(f"{db}: changing the key failed ({exc})") from None
    finally:
        conn.close()
    check = connect_encrypted(db, new_key)
    try:
        _check_copy(check, expected, db)
    finally:
        check.close()


def decrypt_to_plain(
    path: str | os.PathLike[str],
    key: bytes,
    dst: str | os.PathLike[str],
    *,
    allow_plaintext: bool = False,
    overwrite: bool = False,
) -> None:
    """Admin escape hatch: write an UNENCRYPTED copy of the gallery to `dst` (a new file,
    0600; the gallery itself is untouched). Refused unless `allow_plaintext` is given: the
    copy holds everyone's names, faces and templates in the clear. Erase it when done."""
    db = Path(path)
    if not allow_plaintext:
        raise GalleryError("refusing to write an unencrypted copy of the gallery without the explicit flag")
    src = connect_encrypted(db, key)
    try:
        expected = snapshot(src)
        with private_temp_path(dst, overwrite=overwrite, protected=gallery_files(db)) as tmp:
            src.execute("ATTACH DATABASE ? AS plain KEY ''", (str(tmp),))
            src.execute("SELECT sqlcipher_export('plain')")
            src.execute(f"PRAGMA plain.user_version = {expected.user_version}")
            src.execute(f"PRAGMA plain.application_id = {expected.application_id}")
            src.execute("DETACH DATABASE plain")
            check = sqlite3.connect(str(tmp))
            try:
                _check_copy(check, expected, Path(dst))
            finally:
                check.close()
    except DB_ERRORS as exc:
        raise GalleryError(f"{db}: decrypting failed ({exc})") from None
    finally:
        src.close()
