"""Issue 20 (the second hostile audit), the rows about the admin PIN and the audit log, on the
SQLite gallery through the real command line: row 3 (the audit head removed), row 5 (the PIN
row deleted), row 6 (a lockout replayed, an older copy restored), row 7 (a gallery copied to
another folder), row 15 (reads that reveal contacts, a purge from a hostile --config). The
same on PostgreSQL: tests/test_hostile2_storage.py.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3

import numpy as np
import pytest

from kiosk.cli.common import PIN_ENV
from kiosk.gallery import Gallery
from kiosk.gallery.admin_pin import HASH_KEY, LOCKOUT_KEY, AdminPin, PinPolicy
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from kiosk.security.pin_policy import RESTRICTIVE_FAILURES
from tests.conftest import ManualClock
from tests.test_hostile import one_line_error, run

PIN = "735196"
MODEL = "test-model@000"
FAST = PinPolicy(scrypt_n=2**10)


def _sample(seed: int) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(8).astype(np.float32))], "test")


def _gallery(db, *, pin: bool = True, encrypt: bool = True, host: str = "Grace <grace@example.com>") -> int:
    with Gallery(db, encrypt=encrypt) as g:
        pid = g.add_person(PersonDetails("Ada", host=host, notes="allergic to cats"), [_sample(1)], MODEL)
        if pin:
            AdminPin(g, FAST).set_pin(PIN)
    return pid


def _plain_sql(db, *statements: str) -> None:
    """What someone with the file (a plaintext gallery) and the sqlite3 tool does."""
    conn = sqlite3.connect(db)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


# -- row 3: the audit head removed ---------------------------------------------------------------


def test_row03_a_removed_head_blocks_writes_not_reads_and_audit_recover_repairs_it(tmp_path, capsys, monkeypatch,
                                                                                    caplog):
    db = tmp_path / "g.db"
    pid = _gallery(db, encrypt=False)
    with Gallery(db) as g:
        g.update_person(pid, retention_until="2000-01-01")  # past its date: the purge on open must write
    _plain_sql(db, "DROP TRIGGER audit_head_no_delete", "DELETE FROM audit_head")
    monkeypatch.setenv(PIN_ENV, PIN)
    code, out, err = run(capsys, "people", "list", "--db", str(db))
    assert code == 0 and "1 people" in out and "retention purge skipped" in caplog.text  # read; purge logged
    code, _, err = run(capsys, "people", "rename", "--db", str(db), "--id", str(pid), "Bea")
    assert code == 1 and "head pointer missing" in one_line_error(err)
    monkeypatch.setenv(PIN_ENV, "999999")
    code, _, err = run(capsys, "audit", "recover", "--db", str(db))
    assert code == 1 and "Wrong PIN" in one_line_error(err)  # PIN-gated; the wrong PIN still counts
    with Gallery(db) as g:
        assert AdminPin(g, FAST).failures() == 1
    monkeypatch.setenv(PIN_ENV, PIN)
    code, out, err = run(capsys, "audit", "recover", "--db", str(db))
    assert code == 0 and "head pointer missing" in out, err
    code, out, _ = run(capsys, "audit", "list", "--db", str(db), "--jsonl")
    actions = [json.loads(line)["action"] for line in out.splitlines()]
    assert "audit_recover" in actions and actions[-1] == "purge"  # the purge went through after it
    code, out, _ = run(capsys, "people", "list", "--db", str(db))
    assert code == 0 and "0 people" in out


def test_row03_audit_recover_on_an_intact_log_changes_nothing(tmp_path, capsys, monkeypatch):
    db = tmp_path / "g.db"
    _gallery(db)
    monkeypatch.setenv(PIN_ENV, PIN)
    with Gallery(db) as g:
        before = len(g.audit_records())
    code, out, _ = run(capsys, "audit", "recover", "--db", str(db))
    assert code == 0 and "nothing to recover" in out
    with Gallery(db) as g:
        assert len(g.audit_records()) == before


# -- row 5: the PIN row deleted --------------------------------------------------------------------


def test_row05_a_deleted_pin_row_is_tampering_not_no_pin(tmp_path, capsys, monkeypatch):
    db = tmp_path / "g.db"
    pid = _gallery(db, encrypt=False)
    _plain_sql(db, f"DELETE FROM settings WHERE key = '{HASH_KEY}'")
    code, _, err = run(capsys, "people", "remove", "--db", str(db), "--id", str(pid), "--yes")
    assert code == 1 and "needs the admin PIN" in one_line_error(err)
    monkeypatch.setenv(PIN_ENV, PIN)
    code, _, err = run(capsys, "people", "remove", "--db", str(db), "--id", str(pid), "--yes")
    assert code == 1 and "removed outside face-kiosk" in one_line_error(err)
    code, _, err = run(capsys, "audit", "verify", "--db", str(db))
    assert code == 1 and "removed outside face-kiosk" in err
    with Gallery(db) as g:
        assert g.counts()["people"] == 1
    monkeypatch.setenv("FACE_KIOSK_ADMIN_PIN_NEW", "284719")
    code, _, err = run(capsys, "admin", "set-pin", "--db", str(db))  # the old PIN cannot be checked
    assert code == 1
    code, out, err = run(capsys, "admin", "reset-pin", "--db", str(db))
    assert code == 0 and "reset" in out, err
    monkeypatch.setenv(PIN_ENV, "284719")
    code, out, _ = run(capsys, "audit", "list", "--db", str(db), "--jsonl")
    last = json.loads(out.splitlines()[-1])
    assert last["action"] == "pin_reset" and "removed" in last["details"]["reason"]
    code, _, _ = run(capsys, "admin", "reset-pin", "--db", str(db))
    assert code == 1  # only a tampered PIN can be reset


def test_row05_another_hash_or_an_older_one_written_in_lets_nobody_in(tmp_path):
    db = tmp_path / "g.db"
    _gallery(db, encrypt=False)
    with Gallery(db) as g:
        first = g.get_setting(HASH_KEY)
        AdminPin(g, FAST).set_pin("284719")  # a PIN change: `first` is the older hash now
        mine = AdminPin(g, FAST)._new_hash("111000")  # what the editor knows
    for planted in (mine, first):
        _plain_sql(db, f"UPDATE settings SET value = '{planted}' WHERE key = '{HASH_KEY}'")
        with Gallery(db) as g:
            pin = AdminPin(g, FAST)
            assert pin.problem() and not pin.check("111000").ok and not pin.check(PIN).ok


# -- row 6: a lockout replayed, an older copy restored ----------------------------------------------


def test_row06_a_replayed_lockout_value_is_the_strictest_state(tmp_path):
    db = tmp_path / "g.db"
    _gallery(db, encrypt=False)
    clock = ManualClock()
    with Gallery(db) as g:
        pin = AdminPin(g, FAST, clock=clock)
        fresh = g.get_setting(LOCKOUT_KEY)  # 0 failures, sealed
        for _ in range(6):
            pin.check("000000")
            clock.t += 3600
        assert pin.failures() == 6
    _plain_sql(db, f"UPDATE settings SET value = '{fresh}' WHERE key = '{LOCKOUT_KEY}'")
    with Gallery(db) as g:
        pin = AdminPin(g, FAST, clock=clock)
        assert pin.failures() == RESTRICTIVE_FAILURES and pin.locked_for() == FAST.max_delay_s


def test_row06_a_restored_copy_keeps_the_count_and_shows_in_audit_verify(tmp_path, capsys, monkeypatch):
    db = tmp_path / "g.db"
    _gallery(db)
    shutil.copy(db, tmp_path / "backup.db")
    monkeypatch.setenv(PIN_ENV, "000000")
    for _ in range(6):
        run(capsys, "people", "list", "--db", str(db))
    with Gallery(db) as g:
        wait = AdminPin(g, FAST).locked_for()
        assert AdminPin(g, FAST).failures() == 5 and wait > 0  # the sixth came during the wait
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"g.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", db)  # the copy from before the wrong PINs
    with Gallery(db) as g:
        assert not [r for r in g.audit_records() if r.action == "pin_failed"]  # gone from the copy...
        assert AdminPin(g, FAST).failures() == 5 and AdminPin(g, FAST).locked_for() > 0  # ...not the count
    code, _, err = run(capsys, "audit", "verify", "--db", str(db))
    assert code == 1 and "older than this computer last saw it" in err
    monkeypatch.setenv(PIN_ENV, PIN)
    code, _, err = run(capsys, "people", "rename", "--db", str(db), "--id", "1", "Bea")
    assert code == 1 and "Too many wrong PINs" in one_line_error(err)


def test_row06_audit_recover_accepts_a_restored_copy_on_purpose(tmp_path, capsys, monkeypatch):
    db = tmp_path / "g.db"
    pid = _gallery(db)
    shutil.copy(db, tmp_path / "backup.db")
    with Gallery(db) as g:
        g.update_person(pid, notes="changed after the backup")
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"g.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", db)
    monkeypatch.setenv(PIN_ENV, PIN)
    code, _, err = run(capsys, "people", "rename", "--db", str(db), "--id", str(pid), "Bea")
    assert code == 1 and "older than this computer last saw it" in one_line_error(err)
    code, out, err = run(capsys, "audit", "recover", "--db", str(db))
    assert code == 0 and "older than this computer" in out, err
    assert run(capsys, "people", "rename", "--db", str(db), "--id", str(pid), "Bea")[0] == 0
    code, out, _ = run(capsys, "audit", "verify", "--db", str(db))
    assert code == 0


# -- row 7: a gallery copied to another folder ----------------------------------------------------------


@pytest.mark.parametrize("encrypt", [True, False])
def test_row07_a_copy_in_another_folder_opens_with_the_right_pin(tmp_path, capsys, monkeypatch, encrypt):
    db = tmp_path / "a" / "g.db"
    db.parent.mkdir()
    pid = _gallery(db, encrypt=encrypt)
    with Gallery(db) as g:
        AdminPin(g, FAST).check("000000")  # one wrong PIN on record
    (tmp_path / "b").mkdir()
    copy = tmp_path / "b" / "g.db"
    shutil.copy(db, copy)
    monkeypatch.setenv(PIN_ENV, PIN)
    code, out, err = run(capsys, "people", "show", "--db", str(copy), "--id", str(pid))
    assert code == 0 and "Ada" in out, err
    code, out, err = run(capsys, "audit", "verify", "--db", str(copy))
    assert code == 0, err
    with Gallery(copy) as g, Gallery(db) as original:
        assert g.gallery_id == original.gallery_id  # the id is inside the gallery, not its path
        assert AdminPin(g, FAST).failures() == 0  # the right PIN above cleared it; no hour's lockout


# -- gallery rekey: the seals made with the old key are made again ------------------------------------


def test_rekey_keeps_the_audit_log_whole_and_the_admin_pin_working(tmp_path, capsys, monkeypatch):
    """The file's integrity key is its SQLCipher key: a rekey that only re-encrypted the pages
    left the audit log's macs and the PIN's seal under the old key (audit verify failed, no
    PIN was accepted). Now they are re-made in the rekey's own transaction."""
    db = tmp_path / "g.db"
    pid = _gallery(db)
    with Gallery(db) as g:
        old_key = g.key.key
        before = [(r.seq, r.action) for r in g.audit_records()]
    monkeypatch.setenv(PIN_ENV, PIN)
    code, out, err = run(capsys, "gallery", "rekey", "--db", str(db))
    assert code == 0 and "sealed with it" in out, err
    code, out, err = run(capsys, "audit", "verify", "--db", str(db))
    assert code == 0 and "audit log ok" in out, err
    with Gallery(db) as g:
        assert g.key.key != old_key
        records = g.audit_records()
        assert [(r.seq, r.action) for r in records[:len(before)]] == before  # every record kept, re-signed
        assert records[-1].action == "gallery_rekey" and g.verify_audit().ok
        assert AdminPin(g, FAST).problem() == ""
    monkeypatch.setenv(PIN_ENV, "999999")
    code, _, err = run(capsys, "people", "rename", "--db", str(db), "--id", str(pid), "Bea")
    assert code == 1 and "Wrong PIN" in one_line_error(err)
    with Gallery(db) as g:
        assert AdminPin(g, FAST).failures() == 1  # the lockout counts under the new key
    monkeypatch.setenv(PIN_ENV, PIN)
    code, _, err = run(capsys, "people", "rename", "--db", str(db), "--id", str(pid), "Bea")
    assert code == 0, err
    code, out, err = run(capsys, "audit", "verify", "--db", str(db))
    assert code == 0 and "audit log ok" in out, err


