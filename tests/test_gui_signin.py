"""The kiosk's visitor screens under pytest-qt (offscreen), driven by taps: a first-time
sign-in (on-screen keyboard, host type-ahead, agreement, no face consent) whose host hears of
it through a real loopback receiver and whose badge PDF is written; an invited guest picking
their name; leaving; the language button; every page fits and every text is translated.
The real camera pipeline's end to end (consent, next walk-up greeted) is test_gui_signin_live.py.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit  # noqa: E402

from kiosk.config import Config  # noqa: E402
from kiosk.events import EventBus  # noqa: E402
from kiosk.frontdesk import FrontDesk, InvitationForm  # noqa: E402
from kiosk.gallery import Gallery, PersonDetails  # noqa: E402
from kiosk.gallery.api import NewSample, NewTemplate  # noqa: E402
from kiosk.i18n import Translator, languages, translator  # noqa: E402
from kiosk.i18n.catalog import catalog_dir, read_po  # noqa: E402
from kiosk.recognition.live import FrameResult, Timings, TrackedFace  # noqa: E402
from kiosk.recognition.tracking import Identity  # noqa: E402
from kiosk.signin.flow import Step  # noqa: E402
from kiosk.vision.types import FaceAnalysis, Quality  # noqa: E402
from tests.events_servers import Receiver, Receivers  # noqa: E402
from tests.test_gui_kiosk import NOON, Clock, FakeWorker  # noqa: E402

pytest_plugins = ["events_fixtures"]
SIZES = ((1280, 800), (1920, 1080))


def _sample(seed: int) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(8).astype(np.float32), 0.5)], "t", 0.7, False,
                     rng.integers(0, 255, (256, 256, 3), np.uint8))


def _config(tmp_path, **kiosk) -> Config:
    return Config.model_validate({
        "kiosk": {"greeting_s": 1, **kiosk}, "privacy": {"encrypt": False},
        "events": {"kiosk": "lobby", "kiosk_name": "Lobby", "site": "hq", "notify": {}},
        "badges": {"print_on_sign_in": True, "printer": "pdf", "folder": str(tmp_path / "badges")},
    })


@pytest.fixture
def desk_gallery(tmp_path):
    g = Gallery(tmp_path / "kiosk.db", encrypt=False)
    yield g
    g.close()


def _host(g, name: str, contact: str = "") -> int:
    pid = g.add_person(PersonDetails(name, company="Navy"), [_sample(len(name))], "stand-in@0")
    g.set_host(pid, True, contact)
    return pid


def _window(qtbot, gallery, config, *, clock=None, publish=None, size=(1280, 800), wall_clock=lambda: NOON):
    from ui.kiosk_mode import KioskWindow

    w = KioskWindow(FakeWorker(), gallery, config, flow_clock=clock or Clock(), wall_clock=wall_clock,
                    unlock=lambda parent: False, publish=publish)
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    return w


def _close(w) -> None:
    w.locked = False
    w.close()


def _tap(qtbot, button) -> None:
    assert button.isVisible() and button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _type(qtbot, page, text: str) -> None:
    """Type on the page's on-screen keyboard, key by key (capitals come by themselves)."""
    keyboard = page.keyboard
    for ch in text:
        key = " " if ch == " " else ch.lower()
        _tap(qtbot, keyboard.keys[key])


def _bus(config, directory):
    return EventBus.from_config(config.events, directory=directory)


def _messages(rx: Receiver, n: int) -> list[dict]:
    return [json.loads(r.body) for r in rx.wait_requests(n)]


