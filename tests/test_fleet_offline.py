"""A kiosk (re)started while the server is down (issue 21, row 1): it runs from its encrypted local
copy, says so (status, /health), spools visits, refuses enrolment in one line, and catches up
when the server is back; erased people leave every copy at the next sync. On the real server,
stopped and started by the test."""

from __future__ import annotations

import json
import shutil

import numpy as np
import psycopg
import pytest
from conftest import ASTRONAUT, RECOGNITION_ONLY
from fleet_helpers import MODEL, sample
from pg_server import wait_for

from kiosk.cli import main
from kiosk.cli.watch import with_gallery_status
from kiosk.errors import KioskError
from kiosk.events.status import Health
from kiosk.gallery.admin_pin import HASH_KEY
from kiosk.gallery.api import PersonDetails
from kiosk.gallery.local_copy import LocalCopy
from kiosk.gallery.pg_connection import GalleryOfflineError
from kiosk.gallery.postgres import PgGallery
from kiosk.security.sqlcipher import is_plaintext_sqlite

pytest_plugins = ["pg_fixtures"]


@pytest.fixture
def server_back(pg_server):
    """The server is running again after the test, whatever happened."""
    yield pg_server
    if not pg_server.running:
        pg_server.start()


def _kiosk(url, tmp_path, **kw):  # noqa: ANN001, ANN003
    return PgGallery(url, create=False, site="hq", kiosk="door-1", spool_path=tmp_path / "spool.db",
                     local_copy=tmp_path / "copy.db", **kw)


def test_a_kiosk_started_while_the_server_is_down_runs_from_its_local_copy(pg_url, tmp_path, server_back):
    with PgGallery(pg_url, listen=False, spool_path=tmp_path / "a.db") as admin:
        ada = admin.add_person(PersonDetails("Ada"), [sample(1), sample(2)], MODEL)
        bob = admin.add_person(PersonDetails("Bob"), [sample(3)], MODEL)
        admin.set_setting(HASH_KEY, "pin-hash")
    with _kiosk(pg_url, tmp_path) as kiosk:
        loaded = kiosk.templates(MODEL)
        assert loaded.names == {ada: "Ada", bob: "Bob"}
    copy = tmp_path / "copy.db"
    assert copy.stat().st_mode & 0o777 == 0o600 and not is_plaintext_sqlite(copy)
    assert b"Ada" not in copy.read_bytes()  # encrypted: no name in the file's bytes

    server_back.stop()
    with _kiosk(pg_url, tmp_path) as cold:
        state = cold.status()
        assert not state.online and state.local_copy and "cannot reach the PostgreSQL server" in state.detail
        offline = cold.templates(MODEL)
        assert offline.names == loaded.names and np.array_equal(offline.matrix, loaded.matrix)
        assert np.array_equal(offline.person_ids, loaded.person_ids)
        assert cold.get_setting(HASH_KEY) == "pin-hash"  # the admin PIN still unlocks the kiosk
        assert cold.record_visit(ada, "checkin", 0.9, event_id="offline-1") == 0
        assert cold.status().spooled == 1
        with pytest.raises(GalleryOfflineError) as exc:
            cold.add_person(PersonDetails("Eve"), [sample(4)], MODEL)
        assert "offline, so enrolling is not possible" in str(exc.value) and "\n" not in str(exc.value)
        with pytest.raises(GalleryOfflineError):
            cold.remove_person(bob)
        health = with_gallery_status(Health(True), cold).to_dict()
        assert health["status"] == "ok" and health["gallery"]["local_copy"] == state.local_copy
        assert health["gallery"]["online"] is False and health["gallery"]["spooled"] == 1

        server_back.start()
        assert wait_for(lambda: cold.online and cold.status().spooled == 0, timeout=30)
        assert cold.templates(MODEL).names == loaded.names and cold.status().local_copy == ""
        with PgGallery(pg_url, listen=False, spool_path=tmp_path / "a.db") as admin:
            sent = [v for v in admin.visits() if v.event_id == "offline-1"]
            assert len(sent) == 1 and not sent[0].edited and sent[0].site == "hq"
            admin.remove_person(bob)  # erased while the kiosk runs: gone from its copy at the next sync
        assert wait_for(lambda: bob not in cold.templates(MODEL).names)
    saved = LocalCopy(copy)
    try:
        kept = saved.load(MODEL)
        assert kept is not None and set(kept.templates.person_ids) == {ada} and list(kept.templates.names) == [ada]
    finally:
        saved.close()


