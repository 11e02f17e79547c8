"""The encrypted gallery file: real SQLCipher 4, real files."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlcipher3.dbapi2 as sc

from kiosk.errors import GalleryError, KioskError
from kiosk.security import sqlcipher
from kiosk.security.sqlcipher import (
    DB_ERRORS,
    GalleryBusyError,
    connect_encrypted,
    decrypt_to_plain,
    encrypt_in_place,
    is_plaintext_sqlite,
    rekey,
)

NAME = "Zephyrine Quackenbush"
WRONG = "wrong key, or not an encrypted face-kiosk gallery"


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


def files(folder: Path) -> dict[str, str]:
    """Every file in the folder with the SHA-256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def raw(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()))


def make_plain(path: Path, people: int = 50) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    conn.execute("CREATE TABLE templates (id INTEGER PRIMARY KEY, person_id INTEGER"
                 " REFERENCES people(id) ON DELETE CASCADE, embedding BLOB)")
    conn.execute("CREATE INDEX templates_person ON templates(person_id)")
    conn.execute("PRAGMA user_version = 7")
    conn.execute("BEGIN")
    for i in range(people):
        pid = conn.execute("INSERT INTO people(name) VALUES (?)", (NAME if i == 3 else f"p{i}",)).lastrowid
        conn.execute("INSERT INTO templates(person_id, embedding) VALUES (?, ?)", (pid, os.urandom(512)))
    conn.execute("COMMIT")
    conn.close()


def test_a_drop_in_for_sqlite3_with_wal(folder, key):
    db = folder / "gallery.db"
    conn = connect_encrypted(db, key, create=True)
    assert stat.S_IMODE(db.stat().st_mode) & 0o077 == 0 or os.name != "posix"
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    conn.execute("CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT)")
    with conn:
        conn.executemany("INSERT INTO people(id, name) VALUES (?, ?)",
                         [(i, NAME if i == 5 else f"p{i}") for i in range(200)])
    assert conn.execute("SELECT count(*) FROM people").fetchone() == (200,)
    other = connect_encrypted(db, key)  # a second connection, like the running kiosk's
    assert other.execute("SELECT name FROM people WHERE id = 5").fetchone() == (NAME,)
    assert (folder / "gallery.db-wal").stat().st_size > 0  # the rows are in the WAL now
    assert NAME.encode() not in raw(folder)  # ...encrypted there too
    other.close()
    conn.close()
    assert NAME.encode() not in raw(folder)
    # Its errors are not sqlite3's: callers must catch DB_ERRORS.
    assert not issubclass(sc.DatabaseError, sqlite3.DatabaseError)
    assert issubclass(sc.DatabaseError, DB_ERRORS)


def test_wrong_key_or_plaintext_is_one_line_and_touches_nothing(folder, key):
    db = folder / "gallery.db"
    conn = connect_encrypted(db, key, create=True)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (a)")
    conn.close()
    before = files(folder)
    with pytest.raises(GalleryError) as err:
        connect_encrypted(db, os.urandom(32))
    assert str(err.value) == f"{db}: {WRONG}"
    plain = folder / "plain.db"
    make_plain(plain)
    before_plain = files(folder)
    with pytest.raises(GalleryError, match=WRONG):
        connect_encrypted(plain, key)
    assert files(folder) == before_plain and before.items() <= before_plain.items()
    junk = folder / "junk.db"
    junk.write_bytes(os.urandom(8192))
    with pytest.raises(GalleryError, match=WRONG):
        connect_encrypted(junk, key)
    with pytest.raises(GalleryError, match="no gallery there"):
        connect_encrypted(folder / "missing.db", key)
    assert not (folder / "missing.db").exists()


def test_is_plaintext_sqlite_reads_only_the_header(folder, key):
    plain, enc = folder / "plain.db", folder / "enc.db"
    make_plain(plain)
    connect_encrypted(enc, key, create=True).close()
    before = files(folder)
    assert is_plaintext_sqlite(plain) and not is_plaintext_sqlite(enc)
    assert not is_plaintext_sqlite(folder / "missing.db")
    assert files(folder) == before


