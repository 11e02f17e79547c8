"""The live window on offscreen Qt: overlays, names, reconnects, "no camera", clean shutdown.

Clips come from ../shared/data/video (skipped without it); failures are scripted sources.
Clips play in lockstep (live_helpers.open_live_window): every frame analysed in order at the
clip's own time, so a busy machine changes only how long a test takes. Waits poll
(qtbot.waitUntil) rather than waitSignal; nothing asserts a duration.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import shared
from live_helpers import (
    HANG_GUARD_MS,
    ScriptedSource,
    clip_frames,
    enroll_from_frames,
    open_live_window,
)

from kiosk.capture.reader import CameraState
from kiosk.config import Config, load_config
from kiosk.errors import KioskError
from kiosk.gallery import Gallery
from kiosk.models import MODELS

pytest_plugins = ["live_fixtures"]
pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("no_dangling_threads")]

WAIT_MS = HANG_GUARD_MS


@pytest.fixture
def gallery(tmp_path):
    with Gallery(tmp_path / "gallery.db") as g:
        yield g


def open_window(qtbot, tmp_path, gallery, source, **kwargs):
    return open_live_window(qtbot, tmp_path, gallery, source, **kwargs)


def record_paints(window) -> list:
    paints: list = []
    window.video.frame_painted.connect(paints.append)
    return paints


def colour_pixels(widget, colour) -> int:
    """How many pixels of the widget's rendering have exactly this colour."""
    image = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888)
    ptr = image.constBits()
    arr = np.frombuffer(ptr, np.uint8, image.sizeInBytes()).reshape(image.height(), image.bytesPerLine())
    rgb = arr[:, : image.width() * 3].reshape(image.height(), image.width(), 3)
    return int(np.all(rgb == (colour.red(), colour.green(), colour.blue()), axis=2).sum())


@pytest.mark.data
def test_overlays_appear_for_the_faces_in_the_clip(qtbot, tmp_path, gallery):
    from ui import video_widget as vw

    window = open_window(qtbot, tmp_path, gallery, str(shared("video", "head-pose-face-detection-female-and-male.gif")))
    paints = record_paints(window)
    qtbot.waitUntil(lambda: any(p.boxes == 2 for p in paints), timeout=WAIT_MS)
    result = window.video.current_result
    assert result is not None and len(result.faces) == 2
    assert len({f.track_id for f in result.faces}) == 2  # two people, two tracks
    drawn = sum(colour_pixels(window.video, c) for c in (vw.KNOWN, vw.UNKNOWN, vw.MASKED, vw.PENDING))
    assert drawn > 200  # two box outlines and their name tags are on screen
    window.refresh_status()
    assert "fps" in window._fps_label.text() and "gallery 0 people" in window._gallery_label.text()
    window.close()
    assert window.worker.isFinished()


@pytest.mark.data
def test_an_enrolled_person_is_named(qtbot, tmp_path, gallery, pipeline):
    from ui.video_widget import KNOWN

    clip = shared("video", "head-pose-face-detection-female.gif")
    enroll_from_frames(pipeline, gallery, "Demo person", clip_frames(clip, [2, 10, 18]))
    window = open_window(qtbot, tmp_path, gallery, str(clip), start=False)
    arrivals: list = []
    window.worker.person_arrived.connect(arrivals.append)
    paints = record_paints(window)
    window.start()
    qtbot.waitUntil(lambda: any(p.names == ("Demo person",) for p in paints), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.video.current_result is not None
                    and bool(window.video.current_result.named), timeout=WAIT_MS)
    assert colour_pixels(window.video, KNOWN) > 100  # the green "known" box is drawn
    assert arrivals and arrivals[0].name == "Demo person"
    window.refresh_status()
    assert "gallery 1 people" in window._gallery_label.text()
    assert "sface" in window._model_label.text()
    window.close()


@pytest.mark.data
def test_someone_enrolled_while_the_window_runs_is_named_without_restart(qtbot, tmp_path, gallery, pipeline):
    clip = shared("video", "head-pose-face-detection-female.gif")
    window = open_window(qtbot, tmp_path, gallery, str(clip))
    paints = record_paints(window)
    qtbot.waitUntil(lambda: window.video.current_result is not None
                    and any(f.identity.settled for f in window.video.current_result.faces), timeout=WAIT_MS)
    assert not any(p.names for p in paints)
    enroll_from_frames(pipeline, gallery, "New face", clip_frames(clip, [2, 18]))
    qtbot.waitUntil(lambda: any(p.names == ("New face",) for p in paints), timeout=WAIT_MS)
    window.close()


