"""The gallery manager on offscreen Qt: list, search, edit, add samples, delete (every row),
export and import, and the admin PIN with its lockout."""

from __future__ import annotations

import cv2
import pytest
from conftest import ManualClock
from live_helpers import HANG_GUARD_MS

from kiosk.config import Config
from kiosk.enrollment.samples import make_sample
from kiosk.gallery import Gallery
from kiosk.gallery.admin_pin import AdminPin, PinPolicy
from kiosk.gallery.api import PersonDetails

pytest_plugins = ["live_fixtures"]
pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("no_dangling_threads")]

WAIT_MS = HANG_GUARD_MS


@pytest.fixture
def people(gallery, pipeline, astronaut_rgb):
    """Three people made from the vendored photo (mirrored / shifted copies), with visits."""
    face = pipeline.analyze(astronaut_rgb)[0]
    mirrored = pipeline.analyze(astronaut_rgb[:, ::-1].copy())[0]
    version = pipeline.model_version
    ids = {
        "Ada Lovelace": gallery.add_person(PersonDetails("Ada Lovelace", company="Acme", host="Grace", consent_at="2026-01-02T10:00:00+00:00", consent_text="I agree"), [make_sample(pipeline, face), make_sample(pipeline, mirrored)],
                                           version),
        "Bob Builder": gallery.add_person(PersonDetails("Bob Builder", company="Initech"), [make_sample(pipeline, face)], version),
        "Carol Danvers": gallery.add_person(PersonDetails("Carol Danvers", host="Acme"), [make_sample(pipeline, mirrored)], version),
    }
    gallery.record_visit(ids["Ada Lovelace"], "checkin", 0.8)
    gallery.record_visit(ids["Bob Builder"], "checkin", 0.7)
    return ids


@pytest.fixture
def per_sample(pipeline, astronaut_rgb) -> int:
    """Templates stored per sample (the enrollment code decides; these tests only count rows)."""
    return len(make_sample(pipeline, pipeline.analyze(astronaut_rgb)[0]).templates)


def open_manager(qtbot, gallery, **kwargs):
    from ui.gallery_manager import GalleryManager

    kwargs.setdefault("require_pin", False)
    manager = GalleryManager(gallery, Config(), **kwargs)
    qtbot.addWidget(manager)
    manager.show()
    return manager


def wait_idle(qtbot, manager) -> None:
    """Changes are written on the gallery's writer thread: wait for the outcome."""
    qtbot.waitUntil(lambda: not manager.busy, timeout=WAIT_MS)


def names_shown(manager) -> list[str]:
    return [manager.table.item(r, 0).text() for r in range(manager.table.rowCount())]


def rows_of(gallery, person_id) -> dict[str, int]:
    return gallery.counts(person_id)


def test_list_search_thumbnails_and_counts(qtbot, gallery, people, per_sample):
    manager = open_manager(qtbot, gallery)
    assert sorted(names_shown(manager)) == ["Ada Lovelace", "Bob Builder", "Carol Danvers"]
    assert manager.count_label.text() == "3 people"
    row = names_shown(manager).index("Ada Lovelace")
    assert not manager.table.item(row, 0).icon().isNull()  # the thumbnail
    ada = gallery.get_person(people["Ada Lovelace"])
    assert manager.table.item(row, 3).text() == str(ada.n_templates) and ada.n_templates == 2 * per_sample
    assert manager.table.item(row, 4).text() != "never"
    carol = names_shown(manager).index("Carol Danvers")
    assert manager.table.item(carol, 4).text() == "never"
    manager.search.setText("acme")  # company of Ada, host of Carol
    assert sorted(names_shown(manager)) == ["Ada Lovelace", "Carol Danvers"]
    assert manager.count_label.text() == "2 of 3 people"
    manager.search.setText("nobody")
    assert names_shown(manager) == []
    manager.close()


