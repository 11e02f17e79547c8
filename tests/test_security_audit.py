"""The tamper-evident audit log: a real SQLite/SQLCipher database edited by hand."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from pathlib import Path

import pytest

from kiosk.security.audit import (
    AuditAction,
    AuditError,
    AuditHead,
    AuditLog,
    SqliteAuditStore,
    audit_key,
    seal_head,
    verify,
)
from kiosk.security.sqlcipher import connect_encrypted

GALLERY_KEY = bytes(range(32))


def open_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


def new_log(conn, key: bytes = GALLERY_KEY) -> AuditLog:
    """The gallery's migration: its own tables plus the audit schema, one transaction."""
    log = AuditLog(SqliteAuditStore(conn), key)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT)")
    log.create_schema()
    conn.execute("COMMIT")
    return log


def enroll(conn, log: AuditLog, name: str) -> int:
    """What the gallery does: the change and its record in ONE transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        pid = int(conn.execute("INSERT INTO people(name) VALUES (?)", (name,)).lastrowid)
        log.append(AuditAction.ENROLL, "admin", f"person {pid}", {"samples": 3, "source": "camera"})
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return pid


@pytest.fixture
def db(tmp_path):
    conn = open_db(tmp_path / "gallery.db")
    log = new_log(conn)
    for i in range(6):
        enroll(conn, log, f"person {i}")
    yield conn, log
    conn.close()


def unguard(conn) -> None:
    """What an attacker with the file does first: drop the append-only triggers."""
    for trigger in ("audit_no_update", "audit_no_delete", "audit_head_no_delete"):
        conn.execute(f"DROP TRIGGER {trigger}")


def test_a_clean_log_verifies(db):
    conn, log = db
    verdict = log.verify()
    assert (verdict.ok, verdict.count, verdict.first_bad_seq) == (True, 6, None)
    records = log.records()
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0].prev_mac == "0" * 64 and records[1].prev_mac == records[0].mac
    assert records[0].ts.endswith("+00:00")  # UTC
    # The free function, with and without the head:
    assert verify(records, audit_key(GALLERY_KEY)).ok
    assert verify(records, audit_key(GALLERY_KEY), log.store.head()).ok


def test_an_empty_log_verifies_and_its_head_exists_from_the_start(tmp_path):
    conn = open_db(tmp_path / "g.db")
    log = new_log(conn)
    assert log.verify().ok and log.verify().count == 0
    assert log.store.head() is not None
    conn.close()


def test_append_must_be_inside_the_callers_transaction(db):
    conn, log = db
    with pytest.raises(RuntimeError, match="transaction"):
        log.append(AuditAction.EXPORT, "admin", "everyone")


def test_the_change_and_its_record_roll_back_together(db):
    conn, log = db
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO people(name) VALUES ('ghost')")
    log.append(AuditAction.ENROLL, "admin", "person 99")
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM people WHERE name = 'ghost'").fetchone() == (0,)
    assert log.verify().ok and log.verify().count == 6


def test_triggers_keep_the_apps_own_code_from_editing(db):
    conn, _ = db
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit")
    with pytest.raises(sqlite3.DatabaseError, match="kept"):
        conn.execute("DELETE FROM audit_head")


@pytest.mark.parametrize("column, value", [
    ("actor", "'someone else'"), ("details", "'{\"samples\":1,\"source\":\"camera\"}'"),
    ("ts", "'2020-01-01T00:00:00.000+00:00'"), ("action", "'update'"),
])
def test_an_edited_record(db, column, value):
    conn, log = db
    unguard(conn)
    conn.execute(f"UPDATE audit SET {column} = {value} WHERE seq = 3")
    verdict = log.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.reason) == (False, 3, "edited")


def test_a_deleted_record(db):
    conn, log = db
    unguard(conn)
    conn.execute("DELETE FROM audit WHERE seq = 4")
    verdict = log.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.reason) == (False, 4, "deleted (gap at seq 4)")


def test_reordered_records(db):
    conn, log = db
    unguard(conn)
    rows = {r[0]: r[1:] for r in conn.execute("SELECT id, seq, ts, actor, action, subject, details,"
                                              " prev_mac, mac FROM audit").fetchall()}
    ids = sorted(rows)
    conn.execute("DELETE FROM audit WHERE id IN (?, ?)", (ids[1], ids[2]))
    cols = "id, seq, ts, actor, action, subject, details, prev_mac, mac"
    conn.execute(f"INSERT INTO audit({cols}) VALUES (?,?,?,?,?,?,?,?,?)", (ids[1], *rows[ids[2]]))
    conn.execute(f"INSERT INTO audit({cols}) VALUES (?,?,?,?,?,?,?,?,?)", (ids[2], *rows[ids[1]]))
    verdict = log.verify()
    assert (verdict.ok, verdict.reason) == (False, "reordered")


def test_truncated_at_the_end(db):
    conn, log = db
    unguard(conn)
    conn.execute("DELETE FROM audit WHERE seq >= 5")
    verdict = log.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.reason) == (False, 5, "truncated at the end")
    # Without the head, the cut cannot be seen: that is what the second place is for.
    assert verify(log.records(), audit_key(GALLERY_KEY)).ok
    # Appending continues after the head: the cut stays visible as a gap, not refilled.
    conn.execute("BEGIN IMMEDIATE")
    record = log.append(AuditAction.EXPORT, "admin", "everyone")
    conn.execute("COMMIT")
    assert record.seq == 7
    assert log.verify().reason == "deleted (gap at seq 5)"


def test_everything_deleted(db):
    conn, log = db
    unguard(conn)
    conn.execute("DELETE FROM audit")
    assert log.verify().reason == "truncated at the end"
    conn.execute("DELETE FROM audit_head")
    assert log.verify().reason == "head pointer missing"
    conn.execute("DROP TABLE audit")
    assert log.verify().reason == "audit log missing"


@pytest.mark.parametrize("edit", ["delete", "garbage", "older"])
def test_a_broken_head_blocks_appends_until_recovered(db, edit):
    conn, log = db
    unguard(conn)
    older = None
    if edit == "older":  # an earlier, authentic head written back
        older = log.records()[2]
    if edit == "delete":
        conn.execute("DELETE FROM audit_head")
    elif edit == "garbage":
        conn.execute("UPDATE audit_head SET value = '6:' || substr(value, 3, 64) || ':00'")
    else:
        assert older is not None
        text = seal_head(audit_key(GALLERY_KEY), AuditHead(older.seq, older.mac))
        conn.execute("UPDATE audit_head SET value = ?", (text,))
    reason = log.verify().reason
    assert reason in {"head pointer missing", "head pointer edited", "head pointer behind the log"}
    conn.execute("BEGIN IMMEDIATE")
    with pytest.raises(AuditError, match="nothing was changed"):
        log.append(AuditAction.ENROLL, "admin", "person 7")
    conn.execute("ROLLBACK")
    conn.execute("BEGIN IMMEDIATE")
    rec = log.recover("admin")
    conn.execute("COMMIT")
    assert rec.action == "audit_recover" and rec.details["reason"] == reason  # the break is kept
    assert log.verify().ok


def test_a_copy_with_another_key_does_not_verify(db):
    _, log = db
    other = AuditLog(log.store, os.urandom(32))
    verdict = other.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.reason) == (False, 1, "edited")


def test_records_are_frozen_and_details_refuse_biometrics(db):
    conn, log = db
    record = log.records()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.actor = "x"  # type: ignore[misc]
    conn.execute("BEGIN IMMEDIATE")
    try:
        for details in ({"embedding": "..."}, {"name": "Zephyrine"}, {"v": [0.1] * 128},
                        {"nested": {"aligned_png": "..."}}, {"x": float("nan")}):
            with pytest.raises(ValueError):
                log.append(AuditAction.UPDATE, "admin", "person 1", details)
        with pytest.raises(ValueError, match="lowercase"):
            log.append("Drop Table", "admin")
        extra = log.append("retention_sweep", "system", "", {"removed": 2})  # the list can grow
    finally:
        conn.execute("COMMIT")
    assert extra.action == "retention_sweep" and log.verify().ok


def test_works_on_an_encrypted_gallery_with_a_transaction_of_the_gallery(tmp_path):
    conn = connect_encrypted(tmp_path / "g.db", GALLERY_KEY, create=True)
    conn.execute("PRAGMA journal_mode = WAL")
    log = new_log(conn)
    enroll(conn, log, "Zephyrine Quackenbush")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM people WHERE id = 1")
    log.append(AuditAction.ERASE, "admin", "person 1", {"reason": "request"})
    conn.execute("COMMIT")
    assert log.verify().ok and [r.action for r in log.records()] == ["enroll", "erase"]
    conn.close()