def test_the_worker_stops_cleanly_on_close(qtbot, tmp_path, gallery):
    log: dict = {}
    # The camera's path (real time, newest frame wins): what is checked does not depend on it.
    window = open_window(qtbot, tmp_path, gallery, lambda: ScriptedSource(log=log), lockstep=False)
    qtbot.waitUntil(lambda: window.worker.stats().models_ready, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.video.frames_painted > 3, timeout=WAIT_MS)
    future = window.worker.run_on_worker(lambda p: p.model_version)
    qtbot.waitUntil(future.done, timeout=WAIT_MS)
    assert future.result() == window.worker.stats().model_version
    switched: dict = {}
    window.worker.set_source(lambda: ScriptedSource(log=switched))  # racing the close
    window.close()
    assert window.worker.isFinished() and not window.worker.isRunning()
    assert log["closes"] == log["opens"] == 1  # the reader released the source
    assert switched.get("opens", 0) == switched.get("closes", 0)
    late = window.worker.run_on_worker(lambda p: 1)
    with pytest.raises(KioskError):
        late.result(timeout=5)


def test_a_source_that_fails_mid_stream_reconnects(qtbot, tmp_path, gallery):
    log: dict = {}
    window = open_window(qtbot, tmp_path, gallery, lambda: ScriptedSource(fail_after=10, log=log),
                         lockstep=False, start=False)
    states: list = []
    banners: list = []

    def on_status(status):
        states.append(status.state)
        banners.append(window.video.status_text())

    window.worker.camera_status.connect(on_status)  # before the start: the loss is never missed
    window.start()
    qtbot.waitUntil(lambda: CameraState.LOST in states, timeout=WAIT_MS)
    lost_at = states.index(CameraState.LOST)
    assert banners[lost_at].startswith("Camera lost: unplugged")
    assert "reconnecting in" in banners[lost_at]
    qtbot.waitUntil(lambda: CameraState.LIVE in states[lost_at:], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.worker.latest_frame().frame_id > 15, timeout=WAIT_MS)
    assert log["opens"] == 2
    assert window.stack.currentWidget() is window.video
    window.close()


@pytest.mark.data
def test_no_camera_shows_a_panel_and_offers_a_file(qtbot, tmp_path, gallery, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = open_window(qtbot, tmp_path, gallery, lambda: ScriptedSource(fail_open=True), start=False)
    # What the window was told, in order (its own slot runs first): the worker's `camera` is
    # set on the reader's thread before the window hears of it, so the test waits for the window.
    told: list = []
    window.worker.camera_status.connect(lambda status: told.append((status.state, status.description)))
    window.start()
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.no_camera, timeout=WAIT_MS)
    assert "no such device" in window.no_camera.message.text()
    clip = str(shared("video", "head-pose-face-detection-male.gif"))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (clip, "")))
    window.no_camera.file_button.click()
    qtbot.waitUntil(lambda: (CameraState.LIVE, "head-pose-face-detection-male.gif") in told, timeout=WAIT_MS)
    assert window.stack.currentWidget() is window.video
    assert window.worker.camera.description == "head-pose-face-detection-male.gif"
    # Another device from the panel's picker: there is no camera 4 here, so "no camera" again.
    window.no_camera.device_combo.setCurrentIndex(4)
    window.no_camera.device_button.click()
    qtbot.waitUntil(lambda: (CameraState.NO_CAMERA, "camera 4") in told, timeout=WAIT_MS)
    assert window.stack.currentWidget() is window.no_camera
    window.close()


def test_settings_are_validated_saved_and_applied(qtbot, tmp_path, gallery, monkeypatch):
    from ui import main_window
    from ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Config())
    qtbot.addWidget(dialog)
    dialog.min_face.setValue(5)
    dialog.accept()
    assert dialog.result_config() is None and "min_face_px" in dialog.error.text()
    dialog.min_face.setValue(60)
    dialog.threshold_masked.auto.setChecked(False)
    dialog.threshold_masked.spin.setValue(0.41)
    dialog.embedder.setCurrentText("sface+mbf")
    assert not dialog.licence_note.isHidden()
    dialog.embedder.setCurrentText("sface")
    dialog.accept()
    new = dialog.result_config()
    assert new.vision.min_face_px == 60 and new.match.threshold_masked == pytest.approx(0.41)
    assert new.match.threshold_unmasked is None and new.kiosk == Config().kiosk

    window = open_window(qtbot, tmp_path, gallery, lambda: ScriptedSource())
    qtbot.waitUntil(lambda: window.worker.stats().models_ready, timeout=WAIT_MS)
    changed = window.config.model_copy(update={"match": window.config.match.model_copy(
        update={"threshold_unmasked": 0.6})})

    class Accepting:
        def __init__(self, config, parent):
            pass

        def exec(self):
            return 1

        def result_config(self):
            return changed

    monkeypatch.setattr(main_window, "SettingsDialog", Accepting)
    window.open_settings()
    assert load_config(tmp_path / "config.json").match.threshold_unmasked == 0.6
    qtbot.waitUntil(lambda: window.worker.config.match.threshold_unmasked == 0.6, timeout=WAIT_MS)
    window.close()