def test_edit_details(qtbot, gallery, people):
    manager = open_manager(qtbot, gallery)
    manager.select_ids([people["Bob Builder"]])
    assert manager.current_id == people["Bob Builder"] and manager.details_panel.fields.name_edit.text() == "Bob Builder"
    assert "no consent recorded" in manager.details_panel.summary.text()
    manager.details_panel.fields.company_edit.setText("Globex")
    manager.details_panel.fields.retention_check.setChecked(True)
    manager.details_panel.save_button.click()
    wait_idle(qtbot, manager)
    bob = gallery.get_person(people["Bob Builder"])
    assert bob.company == "Globex" and bob.retention_until and len(bob.retention_until) == 10
    manager.details_panel.fields.name_edit.setText("   ")
    manager.details_panel.save_button.click()
    wait_idle(qtbot, manager)
    assert "Not saved: a person needs a name" in manager.status.text()
    assert gallery.get_person(people["Bob Builder"]).name == "Bob Builder"
    manager.close()


def test_delete_asks_first_and_removes_every_row(qtbot, gallery, people, per_sample, monkeypatch):
    manager = open_manager(qtbot, gallery)
    ada = people["Ada Lovelace"]
    before = rows_of(gallery, ada)
    assert before == {"people": 1, "samples": 2, "templates": 2 * per_sample, "visits": 1}
    manager.select_ids([ada])
    monkeypatch.setattr(manager, "confirm", lambda title, text: False)
    manager.delete_button.click()
    assert not manager.busy  # nothing was asked of the writer
    assert rows_of(gallery, ada) == before
    asked: list = []
    monkeypatch.setattr(manager, "confirm", lambda title, text: asked.append(text) or True)
    manager.delete_button.click()
    wait_idle(qtbot, manager)
    assert "Ada Lovelace" in asked[0] and "cannot be undone" in asked[0]
    assert rows_of(gallery, ada) == {"people": 0, "samples": 0, "templates": 0, "visits": 0}
    assert "Ada Lovelace" not in names_shown(manager)
    assert gallery.counts()["people"] == 2 and gallery.counts()["visits"] == 1  # Bob's visit stays
    manager.close()


def test_remove_one_sample_but_never_the_last(qtbot, gallery, people, per_sample, monkeypatch):
    manager = open_manager(qtbot, gallery)
    monkeypatch.setattr(manager, "confirm", lambda title, text: True)
    ada = people["Ada Lovelace"]
    manager.select_ids([ada])
    sample_ids = [s.id for s in gallery.samples(ada)]
    manager.remove_sample(sample_ids[0])
    wait_idle(qtbot, manager)
    assert rows_of(gallery, ada)["samples"] == 1 and rows_of(gallery, ada)["templates"] == per_sample
    manager.remove_sample(sample_ids[1])
    assert not manager.busy  # refused at once
    assert "only sample" in manager.status.text() and rows_of(gallery, ada)["samples"] == 1
    manager.close()


SECRET = "correct horse battery staple"


def test_export_selected_and_import_into_another_gallery(qtbot, tmp_path, gallery, people, per_sample):
    manager = open_manager(qtbot, gallery)
    manager.select_ids([people["Ada Lovelace"], people["Carol Danvers"]])
    asked = []
    manager.ask_export_secret = lambda n: (asked.append(n), (True, SECRET))[1]
    path = tmp_path / "two.fkx"
    manager.export_selected(str(path))
    wait_idle(qtbot, manager)
    assert asked == [2]
    assert manager.status.text() == f"Exported 2 people to {path} (encrypted)." and path.is_file()
    assert path.read_bytes()[:4] == b"FKX1" and b"Ada Lovelace" not in path.read_bytes()
    assert (path.stat().st_mode & 0o777) == 0o600
    manager.close()
    with Gallery(tmp_path / "other.db") as other:
        target = open_manager(qtbot, other)
        target.ask_import_passphrase = lambda p: None  # cancelled: nothing happens
        target.import_export(str(path))
        assert not target.busy and other.counts()["people"] == 0
        target.ask_import_passphrase = lambda p: "not the passphrase"
        target.import_export(str(path))
        wait_idle(qtbot, target)
        assert target.status.text().startswith("Import failed, nothing was added")
        target.ask_import_passphrase = lambda p: SECRET
        target.import_export(str(path))
        wait_idle(qtbot, target)
        assert target.status.text() == "Imported 2 people from two.fkx."
        assert sorted(names_shown(target)) == ["Ada Lovelace", "Carol Danvers"]
        assert other.counts()["templates"] == 3 * per_sample  # Ada's two samples and Carol's one
        broken = tmp_path / "broken.zip"
        broken.write_bytes(b"not a zip")
        target.import_export(str(broken))
        wait_idle(qtbot, target)
        assert target.status.text().startswith("Import failed, nothing was added")
        assert other.counts()["people"] == 2
        target.close()


