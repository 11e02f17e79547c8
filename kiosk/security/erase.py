"""What it takes for deleted rows to leave the SQLite files (main file, -wal, -shm).

A DELETE only unlinks the row: without ``secure_delete`` its bytes stay in the page's free
space and in freelist pages, and in WAL mode the old page images also stay in the -wal file
until a checkpoint copies newer ones over them and the WAL is cut. `sqlcipher3` builds its
SQLite with secure_delete OFF (Debian's system sqlite3 has it ON), so it must be set per
connection. The sequence, checked by tests/test_security_erase.py on plain SQLite and on
SQLCipher (by decrypting the pages):

1. `enable_secure_delete(conn)` on every connection that may delete, right after opening:
   the page images written by the DELETE then hold zeros where the row was.
2. DELETE in the caller's transaction (with its audit record), COMMIT.
3. `purge(conn)`, outside any transaction: ``wal_checkpoint(TRUNCATE)`` (the zeroed pages
   reach the main file and the WAL is cut to 0 bytes), ``VACUUM`` (rebuilds the file: no
   free page, no slack from older deletes made without secure_delete), and a second
   ``wal_checkpoint(TRUNCATE)``, because in WAL mode VACUUM writes the whole new file into
   the WAL first. ``temp_store = MEMORY`` meanwhile, so VACUUM's copy of every live row never
   goes to a temp file.

With a second connection open (the running kiosk keeps one): it does not stop the erase as
long as it holds NO open read transaction (no BEGIN left open, no cursor left unfinished).
A reader in a transaction pins the WAL frames it may still need: ``wal_checkpoint(TRUNCATE)``
waits for it (busy timeout) and then gives up with busy=1, the main file keeps the old page
and the WAL is not cut. `purge` then raises `EraseIncomplete` (or returns
``complete=False`` with ``strict=False``); run it again once the kiosk is idle. The -shm
file (the WAL index: page numbers and checksums, no row content) stays while any
connection is open; it holds nothing to erase. The other connection's page cache may still
hold the old page in that process's memory until it reads again.

Limits, said plainly: the file system may keep old blocks (SSD wear levelling, btrfs/ZFS/
APFS copy-on-write, snapshots, backups). On a plaintext gallery they hold the person in the
clear; use full-disk encryption. On an SQLCipher gallery they are ciphertext under the
CURRENT key: to make them unreadable too, give the gallery a new key after the erase
(`kiosk.security.encrypted_gallery.rotate_key`) so the old key, and with it every old copy,
is gone ("crypto-shredding"; backups made before then become unreadable as well).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.errors import GalleryError


class EraseIncomplete(GalleryError):
    """The rows are deleted, but their old bytes may still be in the -wal or main file."""


@dataclass(frozen=True)
class PurgeReport:
    """What `purge` achieved. `complete`: both checkpoints finished and the WAL is 0 bytes
    (or the database is not in WAL mode)."""

    complete: bool
    wal_bytes: int
    checkpoint_busy: bool
    vacuumed: bool


def enable_secure_delete(conn: Any) -> None:
    """Zero deleted content on this connection (``PRAGMA secure_delete = ON``); per
    connection, so call it right after opening every gallery connection."""
    conn.execute("PRAGMA secure_delete = ON")
    if int(conn.execute("PRAGMA secure_delete").fetchone()[0]) != 1:
        raise GalleryError("this SQLite build cannot zero deleted data (secure_delete stays off)")


def purge(conn: Any, *, busy_timeout_s: float = 5.0, strict: bool = True) -> PurgeReport:
    """Make deleted rows leave the files: checkpoint(TRUNCATE), VACUUM, checkpoint(TRUNCATE).

    Run after the deleting transaction committed, on a connection with no open transaction
    (RuntimeError otherwise). Waits up to `busy_timeout_s` for other connections' read
    transactions. With `strict`, raises EraseIncomplete when the WAL could not be cut (see
    the module docstring); the deletion itself is committed either way.
    """
    if conn.in_transaction:
        raise RuntimeError("purge must run outside a transaction (VACUUM cannot run inside one)")
    enable_secure_delete(conn)
    old_timeout = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
    old_temp = int(conn.execute("PRAGMA temp_store").fetchone()[0])
    conn.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout_s * 1000))}")
    conn.execute("PRAGMA temp_store = MEMORY")
    try:
        wal = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
        busy = _checkpoint(conn) if wal else False
        conn.execute("VACUUM")
        if wal:
            busy = _checkpoint(conn) or busy
    finally:
        conn.execute(f"PRAGMA temp_store = {old_temp}")
        conn.execute(f"PRAGMA busy_timeout = {old_timeout}")
    wal_bytes = _wal_size(conn) if wal else 0
    report = PurgeReport(complete=not busy and wal_bytes == 0, wal_bytes=wal_bytes,
                         checkpoint_busy=busy, vacuumed=True)
    if strict and not report.complete:
        raise EraseIncomplete(
            "deleted, but another connection is still reading the gallery, so old copies remain "
            "in its files; retry the erase when the kiosk is idle"
        )
    return report


def _checkpoint(conn: Any) -> bool:
    """wal_checkpoint(TRUNCATE); True when a reader kept it from finishing."""
    row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return bool(row and int(row[0]) != 0)


def _wal_size(conn: Any) -> int:
    """Size of the main database's -wal file (0 when absent or for an in-memory db)."""
    rows = conn.execute("PRAGMA database_list").fetchall()
    main = next((r[2] for r in rows if r[1] == "main"), "")
    if not main:
        return 0
    wal = Path(main + "-wal")
    try:
        return os.stat(wal).st_size
    except FileNotFoundError:
        return 0
