"""What a DBA can write (issue 21, row 2): people and visits rows carry a MAC under the site key;
a row changed outside face-kiosk is flagged, never greeted by the edited name, and reported by
`audit verify`. And what a MAC cannot show (the docs say so): deletion, a replayed old row."""

from __future__ import annotations

import psycopg
import pytest
from conftest import RECOGNITION_ONLY
from fleet_helpers import MODEL, sample

from kiosk.cli import main
from kiosk.gallery.api import PersonDetails
from kiosk.gallery.postgres import PgGallery
from kiosk.gallery.row_seal import EDITED_LABEL

pytest_plugins = ["pg_fixtures"]


def _dba(url: str, sql: str, params: tuple = ()) -> None:  # type: ignore[type-arg]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql, params)


@pytest.fixture
def two(pg_url, tmp_path):
    """Ada (with a host contact) and Bob, and a visit of Ada's."""
    with PgGallery(pg_url, listen=False, spool_path=tmp_path / "s.db") as g:
        ada = g.add_person(PersonDetails("Ada", host="Grace <grace@example.com>", consent_text="ok",
                                         consent_at="2026-01-01T09:00:00+00:00"), [sample(1)], MODEL)
        bob = g.add_person(PersonDetails("Bob"), [sample(2)], MODEL)
        g.record_visit(ada, "checkin", 0.91, site="hq", kiosk="door-1", event_id="e1")
    return pg_url, ada, bob


def test_rows_written_by_the_app_verify(two, tmp_path, capsys):
    url, ada, bob = two
    with PgGallery(url, listen=False, spool_path=tmp_path / "s.db") as g:
        assert g.integrity_report().ok
        assert not any(p.edited for p in g.people()) and not any(v.edited for v in g.visits())
        g.update_person(ada, host="Hedy <hedy@example.com>")  # an admin's edit is re-sealed
        assert g.integrity_report().ok
    assert main(["audit", "verify", "--db", url]) == 0
    assert "rows ok" in capsys.readouterr().out


def test_a_name_changed_by_the_dba_is_flagged_and_never_greeted(two, tmp_path, capsys):
    url, ada, bob = two
    with PgGallery(url, spool_path=tmp_path / "s.db") as kiosk:  # a kiosk, listening, already loaded
        assert kiosk.templates(MODEL).names == {ada: "Ada", bob: "Bob"}
        _dba(url, "UPDATE people SET name = 'Mallory' WHERE id = %s", (ada,))
        from pg_server import wait_for

        assert wait_for(lambda: ada not in set(kiosk.templates(MODEL).person_ids))
        live = kiosk.templates(MODEL)
        assert "Mallory" not in live.names.values() and set(live.person_ids) == {bob}
    with PgGallery(url, listen=False, spool_path=tmp_path / "s.db") as g:  # a fresh load too
        assert "Mallory" not in g.templates(MODEL).names.values()
        person = g.get_person(ada)
        assert person.edited and person.name == "Mallory"  # the admin sees what the DBA wrote, flagged
        assert [v.name for v in g.visits()] == [EDITED_LABEL]
        assert g.integrity_report().people == [ada]
    assert main(["audit", "verify", "--db", url]) == 1
    captured = capsys.readouterr()
    assert "audit log ok" in captured.out and f"1 people rows edited outside face-kiosk (ids {ada})" in captured.err
    assert main(["people", "list", "--db", url]) == 0
    assert "EDITED OUTSIDE face-kiosk" in capsys.readouterr().out
    # The admin checks the row and saves it: sealed again, greeted again.
    with PgGallery(url, listen=False, spool_path=tmp_path / "s.db") as g:
        g.update_person(ada, name="Ada")
        assert g.integrity_report().ok and g.templates(MODEL).names[ada] == "Ada"


@pytest.mark.parametrize("column, value", [("host", "Mallory <mallory@example.com>"),
                                           ("retention_until", "2999-01-01"), ("consent_at", None),
                                           ("consent_text", "anything"), ("uid", "0" * 32)])