def _pdf_text(path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("needs pdftotext (poppler-utils; .ci/run installs it)")
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


# -- a first-time visitor ----------------------------------------------------------------------------


def test_a_stranger_signs_in_by_touch_and_the_host_is_told(qtbot, desk_gallery, tmp_path, receivers: Receivers):
    host_rx = receivers()
    grace = _host(desk_gallery, "Grace Hopper", f"json://127.0.0.1:{host_rx.port}/hook")
    _host(desk_gallery, "Alan Turing")
    config = _config(tmp_path)
    directory = Gallery(tmp_path / "kiosk.db", encrypt=False)  # the sink's own connection (its thread)
    bus = _bus(config, directory)
    w = _window(qtbot, desk_gallery, config, publish=bus.publish)
    panel = w.front.panel
    try:
        _tap(qtbot, w.front.start_bar.first_time)
        assert w.stack.currentWidget() is panel and panel.currentWidget() is panel.name_page
        assert not w.front.start_bar.isVisible()
        _tap(qtbot, panel.name_page.next)  # no name yet: asked for it, nowhere else to go
        assert panel.currentWidget() is panel.name_page and panel.name_page.message.text() == "Please enter your name"
        _type(qtbot, panel.name_page, "ada lovelace")
        qtbot.mouseClick(panel.name_page.company, Qt.MouseButton.LeftButton)  # the keyboard types there now
        _type(qtbot, panel.name_page, "engines")
        assert (panel.name_page.name.text(), panel.name_page.company.text()) == ("Ada Lovelace", "Engines")
        _tap(qtbot, panel.name_page.next)
        assert panel.currentWidget() is panel.host_page
        _type(qtbot, panel.host_page, "g")
        assert not panel.host_page.choices[0].isVisible()  # one letter: nobody suggested yet
        _type(qtbot, panel.host_page, "ra")
        assert [b.text() for b in panel.host_page.choices if b.isVisible()] == ["Grace Hopper"]
        _tap(qtbot, panel.host_page.choices[0])
        assert panel.currentWidget() is panel.agreement_page
        assert "visitor badge" in panel.agreement_page.text.text()
        assert "deleted after 90 days" in panel.agreement_page.text.text()
        assert panel.agreement_page.small.text() == "Version 1"
        _tap(qtbot, panel.agreement_page.agree)
        assert panel.currentWidget() is panel.face_page
        assert panel.face_page.small.text() == "Your photos are deleted after 90 days."
        _tap(qtbot, panel.face_page.no)
        assert w.front.flow.state.step is Step.DONE
        assert panel.card_page.title.text() == "Thank you, Ada Lovelace!"
        shown = [label.text() for label in panel.card_page.lines if label.isVisible()]
        assert shown == ["Grace Hopper has been told you are here.",
                         "Please take your visitor badge from the printer."]
        [message] = _messages(host_rx, 1)
        assert message["message"] == "Ada Lovelace has signed in at Lobby to see you"
        # The visitor: no face data at all without consent, the agreement version stored.
        visitor = next(p for p in desk_gallery.people() if p.name == "Ada Lovelace")
        assert (visitor.kind, visitor.n_samples, visitor.n_templates) == ("visitor", 0, 0)
        assert visitor.host_id == grace and not visitor.consent_text
        assert (visitor.agreement_version, visitor.agreement_language) == ("1", "en")
        # The badge PDF: private, and it names the visitor and the host.
        [badge] = list((tmp_path / "badges").glob("*.pdf"))
        assert badge.stat().st_mode & 0o777 == 0o600 and "Ada" not in badge.name
        text = _pdf_text(badge)
        assert "VISITOR" in text and "Ada Lovelace" in text and "Host: Grace Hopper" in text
        # Done: back to the start, nothing personal left on any page.
        _tap(qtbot, panel.card_page.done)
        assert w.front.flow.state.step is Step.IDLE and w.stack.currentWidget() is w.attract_page
        leftovers = [x.text() for x in panel.findChildren(QLineEdit) + panel.findChildren(QLabel)
                     if "Ada" in x.text() or "Lovelace" in x.text()]
        assert leftovers == []
    finally:
        _close(w)
        bus.close(timeout=10)
        directory.close()


def test_an_abandoned_sign_in_times_out_and_forgets_everything(qtbot, desk_gallery, tmp_path):
    _host(desk_gallery, "Grace Hopper")
    clock = Clock()
    w = _window(qtbot, desk_gallery, _config(tmp_path, touch_timeout_s=30), clock=clock)
    panel = w.front.panel
    _tap(qtbot, w.front.start_bar.first_time)
    _type(qtbot, panel.name_page, "ada")
    clock.t += 29
    w._tick()
    assert panel.currentWidget() is panel.name_page  # still typing (just slowly)
    clock.t += 31
    w._tick()
    assert w.front.flow.state.step is Step.IDLE and w.stack.currentWidget() is w.attract_page
    assert panel.name_page.name.text() == ""
    assert [p.name for p in desk_gallery.people()] == ["Grace Hopper"]  # nothing was written
    _close(w)


# -- an invited guest, and leaving ----------------------------------------------------------------------


def test_an_invited_guest_finds_their_name_and_the_host_is_told(qtbot, desk_gallery, tmp_path, receivers):
    host_rx = receivers()
    grace = _host(desk_gallery, "Grace Hopper", f"json://127.0.0.1:{host_rx.port}/hook")
    config = _config(tmp_path)
    desk = FrontDesk(desk_gallery, config)  # the kiosk's desk runs on the wall clock: invited for today
    today = dt.date.today()
    invited = desk.invite(InvitationForm("Katherine Johnson", grace, today))
    desk.invite(InvitationForm("Dorothy Vaughan", grace, today))
    directory = Gallery(tmp_path / "kiosk.db", encrypt=False)
    bus = _bus(config, directory)
    w = _window(qtbot, desk_gallery, config, publish=bus.publish)
    panel = w.front.panel
    try:
        _tap(qtbot, w.front.start_bar.expected)
        page = panel.expected_page
        _type(qtbot, page, "ka")
        assert not any(b.isVisible() for b in page.choices)  # two letters: the list is never shown
        _type(qtbot, page, "t")
        assert [b.text() for b in page.choices if b.isVisible()] == ["Katherine Johnson"]
        _tap(qtbot, page.choices[0])
        _tap(qtbot, panel.agreement_page.agree)
        assert panel.card_page.title.text() == "Thank you, Katherine Johnson!"
        [message] = _messages(host_rx, 1)
        assert message["message"] == "Katherine Johnson has signed in at Lobby to see you"
        assert desk.gallery.get_invitation(invited.id).status == "arrived"
    finally:
        _close(w)
        bus.close(timeout=10)
        directory.close()


def _recognised(person_id: int, name: str) -> FrameResult:
    analysis = FaceAnalysis(np.array([200, 100, 440, 380], np.float32), 0.9, np.zeros((5, 2), np.float32),
                            np.zeros((112, 112, 3), np.uint8), False, 0.1, np.zeros(0, np.float32),
                            Quality(240, 100, 120, 0, 0))
    face = TrackedFace(3, Identity(person_id, name, 0.8, True, 3, 3), False, analysis, (), True)
    return FrameResult(1, 0.0, (640, 480), (face,), (), Timings(), 1, 1, "test@1")


def test_leaving_signs_out_whom_the_camera_recognises(qtbot, desk_gallery, tmp_path):
    grace = _host(desk_gallery, "Grace Hopper")
    config = _config(tmp_path)
    desk = FrontDesk(desk_gallery, config)
    desk.gallery.record_visit(grace, "checkin", 0.8, False, "lobby", dt.datetime.now().astimezone()
                              .isoformat(timespec="seconds"), site="hq", kiosk="lobby")
    assert [r.name for r in desk.on_site().rows] == ["Grace Hopper"]
    worker = FakeWorker()
    from ui.kiosk_mode import KioskWindow

    w = KioskWindow(worker, desk_gallery, config, flow_clock=Clock(), unlock=lambda parent: False)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    panel = w.front.panel
    _tap(qtbot, w.front.start_bar.leaving)
    assert panel.currentWidget() is panel.leaving_page
    worker.result_ready.emit(_recognised(grace, "Grace Hopper"))
    assert panel.card_page.title.text() == "Goodbye, Grace Hopper!"
    assert panel.card_page.lines[0].text() == "You are signed out. Thank you for your visit."
    assert desk.on_site().rows == ()
    _close(w)


def test_a_visitor_without_face_data_signs_out_by_typing_their_name(qtbot, desk_gallery, tmp_path):
    from kiosk.frontdesk import SignInForm

    grace = _host(desk_gallery, "Grace Hopper")
    config = _config(tmp_path)
    desk = FrontDesk(desk_gallery, config)  # the kiosk's desk runs on the wall clock: signed in today
    desk.gallery.record_visit(grace, "checkin", 0.8, False, "lobby", dt.datetime.now().astimezone()
                              .isoformat(timespec="seconds"), site="hq", kiosk="lobby")
    ada = desk.sign_in(SignInForm("Ada Lovelace", "Engines", grace, "1"))  # no consent: no face to see
    desk.sign_in(SignInForm("Adam Smith", "", grace, "1"))
    w = _window(qtbot, desk_gallery, config, wall_clock=lambda: dt.datetime.now().astimezone())  # today's log
    panel = w.front.panel
    page = panel.leaving_name_page
    assert w.session.checkins.in_cooldown(ada.person_id)  # her sign-in is her visit: seen now, not logged again
    try:
        _tap(qtbot, w.front.start_bar.leaving)
        assert panel.currentWidget() is panel.leaving_page
        _tap(qtbot, panel.leaving_page.by_name)
        assert panel.currentWidget() is page and page.title.text() == "Find your name to sign out"
        _type(qtbot, page, "gr")
        _type(qtbot, page, "a")
        assert not any(b.isVisible() for b in page.choices)  # staff are not on this list
        assert page.none_found.text() == "We could not find you among today's visitors. Please see the receptionist."
        for _ in range(3):
            _tap(qtbot, page.keyboard.keys["⌫"])
        _type(qtbot, page, "ad")
        assert not any(b.isVisible() for b in page.choices)  # two letters: who is inside is never listed
        _type(qtbot, page, "a l")
        assert [b.text() for b in page.choices if b.isVisible()] == ["Ada Lovelace"]
        _tap(qtbot, page.choices[0])
        assert panel.card_page.title.text() == "Goodbye, Ada Lovelace!"
        assert panel.card_page.lines[0].text() == "You are signed out. Thank you for your visit."
        assert [r.name for r in desk.on_site().rows] == ["Grace Hopper", "Adam Smith"]
        visit = desk.gallery.get_visit(ada.visit_id)
        assert visit.signed_out_at is not None and visit.signed_out_how == "kiosk"
        assert not w.session.checkins.in_cooldown(ada.person_id)  # coming back in is a new visit
        _tap(qtbot, panel.card_page.done)
        assert page.search.text() == "" and not any(b.isVisible() for b in page.choices)  # nothing left on it
    finally:
        _close(w)


# -- languages, sizes, touch targets ----------------------------------------------------------------------


def test_the_language_button_switches_at_a_tap_and_returns_when_the_visitor_left(qtbot, desk_gallery, tmp_path):
    _host(desk_gallery, "Grace Hopper")
    clock = Clock()
    w = _window(qtbot, desk_gallery, _config(tmp_path), clock=clock)
    bar = w.front.start_bar
    assert [b.text() for b in bar.languages.buttons.values()] == [translator(c).name for c in languages()]
    _tap(qtbot, bar.languages.buttons["de"])
    assert bar.first_time.text() == "Zum ersten Mal hier?"
    assert w.attract_label.text().startswith("Bitte schauen Sie in die Kamera")
    _tap(qtbot, bar.first_time)
    assert w.front.panel.name_page.title.text() == "Willkommen! Bitte melden Sie sich an"
    assert "ü" in w.front.panel.name_page.keyboard.keys  # the German keyboard
    _tap(qtbot, w.front.panel.name_page.cancel)  # the journey ends: the kiosk's own language again
    assert bar.first_time.text() == "First time here?"
    _tap(qtbot, bar.languages.buttons["fr"])
    assert bar.first_time.text() == "Première visite ?"
    clock.t += 9  # nobody in view, nobody touching: the visitor has gone
    w._tick()
    assert bar.first_time.text() == "First time here?" and w.front.language.current == "en"
    _close(w)


def _pseudo(code: str) -> Translator:
    """Every text of the catalog, bracketed: a text on screen without brackets was never translated."""
    pot = read_po(catalog_dir() / "messages.pot")
    return Translator(code, "Pseudo", {(e.msgctxt or "", e.msgid): f"⟦{e.msgid}⟧" for e in pot})


def _visitor_texts(w) -> list[tuple[str, str]]:
    out = []
    for widget in w.findChildren(QAbstractButton) + w.findChildren(QLabel):
        if not widget.isVisibleTo(w) or widget.objectName().startswith(("key-", "language-")):
            continue
        text = widget.text()
        if text.strip() and not text.strip().isdigit() and ":" not in text[:3]:
            out.append((widget.objectName() or type(widget).__name__, text))
    return out


def _walk(w, desk_gallery, visit) -> None:
    """Every visitor screen in turn; `visit(name)` on each."""
    flow = w.front.flow
    visit("start")
    flow.start_sign_in()
    visit("name")
    flow.submit_name("Ada Lovelace", "Analytical Engines")
    w.front.panel.host_page.search.setText("gra")
    visit("host")
    flow.choose_host(desk_gallery.hosts()[0])
    visit("agreement")
    flow.accept()
    visit("face")
    flow.choose_face(True)
    visit("capture")
    flow.skip_capture()
    visit("done")
    flow.start_expected()
    w.front.panel.expected_page.search.setText("zzz")
    visit("expected")
    flow.start_leaving()
    visit("leaving")
    flow.leave_by_name()
    w.front.panel.leaving_name_page.search.setText("zzz")
    visit("leaving-name")


def test_no_visitor_facing_text_is_left_untranslated(qtbot, desk_gallery, tmp_path, monkeypatch):
    import kiosk.checkin.texts as checkin_texts
    import ui.kiosk_mode.desk_panel as desk_panel
    import ui.kiosk_mode.front_desk as front_desk
    from ui.kiosk_mode import touch

    pseudo = _pseudo("de")
    for module in (desk_panel, front_desk, checkin_texts):
        monkeypatch.setattr(module, "translator", lambda code: pseudo if code == "de" else translator(code))
    monkeypatch.setattr(touch, "language_name", lambda code: code)
    _host(desk_gallery, "Grace Hopper")
    w = _window(qtbot, desk_gallery, _config(tmp_path, language="de"))
    untranslated = []

    def visit(name: str) -> None:
        for where, text in _visitor_texts(w):
            data = ("Ada Lovelace", "Analytical Engines", "Grace Hopper", "gra", "zzz", "12:00")
            if "⟦" not in text and text not in data:
                untranslated.append((name, where, text))

    _walk(w, desk_gallery, visit)
    assert untranslated == []
    _close(w)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("language", ["en", "de", "fr", "es", "nl"])
def test_every_screen_fits_with_large_targets(qtbot, desk_gallery, tmp_path, language, size):
    _host(desk_gallery, "Grace Hopper")
    w = _window(qtbot, desk_gallery, _config(tmp_path, language=language), size=size)
    problems = []

    def visit(name: str) -> None:
        w.repaint()
        page = w.stack.currentWidget()
        if page.minimumSizeHint().height() > size[1] or page.minimumSizeHint().width() > size[0]:
            problems.append((name, "page larger than the screen", page.minimumSizeHint()))
        for button in w.findChildren(QAbstractButton):
            if not button.isVisibleTo(w):
                continue
            # 9 mm on a 10.1" 1280x800 tablet (149 dpi) is 53.4 px; never below 48 px anywhere.
            if min(button.width(), button.height()) < max(54 * size[1] // 800, 48):
                problems.append((name, button.text(), "target", button.size()))
            advance = max(button.fontMetrics().horizontalAdvance(t) for t in button.text().split("\n"))
            if advance > button.width() - 6:
                problems.append((name, button.text(), "text clipped", advance, button.width()))
        for label in w.findChildren(QLabel):
            if label.isVisibleTo(w) and label.text() and label.heightForWidth(label.width()) > label.height() + 2:
                problems.append((name, label.text()[:40], "label cut", label.height()))

    assert (w.width(), w.height()) == size
    _walk(w, desk_gallery, visit)
    assert problems == []
    _close(w)


def test_the_evacuation_list_pdf_names_who_is_inside(qtbot, desk_gallery, tmp_path):
    from ui.evacuation_button import EvacuationButton

    grace = _host(desk_gallery, "Grace Hopper")
    config = _config(tmp_path)
    desk = FrontDesk(desk_gallery, config)
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    desk.gallery.record_visit(grace, "checkin", 0.8, False, "lobby", now, site="hq", kiosk="lobby")
    from kiosk.frontdesk import SignInForm

    desk.sign_in(SignInForm("Ada Lovelace", "Engines", grace, "1"))
    target = tmp_path / "out" / "on-site.pdf"
    target.parent.mkdir()
    button = EvacuationButton(desk_gallery, config, ask_path=lambda default: str(target))
    qtbot.addWidget(button)
    assert button.save_pdf() == str(target)
    assert target.stat().st_mode & 0o777 == 0o600
    text = _pdf_text(target)
    assert "Visitors (1)" in text and "2 people on site" in text  # ("Staff" comes out as a ligature)
    assert "Ada Lovelace" in text and "Grace Hopper" in text and "Engines" in text
