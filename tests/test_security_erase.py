"""Erasing a person for real: the deleted name and blob leave the main file, -wal and -shm.

Plain SQLite is grepped as is. For SQLCipher the raw bytes are ciphertext anyway, so the
test decrypts every page of the main file and every WAL frame itself (SQLCipher 4 defaults:
4096-byte pages, AES-256-CBC with the raw key, 16-byte IV + 64-byte HMAC reserved at the
end of each page, page 1 starting after the 16-byte salt) and greps the plaintext: the data
must be gone even for someone who has the key.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3.dbapi2 as sc
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kiosk.security.erase import EraseIncomplete, enable_secure_delete, purge
from kiosk.security.sqlcipher import connect_encrypted

NAME = b"Zephyrine Quackenbush"
BLOB = b"\xfa\xce\xb0\x0c" * 300  # stands in for a face crop / template
KEY = bytes(range(32))
PAGE, RESERVE, SALT = 4096, 80, 16


def connect(kind: str, path: Path) -> Any:
    if kind == "sqlcipher":
        conn = connect_encrypted(path, KEY, create=True)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def make_gallery(kind: str, path: Path) -> Any:
    conn = connect(kind, path)
    conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    conn.execute("CREATE TABLE samples (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL"
                 " REFERENCES people(id) ON DELETE CASCADE, aligned_png BLOB NOT NULL)")
    conn.execute("BEGIN IMMEDIATE")
    for i in range(41):
        name, blob = (NAME.decode(), BLOB) if i == 20 else (f"visitor {i}", os.urandom(1200))
        pid = conn.execute("INSERT INTO people(name) VALUES (?)", (name,)).lastrowid
        conn.execute("INSERT INTO samples(person_id, aligned_png) VALUES (?, ?)", (pid, blob))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the person is in the main file now
    return conn


def decrypt(data: bytes, *, wal: bool) -> bytes:
    """SQLCipher pages of a main file or WAL file, decrypted (see the module docstring)."""
    out = []
    offset, frame_header = (32, 24) if wal else (0, 0)
    index = 0
    while offset + frame_header + PAGE <= len(data):
        pgno = struct.unpack(">I", data[offset:offset + 4])[0] if wal else index + 1
        page = data[offset + frame_header: offset + frame_header + PAGE]
        start = SALT if pgno == 1 else 0
        iv = page[PAGE - RESERVE: PAGE - RESERVE + 16]
        dec = Cipher(algorithms.AES(KEY), modes.CBC(iv)).decryptor()
        out.append(dec.update(page[start: PAGE - RESERVE]) + dec.finalize())
        offset += frame_header + PAGE
        index += 1
    return b"".join(out)


def traces(kind: str, db: Path) -> dict[str, bool]:
    """For each of the gallery's files: does it still hold the name or the blob?"""
    found = {}
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(db) + suffix)
        if not path.exists():
            continue
        data = path.read_bytes()
        views = [data]
        if kind == "sqlcipher" and suffix != "-shm":
            views.append(decrypt(data, wal=suffix == "-wal"))
        found[path.name] = any(NAME in v or BLOB[:64] in v for v in views)
    return found


def delete_person(conn: Any) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM people WHERE name = ?", (NAME.decode(),))
    conn.execute("COMMIT")


@pytest.mark.parametrize("kind", ["sqlite3", "sqlcipher"])
def test_the_decryptor_sees_the_person_before_the_erase(tmp_path, kind):
    """Control: a plain DELETE leaves the person recoverable (with secure_delete off, as
    sqlcipher3 ships), so the erase test below can tell success from failure."""
    db = tmp_path / "gallery.db"
    conn = make_gallery(kind, db)
    conn.execute("PRAGMA secure_delete = OFF")
    assert traces(kind, db)["gallery.db"]
    delete_person(conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert conn.execute("SELECT count(*) FROM samples").fetchone() == (40,)
    assert traces(kind, db)["gallery.db"]
    conn.close()


@pytest.mark.parametrize("kind", ["sqlite3", "sqlcipher"])
def test_erase_with_the_kiosk_connection_open(tmp_path, kind):
    db = tmp_path / "gallery.db"
    admin = make_gallery(kind, db)
    kiosk = connect(kind, db)  # the running kiosk's connection, idle between frames
    assert kiosk.execute("SELECT count(*) FROM people").fetchone() == (41,)
    enable_secure_delete(admin)
    delete_person(admin)
    report = purge(admin)
    assert report.complete and report.wal_bytes == 0 and not report.checkpoint_busy
    found = traces(kind, db)
    assert set(found) == {"gallery.db", "gallery.db-wal", "gallery.db-shm"}
    assert not any(found.values()), found
    # The kiosk carries on, seeing the deletion.
    assert kiosk.execute("SELECT count(*) FROM people").fetchone() == (40,)
    kiosk.close()
    admin.close()
    assert not any(traces(kind, db).values())


@pytest.mark.parametrize("kind", ["sqlite3", "sqlcipher"])
def test_a_reader_in_a_transaction_keeps_the_old_pages_until_it_ends(tmp_path, kind):
    db = tmp_path / "gallery.db"
    admin = make_gallery(kind, db)
    kiosk = connect(kind, db)
    kiosk.execute("BEGIN")  # a read transaction left open
    kiosk.execute("SELECT count(*) FROM people").fetchone()
    enable_secure_delete(admin)
    delete_person(admin)
    with pytest.raises(EraseIncomplete, match="retry"):
        purge(admin, busy_timeout_s=0.05)
    assert traces(kind, db)["gallery.db"]  # honest: the old page is still in the main file
    report = purge(admin, busy_timeout_s=0.05, strict=False)
    assert not report.complete and report.checkpoint_busy
    kiosk.execute("COMMIT")
    assert purge(admin).complete
    assert not any(traces(kind, db).values())
    kiosk.close()
    admin.close()


@pytest.mark.parametrize("kind", ["sqlite3", "sqlcipher"])
def test_purge_also_cleans_a_deletion_made_without_secure_delete(tmp_path, kind):
    """The kiosk's own connection deleted the person with secure_delete off: VACUUM still
    rebuilds the file without the freed bytes."""
    db = tmp_path / "gallery.db"
    kiosk = make_gallery(kind, db)
    kiosk.execute("PRAGMA secure_delete = OFF")
    delete_person(kiosk)
    kiosk.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert traces(kind, db)["gallery.db"]
    admin = connect(kind, db)
    assert purge(admin).complete
    assert not any(traces(kind, db).values())
    admin.close()
    kiosk.close()


def test_purge_refuses_inside_a_transaction(tmp_path):
    conn = make_gallery("sqlite3", tmp_path / "g.db")
    conn.execute("BEGIN IMMEDIATE")
    with pytest.raises(RuntimeError, match="outside a transaction"):
        purge(conn)
    conn.execute("ROLLBACK")
    conn.close()


def test_sqlcipher_ships_secure_delete_off():
    """Why enable_secure_delete exists: sqlcipher3's own SQLite does not zero deletions."""
    conn = sc.connect(":memory:")
    assert conn.execute("PRAGMA secure_delete").fetchone() == (0,)
    enable_secure_delete(conn)
    assert conn.execute("PRAGMA secure_delete").fetchone() == (1,)
    conn.close()