def test_add_samples_to_the_selected_person(qtbot, tmp_path, gallery, people, astronaut_rgb):
    manager = open_manager(qtbot, gallery)
    bob = people["Bob Builder"]
    manager.select_ids([bob])
    manager.add_samples_button.click()
    assert len(manager.dialogs) == 1
    dialog = manager.dialogs[0]
    assert dialog.person_id == bob and dialog.unlocked and dialog.windowTitle() == "Add samples: Bob Builder"
    shifted = tmp_path / "bob.png"
    cv2.imwrite(str(shifted), cv2.resize(astronaut_rgb, None, fx=0.8, fy=0.8)[:, :, ::-1])
    dialog.add_photos([shifted])
    qtbot.waitUntil(lambda: not dialog.checking_photos and bool(dialog.pending_samples()), timeout=WAIT_MS)
    assert dialog.missing() == []  # no name or consent needed to add samples
    dialog.save_button.click()
    # Ada and Carol are the astronaut too: they are offered as look-alikes before anything is stored.
    qtbot.waitUntil(dialog.duplicate_panel.isVisible, timeout=WAIT_MS)
    assert "not like <b>Bob Builder</b>" in dialog.duplicate_text.text()
    assert gallery.get_person(bob).n_samples == 1
    next(b for b in dialog.duplicate_panel.findChildren(type(dialog.save_button))
         if b.text() == "Add them to Bob Builder anyway").click()
    qtbot.waitUntil(lambda: gallery.get_person(bob).n_samples == 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not manager.dialogs, timeout=WAIT_MS)
    assert gallery.counts()["people"] == 3
    manager.close()


def test_the_manager_needs_the_pin_and_locks_out_after_five_wrong_tries(qtbot, gallery, people):
    clock = ManualClock()
    pin = AdminPin(gallery, PinPolicy(scrypt_n=2**10), clock=clock)
    pin.set_pin("864203")
    manager = open_manager(qtbot, gallery, require_pin=True, admin_pin=pin)
    gate = manager.pin_gate
    assert not manager.unlocked and not gate.setting

    def enter(digits: str) -> None:
        for key in digits:
            gate.pad.press(key)
        gate.pad.press("OK")

    for _ in range(4):
        enter("1357")
    assert "1 try left" in gate.message.text() and gate.pad.isEnabled()
    enter("1357")
    assert not gate.pad.isEnabled() and "Try again in 30 s" in gate.message.text()
    enter("864203")  # the pad is disabled; even pressing does nothing useful while locked
    assert not manager.unlocked
    clock.t += 30
    gate.refresh_lockout()
    assert gate.pad.isEnabled() and gate.message.text() == "Enter the admin PIN to manage the gallery."
    enter("1357")  # the sixth wrong PIN doubles the delay
    assert "Try again in 1 min" in gate.message.text()
    clock.t += 60
    gate.refresh_lockout()
    enter("864203")
    assert manager.unlocked and sorted(names_shown(manager))[0] == "Ada Lovelace"
    manager.close()