# -- row 15: reads behind the PIN, a purge from a hostile --config ----------------------------------------


@pytest.mark.parametrize("argv", [["people", "list"], ["people", "list", "--jsonl"], ["people", "show", "1"]])
def test_row15_reads_that_show_contacts_or_notes_need_the_pin(tmp_path, capsys, monkeypatch, argv):
    db = tmp_path / "g.db"
    _gallery(db)
    code, out, err = run(capsys, *argv, "--db", str(db))
    assert code == 1 and "needs the admin PIN" in one_line_error(err) and "grace@" not in out
    monkeypatch.setenv(PIN_ENV, PIN)
    code, out, err = run(capsys, *argv, "--db", str(db))
    assert code == 0 and "Ada" in out, err


def test_row15_a_shorter_visits_period_from_a_config_needs_the_pin(tmp_path, capsys, monkeypatch, caplog):
    db = tmp_path / "g.db"
    pid = _gallery(db)
    old = (dt.datetime.now() - dt.timedelta(days=10)).astimezone().isoformat(timespec="seconds")
    with Gallery(db) as g:
        g.record_visit(pid, "checkin", 0.9, ts=old)
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps({"privacy": {"visits_retention_days": 1}}))
    code, _, err = run(capsys, "audit", "verify", "--db", str(db), "--config", str(hostile))  # no PIN asked
    assert code == 0 and "needs the admin PIN" in caplog.text  # said, not done
    with Gallery(db) as g:
        assert g.counts()["visits"] == 1
    monkeypatch.setenv(PIN_ENV, PIN)
    code, out, err = run(capsys, "visits", "--db", str(db), "--config", str(hostile))
    assert code == 0, err
    with Gallery(db) as g:
        assert g.counts()["visits"] == 0  # the admin's run applied (and approved) it