def test_without_a_local_copy_a_cold_start_still_fails_in_one_line(pg_url, tmp_path, server_back):
    with PgGallery(pg_url, listen=False, spool_path=tmp_path / "a.db") as admin:
        admin.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
    server_back.stop()
    with pytest.raises(KioskError) as exc:
        _kiosk(pg_url, tmp_path)
    assert "cannot reach the PostgreSQL server" in str(exc.value) and "\n" not in str(exc.value)


def test_a_copy_of_another_gallery_is_replaced_at_the_first_sync(pg_server, pg_url, tmp_path, monkeypatch):
    with PgGallery(pg_url, listen=False, spool_path=tmp_path / "a.db") as admin:
        admin.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
    with _kiosk(pg_url, tmp_path) as kiosk:
        kiosk.templates(MODEL)
    other = pg_server.url(pg_server.new_database())
    with PgGallery(other, listen=False, spool_path=tmp_path / "b.db") as admin:
        zoe = admin.add_person(PersonDetails("Zoe"), [sample(9)], MODEL)
    with _kiosk(other, tmp_path) as kiosk:  # the same copy file, another gallery
        assert kiosk.templates(MODEL).names == {zoe: "Zoe"}
    saved = LocalCopy(tmp_path / "copy.db")
    try:
        assert saved.meta()["gallery_id"] != "" and saved.load(MODEL).templates.names == {zoe: "Zoe"}
    finally:
        saved.close()


def test_the_watch_command_greets_from_the_local_copy_with_the_server_down(pg_url, tmp_path, server_back, capsys,
                                                                          monkeypatch):
    """End to end, as a site admin would see it: enrolled with `face-kiosk enroll`, the kiosk
    (`face-kiosk watch` on a photo) started once with the server up, then again with it down."""
    photos = tmp_path / "door"
    photos.mkdir()
    shutil.copy(ASTRONAUT, photos / "visitor.png")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"gallery": {"url": pg_url}, "events": {"site": "hq", "kiosk": "door-1"}}))
    assert main(["enroll", "--db", pg_url, "--consent", "trial", "--name", "Eileen", str(ASTRONAUT)]) == 0
    watch = ["watch", "--config", str(config), "--source", str(photos), "--jsonl", "--liveness", RECOGNITION_ONLY]
    assert main(watch) == 0
    online = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [e["person"] for e in online if e["event"] == "arrival"] == ["Eileen"]

    server_back.stop()
    assert main(watch) == 0
    captured = capsys.readouterr()
    offline = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    assert [e["person"] for e in offline if e["event"] == "arrival"] == ["Eileen"]
    assert "gallery 1 people" in captured.err
    server_back.start()
    with PgGallery(pg_url, listen=False, spool_path=tmp_path / "a.db") as admin:
        with psycopg.connect(pg_url) as conn:  # the offline visit waits in the kiosk's spool until it runs again
            assert conn.execute("SELECT count(*) FROM visits").fetchone()[0] == 1
        assert [v.name for v in admin.visits()] == ["Eileen"]


def test_the_local_copy_is_among_the_gallery_s_own_files(pg_url, tmp_path):
    """Like the spool and the key files (issue 20 row 2): no export, visits CSV or --force
    overwrites the local copy or its key file, online or started offline."""
    from datetime import date

    from kiosk.checkin.visits import export_day_csv
    from kiosk.gallery.archive import export_people
    from kiosk.security.keys import key_file_path

    with PgGallery(pg_url, listen=False, spool_path=tmp_path / "a.db") as admin:
        admin.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
    with _kiosk(pg_url, tmp_path) as kiosk:
        kiosk.templates(MODEL)
        kiosk.close()  # the copy's last write is done
        own = kiosk.own_files()
    copy = tmp_path / "copy.db"
    assert copy in own and key_file_path(copy) in own and tmp_path / "copy.db-wal" in own
    with _kiosk(pg_url, tmp_path) as kiosk:
        for target in (copy, key_file_path(copy)):
            with pytest.raises(KioskError, match="gallery's own file"):
                export_people(kiosk, target, passphrase="correct horse battery", overwrite=True,
                              protected=kiosk.own_files())
            with pytest.raises(KioskError, match="gallery's own file"):
                export_day_csv(kiosk, date.today(), target)
    kept = LocalCopy(copy)  # still the kiosk's copy, opened with its own key
    assert kept.meta()["gallery_id"] and kept.load(MODEL).templates.names
    kept.close()