def test_encrypt_in_place_keeps_every_row_and_leaves_no_plaintext(folder, key):
    db = folder / "gallery.db"
    make_plain(db)
    encrypt_in_place(db, key)
    assert not is_plaintext_sqlite(db)
    assert NAME.encode() not in raw(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["gallery.db"]
    if os.name == "posix":
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
    conn = connect_encrypted(db, key)
    assert conn.execute("SELECT count(*) FROM people").fetchone() == (50,)
    assert conn.execute("SELECT name FROM people WHERE id = 4").fetchone() == (NAME,)
    assert conn.execute("PRAGMA user_version").fetchone() == (7,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    with pytest.raises(GalleryError, match="already encrypted"):
        encrypt_in_place(db, key)


@contextlib.contextmanager
def kiosk_process(db: Path, key: bytes | None = None):
    """Another process with the gallery open and idle, as a running kiosk has it. (In ONE
    process, sqlite3 and sqlcipher3 are two SQLite copies whose POSIX locks do not see each
    other, so this must be a separate process.)"""
    script = textwrap.dedent(f"""
        import sys
        if {key is None!r}:
            import sqlite3 as lib
        else:
            import sqlcipher3.dbapi2 as lib
        conn = lib.connect({str(db)!r}, isolation_level=None)
        if {key is not None!r}:
            conn.execute("PRAGMA key = \\"x'{(key or b"").hex()}'\\"")
        conn.execute("SELECT count(*) FROM people").fetchone()
        print("ready", flush=True)
        sys.stdin.read()
        conn.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        proc.wait(timeout=120)  # a hang guard
        proc.stdout.close()


def test_encrypt_in_place_refuses_while_the_kiosk_has_it_open(folder, key):
    db = folder / "gallery.db"
    make_plain(db)
    with kiosk_process(db), pytest.raises(GalleryBusyError, match="kiosk running"):
        encrypt_in_place(db, key)
    assert is_plaintext_sqlite(db)
    assert sorted(p.name for p in folder.iterdir()) == ["gallery.db"]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM people").fetchone() == (50,)
    conn.close()


@pytest.mark.parametrize("error", [GalleryError("copy differs"), KeyboardInterrupt()])
def test_a_failed_encryption_loses_nothing(folder, key, monkeypatch, error):
    db = folder / "gallery.db"
    make_plain(db)
    before = files(folder)

    def fail(*args: object) -> None:
        raise error

    monkeypatch.setattr(sqlcipher, "_check_copy", fail)
    with pytest.raises(type(error)):
        encrypt_in_place(db, key)
    assert files(folder) == before  # the plaintext is intact and no temporary file is left
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM people").fetchone() == (50,)
    conn.close()


def test_rekey_verified_and_refused_while_open(folder, key):
    db = folder / "gallery.db"
    make_plain(db)
    encrypt_in_place(db, key)
    new = os.urandom(32)
    kiosk = connect_encrypted(db, key)  # same process, same library
    try:
        with pytest.raises(GalleryBusyError):
            rekey(db, key, new)
    finally:
        kiosk.close()
    with kiosk_process(db, key), pytest.raises(GalleryBusyError):  # another process
        rekey(db, key, new)
    connect_encrypted(db, key).close()  # still the old key
    rekey(db, key, new)
    with pytest.raises(GalleryError, match=WRONG):
        connect_encrypted(db, key)
    conn = connect_encrypted(db, new)
    assert conn.execute("SELECT count(*) FROM templates").fetchone() == (50,)
    conn.close()
    assert (folder / "gallery.db-wal").exists() is False or (folder / "gallery.db-wal").stat().st_size == 0


def test_decrypt_to_plain_needs_the_explicit_flag(folder, key):
    db = folder / "gallery.db"
    make_plain(db)
    encrypt_in_place(db, key)
    out = folder / "plain-copy.db"
    with pytest.raises(GalleryError, match="explicit flag"):
        decrypt_to_plain(db, key, out)
    assert not out.exists()
    decrypt_to_plain(db, key, out, allow_plaintext=True)
    assert is_plaintext_sqlite(out)
    conn = sqlite3.connect(out)
    assert conn.execute("SELECT name FROM people WHERE id = 4").fetchone() == (NAME,)
    conn.close()
    with pytest.raises(KioskError, match="gallery.s own file"):
        decrypt_to_plain(db, key, db, allow_plaintext=True, overwrite=True)
