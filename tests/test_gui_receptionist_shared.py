"""The receptionist view on a shared gallery: site and kiosk filters, the "offline" banner."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pg_server import wait_for

from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails

pytest_plugins = ["pg_fixtures"]
pytestmark = pytest.mark.gui
DAY = dt.date(2026, 3, 2)


def _fill(g) -> None:  # noqa: ANN001
    pid = g.add_person(PersonDetails("Alice"), [NewSample(np.zeros((112, 112, 3), np.uint8),
                                                          [NewTemplate("full", np.ones(8, np.float32))])], "m")
    g.record_visit(pid, "checkin", 0.8, ts="2026-03-02T09:00:00+01:00", site="hq", kiosk="door-1")
    g.record_visit(None, "unknown", 0.1, ts="2026-03-02T09:05:00+01:00", site="branch", kiosk="lobby")


def test_site_and_kiosk_filters(qtbot, tmp_path):
    from ui.receptionist_view import ReceptionistView

    with Gallery(tmp_path / "g.db") as g:
        _fill(g)
        view = ReceptionistView(g, today=lambda: DAY, poll_ms=60_000)
        qtbot.addWidget(view)

        def rows():
            return [[view.table.item(r, c).text() for c in (1, 4)] for r in range(view.table.rowCount())]

        assert rows() == [["Unknown visitor", "branch / lobby"], ["Alice", "hq / door-1"]]
        assert [view.site_filter.itemText(i) for i in range(view.site_filter.count())] == ["All sites", "branch", "hq"]
        view.site_filter.setCurrentText("hq")
        assert rows() == [["Alice", "hq / door-1"]]
        view.site_filter.setCurrentText("All sites")
        view.kiosk_filter.setCurrentText("lobby")
        assert rows() == [["Unknown visitor", "branch / lobby"]]
        assert not view.gallery_state.isVisible()


def test_an_offline_shared_gallery_is_shown_to_staff(qtbot, pg_server, pg_gallery):
    from ui.receptionist_view import ReceptionistView

    _fill(pg_gallery)
    view = ReceptionistView(pg_gallery, today=lambda: DAY, poll_ms=60_000)
    qtbot.addWidget(view)
    view.show()
    assert view.table.rowCount() == 2 and view.gallery_state.isHidden()
    pg_server.stop()
    try:
        assert wait_for(lambda: not pg_gallery.online)
        pg_gallery.record_visit(None, "unknown", 0.1)
        view.poll()
        assert view.gallery_state.isVisible() and "OFFLINE" in view.gallery_state.text()
        assert "1 visit(s) waiting" in view.gallery_state.text()
    finally:
        pg_server.start()
    assert wait_for(lambda: pg_gallery.online and pg_gallery.status().spooled == 0)
    view.poll()
    assert view.gallery_state.isHidden()


def test_the_fleet_edited_rows_and_a_cold_start_from_the_local_copy(qtbot, pg_server, pg_url, tmp_path):
    """Staff see every kiosk's heartbeat, a visit or a person changed outside face-kiosk, and a
    kiosk that started without the server, recognising from its local copy (issue 21)."""
    import psycopg

    from kiosk.gallery.postgres import PgGallery
    from ui.receptionist_view import ReceptionistView

    with PgGallery(pg_url, site="hq", kiosk="door-1", spool_path=tmp_path / "s.db", local_copy=tmp_path / "c.db") as k:
        _fill(k)
        k.templates("m")  # the local copy is saved at the sync
        assert wait_for(lambda: [b.kiosk for b in k.fleet()] == ["door-1"])
        view = ReceptionistView(k, today=lambda: DAY, poll_ms=60_000)
        qtbot.addWidget(view)
        view.show()
        assert view.fleet_state.isVisible() and "hq / door-1: ok" in view.fleet_state.text()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE visits SET site = 'hq' WHERE kind = 'unknown'")  # a DBA's edit
            conn.execute("UPDATE people SET name = 'Mallory'")
        view.refresh()
        who = sorted(view.table.item(r, 1).text() for r in range(view.table.rowCount()))
        assert who == ["(edited outside face-kiosk)", "Unknown visitor - this visit was edited outside face-kiosk"]
        view.close()
    pg_server.stop()
    try:
        with PgGallery(pg_url, create=False, site="hq", kiosk="door-1", spool_path=tmp_path / "s.db",
                       local_copy=tmp_path / "c.db") as cold:
            view = ReceptionistView(cold, today=lambda: DAY, poll_ms=60_000)
            qtbot.addWidget(view)
            view.show()
            text = view.gallery_state.text()
            assert view.gallery_state.isVisible() and "started without the server" in text and "local copy" in text
            assert not view.fleet_state.isVisible()
            view.close()
    finally:
        pg_server.start()