def test_any_sealed_column_changed_by_the_dba_is_flagged(two, tmp_path, column, value):
    url, ada, _ = two
    _dba(url, f"UPDATE people SET {column} = %s WHERE id = %s", (value, ada))
    with PgGallery(url, listen=False, spool_path=tmp_path / "s.db") as g:
        assert g.get_person(ada).edited
        assert ada not in set(g.templates(MODEL).person_ids)
        assert g.contacts_for(ada) == []  # a host the DBA wrote is never notified


def test_a_mac_moved_to_another_row_does_not_fit(two, tmp_path):
    url, ada, bob = two
    _dba(url, "UPDATE people SET mac = (SELECT mac FROM people WHERE id = %s), name = 'Ada' WHERE id = %s", (ada, bob))
    with PgGallery(url, listen=False, spool_path=tmp_path / "s.db") as g:
        assert g.integrity_report().people == [bob]


@pytest.mark.parametrize("sql", ["UPDATE visits SET site = 'lab'", "UPDATE visits SET ts = substr(ts, 1, 10) || 'T03:00:00+00:00'",
                                 "UPDATE visits SET score = 0.2", "UPDATE visits SET mac = NULL",
                                 "INSERT INTO visits(person_id, ts, kind, event_id) SELECT id, to_char(now(), 'YYYY-MM-DD'),"
                                 " 'checkin', 'forged' FROM people WHERE name = 'Bob'"])
def test_a_visit_changed_or_added_by_the_dba_is_flagged(two, tmp_path, sql, capsys):
    url, _, _ = two
    _dba(url, sql)
    with PgGallery(url, listen=False, spool_path=tmp_path / "s.db") as g:
        flagged = [v for v in g.visits() if v.edited]
        assert len(flagged) == 1 and g.integrity_report().visits == [flagged[0].id]
    assert main(["audit", "verify", "--db", url]) == 1
    assert "1 visits rows edited outside face-kiosk" in capsys.readouterr().err


def test_what_a_mac_cannot_show_deletion_and_a_replayed_row(two, tmp_path):
    """The documented limits (docs/shared-gallery.md): tested so the docs stay true."""
    url, ada, bob = two
    with psycopg.connect(url, autocommit=True) as conn:
        old = conn.execute("SELECT name, mac FROM people WHERE id = %s", (ada,)).fetchone()
    with PgGallery(url, listen=False, spool_path=tmp_path / "s.db") as g:
        g.update_person(ada, name="Ada Lovelace")
    _dba(url, "UPDATE people SET name = %s, mac = %s WHERE id = %s", (*old, ada))  # the old row, replayed
    _dba(url, "DELETE FROM visits")
    with PgGallery(url, listen=False, spool_path=tmp_path / "s.db") as g:
        assert g.integrity_report().ok  # neither shows in the rows ...
        assert g.get_person(ada).name == "Ada"
        actions = [r.action for r in g.audit_records()]
    assert actions == ["enroll", "enroll", "update"]  # ... the audit log still has the rename


def test_the_kiosk_never_greets_a_name_the_dba_wrote(pg_url, tmp_path, capsys):
    """End to end: `face-kiosk watch` on a photo of an enrolled person whose name the DBA changed."""
    import json
    import shutil

    from conftest import ASTRONAUT

    photos = tmp_path / "door"
    photos.mkdir()
    shutil.copy(ASTRONAUT, photos / "visitor.png")
    assert main(["enroll", "--db", pg_url, "--consent", "trial", "--name", "Eileen", str(ASTRONAUT)]) == 0
    _dba(pg_url, "UPDATE people SET name = 'Mallory'")
    capsys.readouterr()
    assert main(["watch", "--db", pg_url, "--source", str(photos), "--site", "hq", "--jsonl",
                 "--liveness", RECOGNITION_ONLY]) == 0
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    assert not [e for e in events if e.get("person")], events  # nobody named, Mallory least of all
    assert "gallery 0 people" in captured.err and "Mallory" not in captured.out
    _dba(pg_url, "UPDATE people SET name = 'Eileen'")  # put back as it was: the MAC fits again
    assert main(["watch", "--db", pg_url, "--source", str(photos), "--site", "hq", "--jsonl",
                 "--liveness", RECOGNITION_ONLY]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [e["person"] for e in events if e["event"] == "arrival"] == ["Eileen"]
