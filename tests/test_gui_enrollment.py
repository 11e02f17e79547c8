"""The enrollment dialog on offscreen Qt: camera capture through the live worker, photo import,
refusal reasons, duplicates, cancel and crashes that leave nothing behind, the PIN gate.

Clips and LFW come from ../shared/data (skipped without it); the vendored astronaut photo
covers what must run without it. The camera plays in lockstep (live_helpers.open_live_window)
and the dialog is open before the first frame, so it judges the same frames in the same order
on any machine. Waits poll (qtbot.waitUntil); nothing asserts a duration.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from conftest import ASTRONAUT, shared
from live_helpers import (
    HANG_GUARD_MS,
    ScriptedSource,
    clip_frames,
    enroll_from_frames,
    open_live_window,
)

from kiosk.config import Config
from kiosk.enrollment.gates import Gate
from kiosk.enrollment.guided import CaptureSettings
from kiosk.errors import KioskError
from kiosk.gallery import Gallery
from kiosk.gallery.admin_pin import AdminPin, PinPolicy
from kiosk.gallery.stored_faces import photo_provenance

pytest_plugins = ["live_fixtures"]
pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("no_dangling_threads")]

WAIT_MS = HANG_GUARD_MS
# The male clip never turns his head: a turn step takes him facing the camera after 0.5 s.
QUICK = CaptureSettings(turn_patience_s=0.5, min_interval_s=0.2)


@pytest.fixture
def gallery(tmp_path):
    with Gallery(tmp_path / "gallery.db") as g:
        yield g


def open_window(qtbot, tmp_path, gallery, source, **kwargs):
    return open_live_window(qtbot, tmp_path, gallery, source, **kwargs)


def open_dialog(qtbot, worker, gallery, **kwargs):
    from ui.enrollment_dialog import EnrollmentDialog

    kwargs.setdefault("require_pin", False)
    dialog = EnrollmentDialog(worker, gallery, Config(), **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def fill_details(dialog, name: str, consent: bool = True) -> None:
    dialog.name_edit.setText(name)
    dialog.company_edit.setText("Acme")
    dialog.host_edit.setText("Reception")
    dialog.consent_check.setChecked(consent)


def write_frames(tmp_path, frames, stem="frame") -> list:
    paths = []
    for i, rgb in enumerate(frames):
        path = tmp_path / f"{stem}_{i}.png"
        cv2.imwrite(str(path), rgb[:, :, ::-1])
        paths.append(path)
    return paths


def wait_photos_checked(qtbot, dialog) -> None:
    qtbot.waitUntil(lambda: not dialog.checking_photos, timeout=WAIT_MS)


def close(dialog, window=None) -> None:
    dialog.close()
    if window is not None:
        window.close()


# -- camera ---------------------------------------------------------------------------------------


@pytest.mark.data
def test_enroll_from_the_camera_then_the_live_window_names_them(qtbot, tmp_path, gallery):
    clip = shared("video", "head-pose-face-detection-male.gif")
    window = open_window(qtbot, tmp_path, gallery, str(clip), start=False)
    dialog = open_dialog(qtbot, window.worker, gallery, parent=window, capture_settings=QUICK)
    saved: list = []
    dialog.person_saved.connect(saved.append)
    window.start()  # the dialog sees the clip from its first frame
    qtbot.waitUntil(lambda: dialog.capture.done, timeout=WAIT_MS)
    assert len(dialog.pending_samples()) == 5
    # A real person: the samples' track is judged live (the liveness check, on by default) as
    # the clip goes on, possibly after the capture is done; until then Save says why it waits.
    qtbot.waitUntil(lambda: dialog.missing() == ["enter the name", "the visitor's consent"], timeout=WAIT_MS)
    fill_details(dialog, "Camera Visitor")
    dialog.retention_check.setChecked(True)
    dialog.save_button.click()
    qtbot.waitUntil(lambda: bool(saved), timeout=WAIT_MS)
    person = gallery.get_person(saved[0])
    assert person.name == "Camera Visitor" and person.company == "Acme" and person.host == "Reception"
    assert person.n_samples == 5 and person.n_templates >= 5
    assert person.consent_at and "stores photos of my face" in person.consent_text
    assert person.retention_until and len(person.retention_until) == 10
    assert not dialog.isVisible()
    names: list = []
    window.video.frame_painted.connect(lambda info: names.append(info.names))
    qtbot.waitUntil(lambda: ("Camera Visitor",) in names, timeout=WAIT_MS)
    window.close()


@pytest.mark.data
def test_refused_frames_show_why(qtbot, tmp_path, gallery):
    # The clip's first six frames: the two people are about as prominent (the man walks to the
    # edge later, where he no longer counts as a second person). Looped, every frame is refused.
    two = clip_frames(shared("video", "head-pose-face-detection-female-and-male.gif"), list(range(6)))
    window = open_window(qtbot, tmp_path, gallery, lambda: ScriptedSource(lambda i: two[i % len(two)], fps=12.5),
                         start=False)
    dialog = open_dialog(qtbot, window.worker, gallery, parent=window)
    window.start()
    qtbot.waitUntil(lambda: dialog.view.overlay is not None and dialog.view.overlay.verdict is not None
                    and bool(dialog.view.overlay.verdict.reason), timeout=WAIT_MS)
    verdict = dialog.view.overlay.verdict
    assert verdict.reason == "only one person, please"
    assert Gate.ONE_FACE in dialog.checklist.failed_gates()
    assert dialog.capture.samples == []
    close(dialog, window)


def test_a_dark_camera_is_refused_as_too_dark_and_a_mask_on_the_reference(qtbot, tmp_path, gallery, astronaut_rgb,
                                                                          pipeline):
    from kiosk.vision.synthetic_masks import MaskStyle, paint_mask

    dark = (astronaut_rgb * 0.15).astype(np.uint8)
    window = open_window(qtbot, tmp_path, gallery, lambda: ScriptedSource(lambda i: dark, fps=10))
    dialog = open_dialog(qtbot, window.worker, gallery, parent=window)
    qtbot.waitUntil(lambda: dialog.view.overlay is not None and dialog.view.overlay.verdict is not None
                    and dialog.view.overlay.verdict.face is not None, timeout=WAIT_MS)
    assert "too dark - more light on the face" in [r.reason for r in dialog.view.overlay.verdict.failed]
    assert Gate.EXPOSURE in dialog.checklist.failed_gates()
    close(dialog)
    face = pipeline.analyze(astronaut_rgb)[0]
    masked = paint_mask(astronaut_rgb, face.landmarks, MaskStyle(shape="cloth", colour=(30, 30, 34), top=62.0))
    window.set_source(lambda: ScriptedSource(lambda i: masked, fps=10))
    dialog = open_dialog(qtbot, window.worker, gallery, parent=window)

    def masked_frame_judged() -> bool:  # frames of the dark source may still be in flight
        verdict = dialog.view.overlay.verdict if dialog.view.overlay is not None else None
        return verdict is not None and verdict.face is not None and verdict.face.quality.brightness > 60

    qtbot.waitUntil(masked_frame_judged, timeout=WAIT_MS)
    assert dialog.view.overlay.verdict.reason == "please remove your mask for this photo"
    assert dialog.capture.samples == []
    dialog.allow_mask.setChecked(True)  # the operator allows a masked reference
    qtbot.waitUntil(lambda: len(dialog.capture.samples) >= 1, timeout=WAIT_MS)
    close(dialog, window)


# -- photos ----------------------------------------------------------------------------------------


@pytest.mark.data
def test_enroll_from_files_then_the_live_window_names_them(qtbot, tmp_path, gallery):
    clip = shared("video", "head-pose-face-detection-female.gif")
    paths = write_frames(tmp_path, clip_frames(clip, [9, 17, 19]), "female")
    dialog = open_dialog(qtbot, None, gallery)  # no live window: a private pipeline thread
    assert not dialog.view.isEnabled()
    dialog.add_photos([str(p) for p in paths])
    wait_photos_checked(qtbot, dialog)
    assert all(e.check is not None and e.check.usable for e in dialog.photos)
    assert all("face found" in e.row.status.text() for e in dialog.photos)
    fill_details(dialog, "File Visitor")
    saved: list = []
    dialog.person_saved.connect(saved.append)
    dialog.save_button.click()
    qtbot.waitUntil(lambda: bool(saved), timeout=WAIT_MS)
    assert gallery.get_person(saved[0]).n_samples == 3
    sources = {s.source for s in gallery.samples(saved[0])}
    # Where each photo came from, as a keyed hash of its file name: never its path (issue 20).
    assert sources == {photo_provenance(str(p), gallery.integrity_key) for p in paths}
    window = open_window(qtbot, tmp_path, gallery, str(clip))
    names: list = []
    window.video.frame_painted.connect(lambda info: names.append(info.names))
    qtbot.waitUntil(lambda: ("File Visitor",) in names, timeout=WAIT_MS)
    window.close()


def test_bad_files_give_messages_and_add_nothing(qtbot, tmp_path, gallery, astronaut_rgb):
    garbage = tmp_path / "broken.jpg"
    garbage.write_bytes(b"\xff\xd8 this is not really a jpeg")
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 400, 3), 180, np.uint8))
    face = astronaut_rgb[20:260, 110:350]
    pair = np.full((300, 640, 3), 200, np.uint8)
    pair[30:270, 20:260] = face
    pair[30:270, 360:600] = face[:, ::-1]
    two = tmp_path / "two_people.png"
    cv2.imwrite(str(two), pair[:, :, ::-1])
    dialog = open_dialog(qtbot, None, gallery)
    dialog.add_photos([garbage, blank, two, tmp_path / "missing.jpg"])
    wait_photos_checked(qtbot, dialog)
    status = {e.path.name: e.row.status.text() for e in dialog.photos}
    assert status["broken.jpg"].startswith("cannot read this file")
    assert status["missing.jpg"] == "cannot read this file: no such file"
    assert status["wall.png"] == "no face found in this photo"
    assert status["two_people.png"].startswith("2 people in this photo - click the face to enroll")
    assert dialog.pending_samples() == []
    fill_details(dialog, "Nobody")
    dialog.save_button.click()
    assert "take or add at least one sample" in dialog.status.text()
    assert gallery.counts()["people"] == 0
    # Picking one of the two faces makes that photo a sample.
    entry = next(e for e in dialog.photos if e.path.name == "two_people.png")
    buttons = [w for w in entry.row.findChildren(type(entry.row.remove)) if w.accessibleName().startswith("pick face")]
    assert len(buttons) == 2
    buttons[1].click()
    assert len(dialog.pending_samples()) == 1 and "face found" in entry.row.status.text()
    assert gallery.counts() == {"people": 0, "samples": 0, "templates": 0, "visits": 0}
    close(dialog)


def test_photos_can_be_dropped_and_the_check_cancelled(qtbot, tmp_path, gallery):
    import threading

    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    from kiosk.vision.pipeline import FacePipeline
    from ui.jobs import PipelineThread

    # The models load when the test says so: the check is still under way when it is cancelled,
    # however fast the machine.
    go = threading.Event()

    def models_after_go(config):
        go.wait(WAIT_MS / 1000)
        return FacePipeline(config.vision, still=True)

    runner = PipelineThread(Config(), factory=models_after_go)
    try:
        dialog = open_dialog(qtbot, None, gallery, runner=runner)
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(ASTRONAUT))] * 4)
        event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                           Qt.KeyboardModifier.NoModifier)
        dialog.dropEvent(event)
        assert len(dialog.photos) == 4
        assert dialog.photo_cancel.isVisible()
        dialog.cancel_photos()
        go.set()
        wait_photos_checked(qtbot, dialog)
        checked = [e for e in dialog.photos if e.check is not None]
        cancelled = [e for e in dialog.photos if e.cancelled]
        assert len(checked) + len(cancelled) == 4 and len(cancelled) >= 3  # all but the one under way
        assert all("cancelled" in e.row.status.text() for e in cancelled)
        assert not dialog.photo_cancel.isVisible()
        close(dialog)
    finally:
        go.set()
        runner.close()


# -- saving ----------------------------------------------------------------------------------------


def test_consent_and_a_name_are_required(qtbot, tmp_path, gallery):
    dialog = open_dialog(qtbot, None, gallery)
    dialog.add_photos([ASTRONAUT])
    wait_photos_checked(qtbot, dialog)
    dialog.name_edit.setText("Eileen")
    dialog.save_button.click()
    assert "the visitor's consent" in dialog.status.text()
    dialog.name_edit.setText("  ")
    dialog.consent_check.setChecked(True)
    dialog.save_button.click()
    assert "enter the name" in dialog.status.text()
    assert gallery.counts()["people"] == 0
    close(dialog)


def test_cancel_during_save_and_a_crash_while_writing_add_nothing(qtbot, tmp_path, gallery, monkeypatch):
    from PySide6.QtCore import QCoreApplication

    dialog = open_dialog(qtbot, None, gallery)
    dialog.add_photos([ASTRONAUT, ASTRONAUT])
    wait_photos_checked(qtbot, dialog)
    fill_details(dialog, "Eileen")
    # The model thread is held until the cancel is in: the save's job (it can be quick) cannot
    # finish first and run its outcome at once, however this machine schedules the threads.
    hold = threading.Event()
    held = dialog.runner.run_on_worker(lambda p: hold.wait(WAIT_MS / 1000))
    dialog.save_button.click()
    assert dialog.busy_bar.isVisible()
    dialog.cancel_button.click()  # cancel while the templates are being made
    assert not dialog.busy_bar.isVisible() and "nothing was saved" in dialog.status.text()
    hold.set()
    assert held.result(timeout=WAIT_MS / 1000) is True
    dialog.runner.run_on_worker(lambda p: None).result(timeout=WAIT_MS / 1000)  # the cancelled job has finished
    QCoreApplication.processEvents()  # and its late result was delivered (and ignored)
    assert gallery.counts()["people"] == 0

    calls = {"n": 0}
    original = gallery._insert_samples

    def crash_on_second_sample(conn, person_id, samples, model_version, stamp):
        original(conn, person_id, samples[:1], model_version, stamp)
        calls["n"] += 1
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(gallery, "_insert_samples", crash_on_second_sample)
    dialog.save_button.click()
    qtbot.waitUntil(lambda: calls["n"] == 1 and not dialog.busy_bar.isVisible(), timeout=WAIT_MS)
    assert "Nothing was saved: disk full (simulated)" in dialog.status.text()
    assert gallery.counts() == {"people": 0, "samples": 0, "templates": 0, "visits": 0}
    dialog.cancel_button.click()  # closes the dialog
    assert not dialog.isVisible()
    assert gallery.counts()["people"] == 0


@pytest.mark.data
def test_a_possible_duplicate_is_offered_to_the_existing_person(qtbot, tmp_path, gallery, pipeline):
    lfw = shared("lfw-dev", "images", "Al_Gore")
    known = sorted(lfw.glob("*.jpg"))
    from kiosk.capture.images import load_rgb

    person = enroll_from_frames(pipeline, gallery, "Al Gore", [load_rgb(p) for p in known[:2]])
    dialog = open_dialog(qtbot, None, gallery)
    dialog.add_photos(known[2:4])
    wait_photos_checked(qtbot, dialog)
    fill_details(dialog, "Albert Gore")
    dialog.save_button.click()
    qtbot.waitUntil(dialog.duplicate_panel.isVisible, timeout=WAIT_MS)
    assert "Possible duplicate" in dialog.duplicate_text.text() and "Al Gore" in dialog.duplicate_text.text()
    assert gallery.counts()["people"] == 1
    buttons = {b.text(): b for b in dialog.duplicate_panel.findChildren(type(dialog.save_button))}
    assert set(buttons) == {"Same person: add the samples to Al Gore", "A different person: save as new",
                            "Back (change nothing)"}
    saved: list = []
    dialog.person_saved.connect(saved.append)
    buttons["Same person: add the samples to Al Gore"].click()
    qtbot.waitUntil(lambda: bool(saved), timeout=WAIT_MS)
    assert saved == [person]
    assert gallery.counts()["people"] == 1 and gallery.get_person(person).n_samples == 4


# -- PIN -----------------------------------------------------------------------------------------


def test_the_dialog_opens_behind_the_pin(qtbot, tmp_path, gallery):
    pin = AdminPin(gallery, PinPolicy(scrypt_n=2**10))
    dialog = open_dialog(qtbot, None, gallery, require_pin=True, admin_pin=pin)
    assert not dialog.unlocked and dialog.pin_gate.setting
    for key in "813572":
        dialog.pin_gate.pad.press(key)
    dialog.pin_gate.pad.press("OK")
    assert dialog.pin_gate.title.text() == "Enter the same PIN again" and not dialog.unlocked
    for key in "813572":
        dialog.pin_gate.pad.press(key)
    dialog.pin_gate.pad.press("OK")
    assert dialog.unlocked and pin.is_set()
    close(dialog)
    again = open_dialog(qtbot, None, gallery, require_pin=True, admin_pin=pin)
    assert not again.pin_gate.setting and again.pin_gate.title.text() == "Admin PIN"
    for key in ("1", "1", "1", "2", "OK"):
        again.pin_gate.pad.press(key)
    assert not again.unlocked and "Wrong PIN" in again.pin_gate.message.text()
    again.pin_gate.pad.field.setText("813572")
    again.pin_gate.pad.field.returnPressed.emit()
    assert again.unlocked
    close(again)


def test_the_live_window_menu_opens_enrollment_and_the_manager_behind_the_pin(qtbot, tmp_path, gallery):
    AdminPin(gallery, PinPolicy(scrypt_n=2**10)).set_pin("813572")  # the cost is stored with the hash
    window = open_window(qtbot, tmp_path, gallery, lambda: ScriptedSource())
    window.open_enrollment()
    window.open_gallery_manager()
    dialog = next(w for w in window.child_windows if type(w).__name__ == "EnrollmentDialog")
    manager = next(w for w in window.child_windows if type(w).__name__ == "GalleryManager")
    assert not dialog.unlocked and not manager.unlocked
    assert dialog.worker is window.worker and manager.worker is window.worker
    for gate in (dialog.pin_gate, manager.pin_gate):
        for key in (*"813572", "OK"):
            gate.pad.press(key)
    assert dialog.unlocked and manager.unlocked
    window.close()  # closes its child windows and stops the worker
    assert not dialog.isVisible() and not manager.isVisible()


def test_the_modal_pin_dialog_for_kiosk_mode(qtbot, gallery):
    from ui.pin_dialog import PinDialog

    pin = AdminPin(gallery, PinPolicy(scrypt_n=2**10))
    pin.set_pin("813572")
    dialog = PinDialog(pin, "leave kiosk mode")
    qtbot.addWidget(dialog)
    assert dialog.gate.message.text() == "Enter the admin PIN to leave kiosk mode."
    for key in (*"813571", "OK"):
        dialog.gate.pad.press(key)
    assert dialog.result() != dialog.DialogCode.Accepted
    for key in (*"813572", "OK"):
        dialog.gate.pad.press(key)
    assert dialog.result() == dialog.DialogCode.Accepted


def test_a_private_pipeline_is_released_even_when_closed_mid_job():
    """close() waits for the running job, cancels the queued ones and lets the models go."""
    import gc
    import time
    import weakref

    from ui.jobs import PipelineThread

    class Fake:
        pass

    made = [Fake()]
    released = weakref.ref(made[0])
    runner = PipelineThread(Config(), factory=lambda cfg: made[0])

    def busy(pipeline):
        while not runner.closing:  # still running when close() starts
            time.sleep(0.005)
        return pipeline

    running = runner.run_on_worker(busy)
    queued = runner.run_on_worker(lambda p: "never")
    runner.close()
    assert running.result(timeout=5) is made[0]
    assert queued.cancelled()
    made.clear()
    del running
    gc.collect()
    assert released() is None  # the runner holds the pipeline no more
    late = runner.run_on_worker(lambda p: 1)
    with pytest.raises(KioskError, match="this window is closing"):
        late.result(timeout=5)
