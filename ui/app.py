"""`face-kiosk gui`: the QApplication, the config, the gallery and the main window."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kiosk.errors import KioskError

log = logging.getLogger(__name__)


def make_application():
    """The QApplication (created once). OpenCV is the headless build: importing cv2 first
    brings no Qt plugins of its own (tests/test_startup.py)."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from kiosk.resources import resource_path

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("face-kiosk")
    app.setOrganizationName("face-kiosk")
    # The .desktop file's StartupWMClass matches this on Linux.
    app.setDesktopFileName("face-kiosk")
    icon = resource_path("icons", "face-kiosk.png")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def run_app(args: argparse.Namespace) -> int:
    """Start the desktop app on `--source` (default: the configured camera); returns the exit code."""
    # The rules the CLI follows too, so the GUI reads --config/--db/--embedder exactly as it does.
    from kiosk.config import config_from_args
    from kiosk.recognition.preload import ModelPreload

    every_frame = bool(getattr(args, "every_frame", False))
    try:
        config, problem = config_from_args(args), None
        source = args.source if getattr(args, "source", None) else config.camera.source
        if every_frame:
            from kiosk.capture.sources import make_source

            if make_source(source).live:
                raise KioskError("--every-frame replays a video file or a folder; a camera or a stream cannot wait")
    except KioskError as exc:  # said in a message box once there is an application
        config, problem = None, exc
    # The models start loading on threads before Qt is imported and the window is built
    # (kiosk.recognition.preload): the window comes up meanwhile, with its "loading" banner.
    models = ModelPreload(config) if config is not None else None

    from kiosk.gallery.target import open_target_gallery

    app = make_application()
    from PySide6.QtWidgets import QMessageBox

    from ui.main_window import MainWindow

    try:
        if problem is not None:
            raise problem
        assert config is not None
        # The main window purges expired people at start and then daily (RetentionSchedule).
        gallery = open_target_gallery(args, config, actor="gui", create=True, listen=True, purge=False)
    except KioskError as exc:
        QMessageBox.critical(None, "face-kiosk", str(exc))
        if models is not None:
            models.close()
        raise
    config_path = Path(args.config) if getattr(args, "config", None) else None
    window = MainWindow(config, gallery, source, config_path=config_path, models=models, lockstep=every_frame)
    try:
        window.start()
        if getattr(args, "kiosk", False):
            window.enter_kiosk_mode()
        else:
            window.show()
        from PySide6.QtCore import QTimer

        from kiosk.diagnostics.startup import process_age_s

        # Logged from the event loop: the window is on screen by then.
        QTimer.singleShot(0, lambda: log.info("window shown %.2f s after start", process_age_s()))
        return int(app.exec())
    finally:
        window.shutdown()
        gallery.close()
        if models is not None:
            models.close()
