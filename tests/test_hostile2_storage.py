"""Issue 20 (the second hostile audit), the rows about what is stored where, on both backends:
row 2 (exports onto the key, salt and spool files), row 8 (names in the journal), row 13 (ids
given again), row 14 (photo paths), and rows 3, 5 and 6 where a PostgreSQL DBA is the one
editing (no trigger stops an UPDATE of the audit head; the site key never reaches the server).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import psycopg
import pytest

from kiosk.cli.common import PASSPHRASE_ENV, PIN_ENV
from kiosk.errors import GalleryError
from kiosk.gallery import Gallery
from kiosk.gallery.admin_pin import HASH_KEY, LOCKOUT_KEY, AdminPin, PinPolicy
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from kiosk.gallery.schema import SCHEMA_VERSION
from kiosk.security.keys import key_file_path, salt_path
from kiosk.security.pin_policy import RESTRICTIVE_FAILURES
from tests.conftest import ASTRONAUT, ROOT, ManualClock
from tests.test_hostile import one_line_error, run

pytest_plugins = ["pg_fixtures"]

PIN = "735196"
PASS = "correct horse battery staple"
MODEL = "test-model@000"
FAST = PinPolicy(scrypt_n=2**10)
PHOTO = "/home/hr/lfw/Hans_Blix/Hans_Blix_0007.jpg"


def _sample(seed: int, source: str = PHOTO) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(8).astype(np.float32))], source)


# -- row 2: exports never replace the key, the salt or the spool ---------------------------------


def test_row02_export_refuses_the_key_file_and_the_salt(tmp_path, capsys, monkeypatch):
    db = tmp_path / "g.db"
    with Gallery(db) as g:
        g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        key_file = key_file_path(db)
        assert g.key.source == "file" and key_file.exists()
    salt = salt_path(db)
    salt.write_text('{"format": "face-kiosk-key-salt"}')  # as a passphrase gallery keeps it
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    for target in (key_file, salt, key_file_path(db, slot="next")):
        before = target.read_bytes() if target.exists() else None
        code, _, err = run(capsys, "export", "--db", str(db), "--force", str(target))
        assert code == 1 and "gallery's own file" in one_line_error(err), target
        assert (target.read_bytes() if target.exists() else None) == before
    code, out, _ = run(capsys, "people", "list", "--db", str(db))
    assert code == 0 and "1 people" in out  # it still opens: its key is whole


def test_row02_export_refuses_a_shared_gallerys_spool_and_site_key(pg_url, tmp_path, capsys, monkeypatch):
    from kiosk.checkin.visits import export_day_csv
    from kiosk.gallery.postgres import PgGallery

    with PgGallery(pg_url, spool_path=tmp_path / "spool.db", listen=False) as g:
        g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        g._spool_path.write_bytes(b"spooled visits")  # as an offline kiosk leaves it
        own = g.own_files()
        assert g._spool_path in own and any(p.name.startswith("site-") for p in own)
        from kiosk.errors import KioskError
        from kiosk.gallery.archive import export_people

        for target in (g._spool_path, tmp_path / "spool.db-wal"):
            target.touch()
            with pytest.raises(KioskError, match="gallery's own file"):
                export_people(g, target, passphrase=PASS, overwrite=True, protected=own)
            with pytest.raises(KioskError, match="gallery's own file"):
                export_day_csv(g, __import__("datetime").date.today(), target)
        assert g._spool_path.read_bytes() == b"spooled visits"


# -- row 8: no names in the journal ------------------------------------------------------------------


def test_row08_watch_events_to_the_journal_carry_ids_not_names(tmp_path):
    db = tmp_path / "g.db"
    env = {**os.environ, "GLOG_minloglevel": "2"}
    done = subprocess.run([sys.executable, "-m", "kiosk", "enroll", "--db", str(db), "--name", "Eileen Collins",
                           "--consent", "ok", str(ASTRONAUT)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(6):
        shutil.copy(ASTRONAUT, frames / f"{i:02d}.png")
    out = tmp_path / "journal.txt"
    with open(out, "w") as journal:
        st = os.fstat(journal.fileno())
        # What systemd sets for a service whose stdout is the journal: the stream's device:inode.
        env_j = {**env, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        # The frames are one photo: liveness off, so that she is greeted (what the journal must not name).
        done = subprocess.run([sys.executable, "-m", "kiosk", "watch", "--liveness", "off", "--db", str(db),
                               "--source", str(frames), "--jsonl", "-v"], stdout=journal, stderr=subprocess.PIPE, text=True, timeout=300,
                              env=env_j, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert events, done.stderr[-3000:]
    arrivals = [e for e in events if e["event"] == "arrival"]
    assert arrivals and all(e["person"] is None and e["person_id"] == 1 for e in arrivals)
    assert "Eileen" not in out.read_text() and "person 1" in done.stderr  # -v lines: ids too


# -- row 13: ids never given again ----------------------------------------------------------------------


def test_row13_sqlite_never_gives_a_removed_persons_id_again(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        first = g.add_person(PersonDetails("A"), [_sample(1)], MODEL)
        second = g.add_person(PersonDetails("B"), [_sample(2)], MODEL)
        g.remove_person(second)
        third = g.add_person(PersonDetails("C"), [_sample(3)], MODEL)
        g.remove_person(first)
        g.remove_person(third)
        fourth = g.add_person(PersonDetails("D"), [_sample(4)], MODEL)
        visit = g.record_visit(fourth, "checkin", 0.9)
        g.purge_expired(__import__("datetime").date(2999, 1, 1), 1)  # every visit goes
        again = g.record_visit(fourth, "checkin", 0.9)
        samples = [s.id for s in g.samples()]
    assert (first, second, third, fourth) == (1, 2, 3, 4)
    assert again > visit and samples == [4]


def test_row13_a_schema_4_gallery_keeps_the_ids_its_audit_log_names(tmp_path):
    db = tmp_path / "g.db"
    with Gallery(db, encrypt=False) as g:
        for i in range(3):
            g.add_person(PersonDetails(f"P{i}"), [_sample(i)], MODEL)
        g.remove_person(3)  # "person 3" is in the audit log
    conn = __import__("sqlite3").connect(db)
    conn.execute("DELETE FROM sqlite_sequence")  # as a schema 4 table (no AUTOINCREMENT) would have it
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Gallery(db) as g:
        assert g.schema_version == SCHEMA_VERSION
        assert g.add_person(PersonDetails("New"), [_sample(9)], MODEL) == 4


def test_row13_postgres_never_gives_a_removed_persons_id_again(pg_gallery):
    first = pg_gallery.add_person(PersonDetails("A"), [_sample(1)], MODEL)
    second = pg_gallery.add_person(PersonDetails("B"), [_sample(2)], MODEL)
    pg_gallery.remove_person(second)
    third = pg_gallery.add_person(PersonDetails("C"), [_sample(3)], MODEL)
    assert first < second < third


# -- row 14: photo paths -------------------------------------------------------------------------------


def _no_path(rows) -> None:
    for (source,) in rows:
        assert "Hans_Blix" not in source and "/" not in source, source
        assert source.startswith("photo:"), source


def test_row14_sqlite_keeps_no_photo_path_and_nor_do_its_exports(tmp_path, capsys):
    db = tmp_path / "g.db"
    with Gallery(db) as g:
        g.add_person(PersonDetails("Pseudonym 7"), [_sample(1), _sample(2, PHOTO.replace("7.jpg", "8.jpg"))], MODEL)
        _no_path(g._rows("SELECT source FROM samples UNION ALL SELECT source FROM templates"))
        first, second = (s.source for s in g.samples())
        assert first != second  # two photos stay told apart
    code, _, err = run(capsys, "export", "--db", str(db), "--plain", str(tmp_path / "out.zip"))
    assert code == 0, err
    import zipfile

    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        assert b"Hans_Blix" not in zf.read("people.json")


def test_row14_the_migration_replaces_stored_paths(tmp_path):
    db = tmp_path / "g.db"
    with Gallery(db, encrypt=False) as g:
        g.add_person(PersonDetails("Pseudonym 7"), [_sample(1, "camera: look left 2")], MODEL)
    conn = __import__("sqlite3").connect(db)
    conn.execute("INSERT INTO samples(person_id, aligned_png, source, created_at) SELECT person_id, aligned_png, ?,"
                 " created_at FROM samples", (PHOTO,))
    conn.execute("UPDATE templates SET source = ?", (PHOTO,))
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Gallery(db) as g:
        sources = [s.source for s in g.samples()]
        _no_path(g._rows("SELECT source FROM templates"))
    assert sources[0] == "camera: look left 2" and sources[1].startswith("photo:")


def test_row14_postgres_keeps_no_photo_path(pg_gallery, pg_url):
    pg_gallery.add_person(PersonDetails("Pseudonym 7"), [_sample(1)], MODEL)
    with psycopg.connect(pg_url) as conn:  # what the DBA sees
        _no_path(conn.execute("SELECT source FROM samples UNION ALL SELECT source FROM templates").fetchall())
    assert pg_gallery.samples()[0].source.startswith("photo:")


def test_row14_postgres_the_migration_replaces_stored_paths_and_keeps_the_pin(pg_url, tmp_path):
    from kiosk.gallery.postgres import PgGallery

    with PgGallery(pg_url, spool_path=tmp_path / "spool.db", listen=False) as g:
        g.add_person(PersonDetails("Pseudonym 7"), [_sample(1)], MODEL)
        AdminPin(g, FAST).set_pin(PIN)
        sealed = g.get_setting(HASH_KEY)
    # As schema 4 left it: the path in clear, the hash unsealed.
    _dba(pg_url, f"UPDATE samples SET source = '{PHOTO}'", f"UPDATE templates SET source = '{PHOTO}'",
         f"UPDATE settings SET value = '{sealed.split('#')[2]}' WHERE key = '{HASH_KEY}'",
         *PG_AFTER_SCHEMA_4_UNDONE, "UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    with pytest.raises(GalleryError, match="gallery migrate"):  # a kiosk never migrates (the fleet)
        PgGallery(pg_url, spool_path=tmp_path / "spool.db", listen=False)
    with PgGallery(pg_url, spool_path=tmp_path / "spool.db", listen=False, migrate=True) as g:
        assert g.schema_version == SCHEMA_VERSION
        assert AdminPin(g, FAST).check(PIN).ok  # sealed by the migration, with the record that set it
        assert g.verify_audit().ok and g.integrity_report().ok  # and the rows sealed for schema 6
    with psycopg.connect(pg_url) as conn:
        _no_path(conn.execute("SELECT source FROM samples UNION ALL SELECT source FROM templates").fetchall())


# What the versions after 4 added to a PostgreSQL gallery, taken out again: the database as a
# schema 4 face-kiosk left it (version 5 itself adds no SQL there).
PG_AFTER_SCHEMA_4_UNDONE = (
    "DROP TABLE invitations",  # 7: the front desk
    "ALTER TABLE people DROP COLUMN kind, DROP COLUMN is_host, DROP COLUMN contact, DROP COLUMN host_id,"
    " DROP COLUMN agreement_version, DROP COLUMN agreement_at, DROP COLUMN agreement_language",  # 8: its language
    "ALTER TABLE visits DROP COLUMN signed_out_at, DROP COLUMN signed_out_how",
    "DROP INDEX visits_person",
    # 6: the fleet (row-level security and its policies, kiosk roles, heartbeats, uid and row MACs)
    *(f"DROP POLICY {name} ON settings" for name in ("settings_read", "settings_add", "settings_change",
                                                      "settings_drop")),
    "DROP POLICY visits_by_site ON visits",
    "ALTER TABLE settings DISABLE ROW LEVEL SECURITY",
    "ALTER TABLE visits DISABLE ROW LEVEL SECURITY",
    "DROP TABLE fleet",
    "DROP FUNCTION fk_role_site(name)",
    "DROP TABLE kiosk_roles",
    "ALTER TABLE people DROP COLUMN uid, DROP COLUMN mac",
    "ALTER TABLE visits DROP COLUMN mac",
    *(f"ALTER FUNCTION {name}() SECURITY INVOKER RESET search_path" for name in (
        "fk_notify", "fk_people_new", "fk_people_renamed", "fk_people_gone", "fk_templates_new", "fk_templates_gone")),
    "DELETE FROM meta WHERE key = 'min_schema'",
)


# -- rows 3, 5, 6 on PostgreSQL: the DBA edits ----------------------------------------------------------


def _dba(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def test_row03_postgres_an_edited_head_is_recovered_with_the_pin(pg_url, tmp_path, capsys, monkeypatch):
    from kiosk.gallery.postgres import PgGallery

    with PgGallery(pg_url, spool_path=tmp_path / "spool.db", listen=False) as g:
        pid = g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        AdminPin(g, FAST).set_pin(PIN)
    _dba(pg_url, "UPDATE audit_head SET value = '0:" + "0" * 64 + ":x'")  # no trigger blocks it
    monkeypatch.setenv(PIN_ENV, PIN)
    code, out, err = run(capsys, "people", "list", "--db", pg_url)
    assert code == 0 and "Ada" in out, err  # reads go on
    code, _, err = run(capsys, "people", "rename", "--db", pg_url, "--id", str(pid), "Bea")
    assert code == 1 and "head pointer edited" in one_line_error(err)
    code, out, err = run(capsys, "audit", "recover", "--db", pg_url)
    assert code == 0 and "head pointer edited" in out, err
    code, _, err = run(capsys, "people", "rename", "--db", pg_url, "--id", str(pid), "Bea")
    assert code == 0, err


def test_row05_postgres_a_deleted_or_planted_pin_lets_nobody_in(pg_url, tmp_path, capsys, monkeypatch):
    from kiosk.gallery.postgres import PgGallery

    with PgGallery(pg_url, spool_path=tmp_path / "spool.db", listen=False) as g:
        pid = g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        AdminPin(g, FAST).set_pin(PIN)
        planted = AdminPin(g, FAST)._new_hash("111000")
    _dba(pg_url, f"UPDATE settings SET value = '{planted}' WHERE key = '{HASH_KEY}'")
    monkeypatch.setenv(PIN_ENV, "111000")
    code, _, err = run(capsys, "people", "remove", "--db", pg_url, "--id", str(pid), "--yes")
    assert code == 1 and "edited outside face-kiosk" in one_line_error(err)
    _dba(pg_url, f"DELETE FROM settings WHERE key = '{HASH_KEY}'")
    code, _, err = run(capsys, "people", "remove", "--db", pg_url, "--id", str(pid), "--yes")
    assert code == 1 and "removed outside face-kiosk" in one_line_error(err)
    code, _, err = run(capsys, "audit", "verify", "--db", pg_url)
    assert code == 1 and "removed outside face-kiosk" in err


def test_row06_postgres_a_replayed_lockout_and_a_restored_log_keep_the_count(pg_url, tmp_path):
    from kiosk.gallery.postgres import PgGallery

    clock = ManualClock()
    with PgGallery(pg_url, spool_path=tmp_path / "spool.db", listen=False) as g:
        AdminPin(g, FAST).set_pin(PIN)
        fresh = g.get_setting(LOCKOUT_KEY)
        with psycopg.connect(pg_url) as conn:
            head = conn.execute("SELECT value FROM audit_head").fetchone()[0]
        pin = AdminPin(g, FAST, clock=clock)
        for _ in range(6):
            pin.check("000000")
            clock.t += 3600
        assert pin.failures() == 6
    _dba(pg_url, f"UPDATE settings SET value = '{fresh}' WHERE key = '{LOCKOUT_KEY}'")
    with PgGallery(pg_url, spool_path=tmp_path / "spool.db", listen=False) as g:
        assert AdminPin(g, FAST, clock=clock).failures() == RESTRICTIVE_FAILURES  # the replay is refused
    # A restore from before the wrong PINs: records, head and lockout as they were (consistent).
    _dba(pg_url, "ALTER TABLE audit DISABLE TRIGGER USER", "DELETE FROM audit WHERE action = 'pin_failed'",
         f"UPDATE audit_head SET value = '{head}'", "ALTER TABLE audit ENABLE TRIGGER USER",
         f"UPDATE settings SET value = '{fresh}' WHERE key = '{LOCKOUT_KEY}'")
    with PgGallery(pg_url, spool_path=tmp_path / "spool.db", listen=False) as g:
        assert g.verify_audit().reason.startswith("the gallery is older than this computer last saw it")
        assert AdminPin(g, FAST, clock=clock).failures() >= 6  # what this kiosk counted still counts
