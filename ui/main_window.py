"""The main window: live video, a "no camera" panel, menus and a status bar.

The window owns one LiveWorker for its whole life; `closeEvent` stops it and waits for it
(no thread is ever terminated). It also runs the retention purge (kiosk.gallery.retention) at
start and daily, on the gallery writer thread, for itself and the kiosk window it opens. Enrollment, the gallery manager and kiosk mode live in
their own modules and are imported when first opened.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from kiosk.capture.reader import CameraState, CameraStatus
from kiosk.config import Config, save_config
from kiosk.diagnostics.startup import process_age_s
from kiosk.errors import KioskError
from kiosk.events import EventBus
from kiosk.frontdesk import EndOfDaySchedule, FrontDesk
from kiosk.gallery.api import GalleryStore
from kiosk.gallery.retention import CHECK_EVERY_S, RetentionSchedule
from kiosk.recognition.preload import ModelPreload
from kiosk.recognition.tracking import Arrival
from ui.about_dialog import AboutDialog
from ui.jobs import gallery_writer
from ui.no_camera_panel import DEVICE_CHOICES, NoCameraPanel
from ui.settings_dialog import SettingsDialog
from ui.video_widget import VideoWidget
from ui.worker import LiveWorker, SourceSpec, describe_source

log = logging.getLogger(__name__)

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mkv *.mov *.webm *.gif *.m4v *.mpg *.mpeg);;All files (*)"
STATUS_INTERVAL_MS = 500
STATUS_MESSAGE_MS = 15_000
EVENTS_CLOSE_S = 3.0  # at shutdown: how long queued events may still take


def _load_optional(module: str, name: str):
    """`module.name`, or None when that part of the app is not installed in this build."""
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # the module exists but something it needs is missing: a real bug
            raise
        return None


class MainWindow(QMainWindow):
    """Live recognition window. Call `start()` after construction; closing stops the worker."""

    source_changed = Signal(str)

    def __init__(
        self,
        config: Config,
        gallery: GalleryStore,
        source: SourceSpec | None,
        *,
        config_path: Path | None = None,
        worker: LiveWorker | None = None,
        models: ModelPreload | None = None,
        lockstep: bool = False,
        today: Callable[[], dt.date] = dt.date.today,
        parent: QWidget | None = None,
    ) -> None:
        """`lockstep=True` replays files frame by frame at their own time (`gui --every-frame`;
        see ui.worker.LiveWorker), so what the window and kiosk mode decide does not depend on
        how fast this PC analyses frames. `models`: the models loading since the app started
        (kiosk.recognition.preload), for the worker."""
        super().__init__(parent)
        self.setWindowTitle("face-kiosk")
        self.resize(960, 640)
        self.config = config
        self.gallery = gallery
        self.config_path = config_path
        self.worker = worker or LiveWorker(config, gallery, source, models=models, lockstep=lockstep, parent=self)
        # The one thread the dialogs write the gallery from (ui.jobs).
        self.gallery_writer = gallery_writer()
        self._child_windows: list[QWidget] = []
        self._shut_down = False
        # Webhooks, MQTT and notifications (config.events): started with the window, fed by
        # kiosk mode with the same events `face-kiosk watch` sends.
        self.events: EventBus | None = None
        self.failure_box: QMessageBox | None = None

        self.video = VideoWidget(self)
        self.no_camera = NoCameraPanel(self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.video)
        self.stack.addWidget(self.no_camera)
        self.setCentralWidget(self.stack)

        self._build_status_bar()
        self._build_menus()
        self.no_camera.open_file_requested.connect(self.open_video_file)
        self.no_camera.open_folder_requested.connect(self.open_image_folder)
        self.no_camera.open_stream_requested.connect(self.open_stream_url)
        self.no_camera.device_requested.connect(self.open_device)

        self.worker.camera_status.connect(self._on_camera_status)
        self.worker.failed.connect(self._on_worker_failed)
        self.worker.models_ready.connect(self._on_models_ready)
        self._first_result_seen = False
        self.worker.result_ready.connect(self._on_first_result)
        self.video.set_models_loading(True)
        self.worker.person_arrived.connect(self._on_arrival)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self.refresh_status)
        # Retention: people past their date and old visits go at start and then daily.
        self.retention = RetentionSchedule(gallery, config.privacy, today=today)
        # The end-of-day sign-out (kiosk.frontdesk) runs with it, on the same timer and thread.
        self.end_of_day = EndOfDaySchedule(FrontDesk(gallery, config))
        self._retention_timer = QTimer(self)
        self._retention_timer.setInterval(int(CHECK_EVERY_S * 1000))
        self._retention_timer.timeout.connect(self.run_retention)
        self._camera_label.setText(f"camera: {describe_source(source)}")

    @property
    def child_windows(self) -> list[QWidget]:
        """The windows opened from this one and still open (enrollment, the manager, ...)."""
        return list(self._child_windows)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker and the display timers."""
        self.video.set_provider(self.worker)
        self.run_retention()
        self.worker.start()
        self._status_timer.start()
        self._start_events()
        self._retention_timer.start()

    def run_retention(self):
        """Purge what the retention rule says must go, if not done today, and sign out the visits
        left open at the end of the day (on the writer thread); the Future of the purge
        (kiosk.gallery.retention.Purged | None)."""
        self.gallery_writer.submit(self.end_of_day.run_if_due)
        return self.gallery_writer.submit(self.retention.run_if_due)

    def _start_events(self) -> None:
        """The event bus of config.events; a setup problem is shown, never fatal."""
        if self.events is not None:
            self.events.close(timeout=EVENTS_CLOSE_S)
            self.events = None
        try:
            self.events = EventBus.from_config(self.config.events, directory=self.gallery)
        except KioskError as exc:
            log.warning("events are off: %s", exc)
            self.statusBar().showMessage(f"Events are off: {exc}", STATUS_MESSAGE_MS)

    def shutdown(self) -> None:
        """Stop the display and the worker, and wait for the worker (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self._status_timer.stop()
        self._retention_timer.stop()
        self.video.set_provider(None)
        for child in list(self._child_windows):
            if getattr(child, "locked", False):
                setattr(child, "locked", False)  # noqa: B010 - the app is closing: a locked kiosk window goes too
            child.close()
        self.worker.stop()
        self.worker.wait()
        self.gallery_writer.shutdown(wait=True)  # the writes already asked for complete
        if self.events is not None:
            self.events.close(timeout=EVENTS_CLOSE_S)  # queued events get a last chance
            self.events = None

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    # -- status -----------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self._camera_label = QLabel("camera: -")
        self._fps_label = QLabel("display - fps")
        self._recognition_label = QLabel("analysis -")
        self._dropped_label = QLabel("dropped 0")
        self._gallery_label = QLabel("gallery -")
        self._model_label = QLabel("model: loading…")
        for label in (self._camera_label, self._fps_label, self._recognition_label, self._dropped_label,
                      self._gallery_label, self._model_label):
            bar.addPermanentWidget(label)

    def refresh_status(self) -> None:
        """Update the status bar from the worker's and the display's counters."""
        stats = self.worker.stats()
        cam = stats.camera
        self._camera_label.setText(f"camera: {cam.description} ({cam.state.value})")
        self._fps_label.setText(f"display {self.video.display_fps():.1f} fps")
        self._recognition_label.setText(
            f"analysis {stats.processed_fps:.1f} fps, {stats.recognitions_per_s:.1f} recognitions/s")
        self._dropped_label.setText(f"dropped {stats.dropped}")
        self._gallery_label.setText(f"gallery {stats.gallery_people} people")
        if stats.models_ready:
            model = " + ".join(v.split("@")[0] for v in stats.model_version.split("+"))
            self._model_label.setText(f"model: {self.config.vision.detector} / {model}")
        if stats.warning:
            self.statusBar().showMessage(stats.warning, 5000)

    def _on_camera_status(self, status: CameraStatus) -> None:
        self.video.set_camera_status(status)
        if status.state is CameraState.NO_CAMERA:
            self.no_camera.set_status(status)
            self.stack.setCurrentWidget(self.no_camera)
        elif status.state is CameraState.LIVE:
            self.stack.setCurrentWidget(self.video)
        self._camera_label.setText(f"camera: {status.description} ({status.state.value})")

    def _on_first_result(self, result) -> None:
        # Start-up time: packaging/README.md measures double-click to this line under Xvfb.
        # Two results may be queued before the first reaches this thread: one line, one disconnect.
        if self._first_result_seen:
            return
        self._first_result_seen = True
        self.worker.result_ready.disconnect(self._on_first_result)
        log.info("first frame analysed %.2f s after start (%.2f s of CPU)", process_age_s(), time.process_time())

    def _on_worker_failed(self, message: str) -> None:
        self.video.set_models_loading(False)
        self._model_label.setText("model: not loaded")
        # Not modal-blocking: the video keeps running behind it, and a kiosk never waits on a click.
        box = QMessageBox(QMessageBox.Icon.Warning, "Recognition unavailable",
                          f"{message}\n\nThe video keeps running, but nobody is recognised.",
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.failure_box = box

    def _on_models_ready(self, version: str) -> None:
        self.video.set_models_loading(False)
        self.refresh_status()

    def _on_arrival(self, arrival: Arrival) -> None:
        who = arrival.name if arrival.known else "unknown visitor"
        self.statusBar().showMessage(f"arrived: {who}", 4000)
        log.info("arrival: track %d, %s (score %.2f)", arrival.track_id, who, arrival.score)

    # -- sources --------------------------------------------------------------------------

    def set_source(self, source: SourceSpec) -> None:
        """Switch the live view to another source."""
        self.stack.setCurrentWidget(self.video)
        self.worker.set_source(source)
        self._camera_label.setText(f"camera: {describe_source(source)} (connecting)")
        if isinstance(source, str):
            self.source_changed.emit(source)

    def open_video_file(self) -> None:
        """Ask for a video file and play it (looped)."""
        path, _ = QFileDialog.getOpenFileName(self, "Open video", "", VIDEO_FILTER)
        if path:
            self.set_source(path)

    def open_image_folder(self) -> None:
        """Ask for a folder of photos and show them as a slideshow."""
        path = QFileDialog.getExistingDirectory(self, "Open image folder")
        if path:
            self.set_source(path)

    def open_device(self, index: int) -> None:
        """Use webcam `index`."""
        self.set_source(str(int(index)))

    def open_stream_url(self) -> None:
        """Ask for an RTSP/HTTP stream URL."""
        url, ok = QInputDialog.getText(self, "Open stream", "Stream URL (rtsp://, http://, …):")
        if ok and url.strip():
            self.set_source(url.strip())

    # -- other windows ----------------------------------------------------------------------

    def _show_child(self, widget: QWidget) -> None:
        self._child_windows.append(widget)
        widget.destroyed.connect(lambda *_: self._child_windows.remove(widget)
                                 if widget in self._child_windows else None)
        widget.show()

    def _missing(self, what: str) -> None:
        QMessageBox.information(self, what, f"{what} is not part of this build of face-kiosk.")

    def open_enrollment(self) -> None:
        """Open `ui.enrollment_dialog.EnrollmentDialog(worker, gallery, config, parent, writer)`."""
        cls = _load_optional("ui.enrollment_dialog", "EnrollmentDialog")
        if cls is None:
            self._missing("Enrollment")
            return
        self._show_child(cls(self.worker, self.gallery, self.config, parent=self, writer=self.gallery_writer))

    def open_gallery_manager(self) -> None:
        """Open `ui.gallery_manager.GalleryManager(gallery, config, parent, worker, writer)`."""
        cls = _load_optional("ui.gallery_manager", "GalleryManager")
        if cls is None:
            self._missing("The gallery manager")
            return
        self._show_child(cls(self.gallery, self.config, parent=self, worker=self.worker,
                             writer=self.gallery_writer))

    def open_visits(self) -> None:
        """Open `ui.receptionist_view.ReceptionistView(gallery, config, parent)`: the visit log."""
        cls = _load_optional("ui.receptionist_view", "ReceptionistView")
        if cls is None:
            self._missing("The visit log")
            return
        self._show_child(cls(self.gallery, self.config, parent=self))

    def enter_kiosk_mode(self) -> None:
        """Open `ui.kiosk_mode.KioskWindow(worker, gallery, config)` full screen.

        The kiosk window shares this window's worker (one camera, one set of models) and must
        not stop it; this window hides until the kiosk window is closed.
        """
        cls = _load_optional("ui.kiosk_mode", "KioskWindow")
        if cls is None:
            self._missing("Kiosk mode")
            self.show()
            return
        kiosk = cls(self.worker, self.gallery, self.config,
                    publish=self.events.publish if self.events is not None else None)
        self._child_windows.append(kiosk)
        kiosk.installEventFilter(self)
        self.hide()
        kiosk.showFullScreen()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if (event.type() == QEvent.Type.Close and watched in self._child_windows and not self._shut_down
                and not getattr(watched, "locked", False)):
            # Leaving kiosk mode (or closing a tool window) brings the live window back; a
            # locked kiosk ignores the close request, so this window stays hidden.
            self._child_windows.remove(watched)
            self.show()
        return super().eventFilter(watched, event)

    def open_settings(self) -> None:
        """Edit the settings; valid changes are saved and applied to the running worker."""
        dialog = SettingsDialog(self.config, self)
        if not dialog.exec():
            return
        new = dialog.result_config()
        if new is None or new == self.config:
            return
        old, self.config = self.config, new
        self.retention.privacy = new.privacy
        self.end_of_day.desk.config = new
        try:
            save_config(new, self.config_path)
        except (OSError, KioskError) as exc:
            QMessageBox.warning(self, "Settings", f"The settings apply now but could not be saved: {exc}")
        self.worker.apply_config(new)
        if new.events != old.events:
            self._start_events()
        if new.camera != old.camera:
            self.set_source(new.camera.source)

    def open_about(self) -> None:
        """Version and licences."""
        AboutDialog(self.worker.stats().model_version, self).exec()

    # -- menus ------------------------------------------------------------------------------

    def _action(self, text: str, slot: Callable[[], object],
                shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(lambda checked=False: slot())
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self._action("Open &video file…", self.open_video_file, QKeySequence.StandardKey.Open))
        file_menu.addAction(self._action("Open image &folder…", self.open_image_folder))
        camera_menu = file_menu.addMenu("&Camera")
        for index in DEVICE_CHOICES:
            camera_menu.addAction(self._action(f"Camera {index}", functools.partial(self.open_device, index)))
        file_menu.addAction(self._action("Open &stream URL…", self.open_stream_url))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        people = bar.addMenu("&People")
        people.addAction(self._action("&Enroll a person…", self.open_enrollment, "Ctrl+E"))
        people.addAction(self._action("&Gallery manager…", self.open_gallery_manager, "Ctrl+G"))

        view = bar.addMenu("&View")
        view.addAction(self._action("&Kiosk mode", self.enter_kiosk_mode, "F11"))
        view.addAction(self._action("&Visits (receptionist)…", self.open_visits, "Ctrl+R"))
        hints = QAction("Quality &hints", self, checkable=True, checked=True)
        hints.toggled.connect(lambda on: setattr(self.video, "show_hints", on))
        view.addAction(hints)

        settings = bar.addMenu("&Settings")
        settings.addAction(self._action("&Preferences…", self.open_settings, QKeySequence.StandardKey.Preferences))

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&About face-kiosk", self.open_about))