def test_choosing_the_first_pin_says_why_one_is_refused_in_plain_sentences(qtbot, gallery):
    from ui.pin_dialog import PinGate

    gate = PinGate(AdminPin(gallery, PinPolicy(scrypt_n=2**10)), "manage the gallery")
    qtbot.addWidget(gate)
    assert gate.setting

    def enter(digits: str) -> None:
        for key in digits:
            gate.pad.press(key)
        gate.pad.press("OK")

    enter("123123")
    assert gate.message.text() == ("Choose another PIN: one of the most common PINs is easy to guess. "
                                   "Try again.")
    enter("815037")
    enter("815038")
    assert gate.message.text() == "The two PINs differ; enter the same PIN twice. Try again."
    with qtbot.waitSignal(gate.unlocked, timeout=WAIT_MS):
        enter("815037")
        enter("815037")
    assert AdminPin(gallery).check("815037").ok


def test_pin_pad_takes_keyboard_digits_and_backspace(qtbot):
    from PySide6.QtCore import Qt

    from ui.pin_dialog import PinPad

    pad = PinPad()
    qtbot.addWidget(pad)
    got: list = []
    pad.submitted.connect(got.append)
    qtbot.keyClicks(pad.field, "12a34")
    assert pad.field.text() == "1234"  # letters are refused
    pad.press("⌫")
    pad.press("9")
    qtbot.keyClick(pad.field, Qt.Key.Key_Return)
    assert got == ["1239"] and pad.field.text() == ""


def test_export_dialog_asks_twice_and_plain_only_when_ticked_and_confirmed(qtbot):
    from ui.export_secret_dialog import ExportSecretDialog

    answers = []
    dialog = ExportSecretDialog(2, confirm_plain=lambda: answers.pop(0))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.first.setText("correct horse battery staple")
    dialog.second.setText("correct horse battery stable")
    dialog.accept()
    assert dialog.isVisible() and "differ" in dialog.error.text()
    dialog.first.setText("short")
    dialog.second.setText("short")
    dialog.accept()
    assert dialog.isVisible() and "at least 10 characters" in dialog.error.text()
    dialog.plain.setChecked(True)
    assert not dialog.first.isEnabled()
    answers.append(False)  # "write it unencrypted?" -> No: the dialog stays
    dialog.accept()
    assert dialog.isVisible()
    answers.append(True)
    dialog.accept()
    assert not dialog.isVisible() and dialog.result() == dialog.DialogCode.Accepted
    assert dialog.secret() is None
    again = ExportSecretDialog(1, confirm_plain=lambda: True)
    qtbot.addWidget(again)
    again.show()
    again.first.setText("correct horse battery staple")
    again.second.setText("correct horse battery staple")
    again.accept()
    assert again.result() == again.DialogCode.Accepted and again.secret() == "correct horse battery staple"


def test_a_plain_export_only_when_chosen_and_never_over_the_gallery(qtbot, tmp_path, gallery, people):
    manager = open_manager(qtbot, gallery)
    manager.select_ids([people["Ada Lovelace"]])
    manager.ask_export_secret = lambda n: (False, None)  # cancelled
    manager.export_selected(str(tmp_path / "none.zip"))
    assert not manager.busy and not (tmp_path / "none.zip").exists()
    manager.ask_export_secret = lambda n: (True, None)  # ticked and confirmed
    manager.export_selected(str(tmp_path / "plain.zip"))
    wait_idle(qtbot, manager)
    assert "unencrypted" in manager.status.text() and (tmp_path / "plain.zip").read_bytes()[:2] == b"PK"
    before = gallery.path.read_bytes()[:4096]
    manager.controller.export([people["Ada Lovelace"]], gallery.path, SECRET, overwrite=True)
    wait_idle(qtbot, manager)
    assert "gallery's own file" in manager.status.text()
    assert gallery.path.read_bytes()[:4096] == before
    manager.close()