def test_about_lists_every_bundled_model_and_its_licence(qtbot):
    from ui.about_dialog import AboutDialog

    dialog = AboutDialog("sface@dbdd78891353")
    qtbot.addWidget(dialog)
    text = dialog.browser.toPlainText()
    for spec in MODELS.values():
        assert spec.filename in text and spec.licence in text
    assert "non-commercial" in text and "LGPL" in text


def test_menus_and_optional_windows(qtbot, tmp_path, gallery, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from ui import main_window

    assert main_window._load_optional("ui.no_such_window_module", "Nope") is None
    (tmp_path / "broken_window_mod.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):  # a real import error is not hidden as "not in this build"
        main_window._load_optional("broken_window_mod", "Window")
    sys.modules.pop("broken_window_mod", None)

    window = open_window(qtbot, tmp_path, gallery, lambda: ScriptedSource())
    titles = {a.text().replace("&", "") for menu in window.menuBar().actions() for a in menu.menu().actions()}
    for title in ("Open video file…", "Open image folder…", "Open stream URL…", "Enroll a person…",
                  "Gallery manager…", "Kiosk mode", "Preferences…", "About face-kiosk"):
        assert title in titles
    told: list = []
    monkeypatch.setattr(QMessageBox, "information", staticmethod(lambda *a, **k: told.append(a[1])))
    monkeypatch.setattr(main_window, "_load_optional", lambda module, name: None)
    window.enter_kiosk_mode()
    window.open_enrollment()
    window.open_gallery_manager()
    assert told == ["Kiosk mode", "Enrollment", "The gallery manager"]
    assert window.isVisible()
    window.close()


def test_bare_command_is_the_gui_on_the_default_camera(monkeypatch):
    import ui.app
    from ui.launcher import main

    seen: list = []
    monkeypatch.setattr(ui.app, "run_app", lambda args: seen.append(args) or 0)
    assert main([]) == 0
    assert seen[0].command == "gui" and seen[0].source is None and not seen[0].kiosk


@pytest.mark.data
def test_run_app_opens_the_configured_source_and_quits_cleanly(qtbot, tmp_path):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from kiosk.cli import build_parser
    from kiosk.config import save_config
    from ui.app import run_app
    from ui.main_window import MainWindow

    config = Config()
    config.camera.source = str(shared("video", "head-pose-face-detection-male.gif"))
    save_config(config, tmp_path / "config.json")
    seen: list = []

    def close_when_playing() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if windows and windows[0].video.frames_painted > 2:
            seen.append((windows[0].worker.camera.description, windows[0].worker.lockstep))
            windows[0].close()  # the last window: the app quits
        else:
            QTimer.singleShot(50, close_when_playing)

    common = ["--db", str(tmp_path / "g.db"), "--config", str(tmp_path / "config.json")]
    for extra in ([], ["--every-frame"]):
        QTimer.singleShot(50, close_when_playing)
        assert run_app(build_parser().parse_args(["gui", *common, *extra])) == 0
    assert seen == [("head-pose-face-detection-male.gif", False), ("head-pose-face-detection-male.gif", True)]


def test_every_frame_is_refused_for_a_camera(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from kiosk.cli import build_parser
    from ui.app import run_app

    told: list = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda *a, **k: told.append(a[2])))
    args = build_parser().parse_args(["gui", "--db", str(tmp_path / "g.db"), "--source", "0", "--every-frame"])
    with pytest.raises(KioskError, match="a camera or a stream cannot wait"):
        run_app(args)
    assert told and "--every-frame" in told[0]
    assert not (tmp_path / "g.db").exists()  # refused before anything was opened


def test_the_window_says_the_models_are_loading_until_they_are(qtbot, tmp_path, gallery):
    """The window and the camera come first; the models load behind them, and the video says so."""
    from ui.main_window import MainWindow
    from ui.video_widget import MODELS_LOADING

    window = MainWindow(Config(), gallery, lambda: ScriptedSource(), config_path=tmp_path / "config.json")
    qtbot.addWidget(window)
    assert window.video.status_text() == MODELS_LOADING  # shown before any model is loaded
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.video.status_text() == "", timeout=WAIT_MS)
    assert window.worker.stats().models_ready  # the banner went because the models are ready
    window.close()
