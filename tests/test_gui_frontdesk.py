"""The receptionist view's front-desk tabs (pytest-qt): expected guests with arrivals and
no-shows, sign-ins with undo, the on-site list with sign-out, CSV and the print hook."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pytest

from kiosk.config import Config
from kiosk.frontdesk import FrontDesk, InvitationForm, SignInForm
from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails

pytestmark = pytest.mark.gui
TZ = dt.timezone(dt.timedelta(hours=1))
MODEL = "m"


def _sample(seed: int) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(8).astype(np.float32))])


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 7, 9, 0, tzinfo=TZ)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def desk_day(tmp_path):
    """A morning at the desk: a host, staff in, three invited guests, two sign-ins."""
    clock = Clock()
    with Gallery(tmp_path / "g.db") as g:
        grace = g.add_person(PersonDetails("Grace Hopper"), [_sample(1)], MODEL)
        g.set_host(grace, True, "grace@example.com")
        staff = g.add_person(PersonDetails("Staff Member"), [_sample(2)], MODEL)
        desk = FrontDesk(g, Config(), clock=clock)
        g.record_visit(staff, "checkin", 0.9, ts=clock.now.replace(hour=8).isoformat())
        today = clock.now.date()
        alan = desk.invite(InvitationForm("Alan Turing", grace, today, "GCHQ"), [_sample(3)], MODEL)
        desk.invite(InvitationForm("Joan Clarke", grace, today))
        desk.invite(InvitationForm("Max Newman", grace, today))
        visit = g.record_visit(alan.person_id, "checkin", 0.8, ts=clock.now.isoformat())
        desk.recognised(alan.person_id, visit)
        clock.now = clock.now.replace(hour=9, minute=30)
        desk.sign_in(SignInForm("Ada Lovelace", "Engines", grace, "1", face_consent=True), [_sample(4)], MODEL)
        desk.sign_in(SignInForm("Oops Typo", "", grace, "1"))
        yield g, clock


def _cells(table, col: int) -> list[str]:
    return [table.item(r, col).text() for r in range(table.rowCount())]


def test_the_front_desk_tabs(qtbot, desk_day, tmp_path):
    from ui.receptionist_view import ReceptionistView

    gallery, clock = desk_day
    printed = []
    view = ReceptionistView(gallery, Config(), now=clock, today=lambda: clock.now.date(), poll_ms=60_000,
                            on_print=printed.append)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()

    expected = view.expected
    assert _cells(expected.table, 0) == ["Alan Turing", "Joan Clarke", "Max Newman"]
    assert _cells(expected.table, 3) == ["arrived 09:00", "expected", "expected"]
    joan = gallery.invitations(clock.now.date())[1].id
    expected.select(joan)
    assert expected.arrive_button.isEnabled() and expected.mark_arrived()
    assert _cells(expected.table, 3)[1].startswith("arrived 09:30")
    clock.now = clock.now.replace(hour=17, minute=5)  # after no_show_after: Max did not come
    expected.refresh()
    assert _cells(expected.table, 3) == ["arrived 09:00", "arrived 09:30", "no-show"]
    assert expected.table.item(2, 0).background().color().name() == "#ffb000"
    assert "1 no-show(s)" in expected.summary.text()
    expected.select(gallery.invitations(clock.now.date())[0].id)
    assert not expected.cancel_button.isEnabled()  # arrived: nothing to cancel
    shots = Path(os.environ.get("FRONTDESK_SHOTS", tmp_path))
    view.tabs.setCurrentWidget(expected)
    assert view.grab().save(str(shots / "receptionist-expected.png"))

    sign_ins = view.sign_ins
    sign_ins.refresh()
    assert _cells(sign_ins.table, 1) == ["Joan Clarke", "Oops Typo", "Ada Lovelace"]
    assert _cells(sign_ins.table, 4) == ["none", "none", "kept"]
    oops = next(s.visit_id for s in view.desk.self_sign_ins() if s.name == "Oops Typo")
    sign_ins.select(oops)
    sign_ins._confirm = lambda name: name == "Oops Typo"
    assert sign_ins.undo_selected()
    assert gallery.find_people("Oops Typo") == [] and "Oops Typo" not in _cells(sign_ins.table, 1)

    view.on_site_button.click()
    assert view.tabs.currentWidget() is view.on_site
    on_site = view.on_site
    assert _cells(on_site.table, 1) == ["Staff Member", "Ada Lovelace", "Alan Turing", "Joan Clarke"]
    assert _cells(on_site.table, 4) == ["", "Grace Hopper", "Grace Hopper", "Grace Hopper"]
    alan_visit = next(r.visit_id for r in on_site.report.rows if r.name == "Alan Turing")
    on_site.select(alan_visit)
    assert on_site.sign_out_selected()
    assert "Alan Turing" not in _cells(on_site.table, 1) and "3 on site" in on_site.summary.text()
    assert on_site.selected() is None and not on_site.sign_out_button.isEnabled()
    on_site.print_button.click()
    assert [len(r.rows) for r in printed] == [3]
    out = tmp_path / "on-site.csv"
    assert on_site.save_csv(str(out)) == 3
    assert out.read_bytes().startswith(b"\xef\xbb\xbfname,kind") and (os.name != "posix" or
                                                                   out.stat().st_mode & 0o777 == 0o600)
    assert view.grab().save(str(shots / "receptionist-on-site.png"))


def test_without_a_printer_hook_the_button_says_why(qtbot, desk_day):
    from ui.receptionist_view import ReceptionistView

    gallery, clock = desk_day
    view = ReceptionistView(gallery, now=clock, today=lambda: clock.now.date(), poll_ms=60_000)
    qtbot.addWidget(view)
    assert not view.on_site.print_button.isEnabled() and "CSV" in view.on_site.print_button.toolTip()
