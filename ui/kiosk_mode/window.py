"""The fullscreen kiosk window: the screen visitors walk up to.

The window only renders `kiosk.checkin.flow.KioskFlow`'s state: an attract screen, the live
camera with a face guide, a greeting card, the receptionist message (also for a face the
liveness check refused), "please lower your mask", the liveness challenge ("please turn your
head a little"), or "temporarily unavailable". It borrows the main window's LiveWorker (one camera,
one set of models) and never stops it; when the worker fails it is restarted here.

Leaving needs the admin PIN (Escape, or a long press on a screen corner, opens the PIN
pad); window-manager close requests are ignored while the kiosk is locked. Nothing on screen
names anyone but the person being greeted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QGuiApplication,
    QKeyEvent,
    QMouseEvent,
)
from PySide6.QtWidgets import QHBoxLayout, QStackedWidget, QVBoxLayout, QWidget

from kiosk.capture.reader import CameraState, CameraStatus
from kiosk.checkin.flow import KioskState, Screen
from kiosk.checkin.session import KioskSession, MediaClock, Publish
from kiosk.checkin.texts import greeting_for, texts_for
from kiosk.checkin.visits import local_now
from kiosk.config import Config
from kiosk.gallery.api import GalleryStore, Visit
from kiosk.security.audit import AuditAction
from ui.kiosk_mode.camera import KioskCamera
from ui.kiosk_mode.front_desk import KioskFrontDesk, PrintBadge
from ui.kiosk_mode.look import kiosk_font, kiosk_label, load_logo, round_photo, set_page_colours
from ui.kiosk_mode.pin_lock import PinLock
from ui.kiosk_mode.restart import WorkerRestarts

log = logging.getLogger(__name__)

TICK_MS = 200  # timeouts (greeting, idle, camera grace) are checked this often
LONG_PRESS_S = 2.0  # holding a corner this long opens the PIN pad


class KioskWindow(QWidget):
    """The fullscreen, frameless kiosk. `KioskWindow(worker, gallery, config)`; then showFullScreen().

    `flow_clock` (monotonic seconds) and `wall_clock` (aware datetimes) are injectable for
    tests; `unlock(parent) -> bool` asks for the admin PIN (default: `PinLock`, the PIN pad).
    Without a `flow_clock`, a worker that replays a file in lockstep (`worker.lockstep`) gives
    the decisions the frames' own time (kiosk.checkin.session.MediaClock), as `face-kiosk
    watch` does for files; the long press on a corner is always timed on the real clock.
    """

    visit_recorded = Signal(object)  # kiosk.gallery.api.Visit
    state_changed = Signal(object)  # kiosk.checkin.flow.KioskState
    presentation_attack = Signal(object)  # kiosk.checkin.attacks.PresentationAttack (staff only)
    exited = Signal()  # the PIN was right and the window closed

    def __init__(
        self,
        worker,
        gallery: GalleryStore,
        config: Config,
        *,
        flow_clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], dt.datetime] = local_now,
        unlock: Callable[[QWidget], bool] | None = None,
        publish: Publish | None = None,
        print_badge: PrintBadge | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("kioskWindow")
        self.setWindowTitle("face-kiosk")
        self.setWindowFlags(Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint
                            | Qt.WindowType.WindowStaysOnTopHint)
        self.setCursor(Qt.CursorShape.BlankCursor)
        self.worker = worker
        self.gallery = gallery
        self.config = config
        kc = config.kiosk
        self.texts = texts_for(kc)
        self._wall_clock = wall_clock
        self._press_clock = flow_clock or time.monotonic
        self._media_clock = MediaClock() if flow_clock is None and getattr(worker, "lockstep", False) else None
        flow_clock = flow_clock or self._media_clock or time.monotonic
        self._unlock = unlock or PinLock(gallery)
        self.locked = True
        self._closing = False
        self._press_started: float | None = None
        self._unlocking = False
        self.restarts = WorkerRestarts(worker, lambda: self._closing, parent=self)
        self.receptionist: QWidget | None = None

        # The decisions are the shared Qt-free session's (the same as `face-kiosk watch`):
        # this window renders its state; visits reach the receptionist view, events the bus.
        self.session = KioskSession(gallery, config, publish=publish, flow_clock=flow_clock,
                                    wall_clock=wall_clock, on_visit=self.visit_recorded.emit,
                                    on_attack=self.presentation_attack.emit)
        self.flow = self.session.flow
        self.flow.subscribe(self._on_state)
        if print_badge is None and config.badges.print_on_sign_in:
            from ui.badge import BadgePrinter

            print_badge = BadgePrinter(config, gallery, today=lambda: self._wall_clock().date())
        # The visitor's touch screens (sign-in, expected list, leaving) and their language.
        self.front = KioskFrontDesk(worker, gallery, config, QColor(kc.accent_colour), clock=flow_clock,
                                    publish=publish, print_badge=print_badge, parent=self)
        self.front.changed.connect(lambda: self._show(self.flow.state))
        self.front.language_changed.connect(self._set_language)
        self.front.visit_recorded.connect(self.session.signed_in)
        # Left by the Leaving button: coming back in is a new visit, not one inside the cooldown.
        self.front.signed_out.connect(self.session.checkins.forget)
        self.front.visit_recorded.connect(self.visit_recorded.emit)

        self._accent = QColor(kc.accent_colour)
        self._bg = QColor(kc.background_colour)
        self._fg = QColor(kc.text_colour)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(f"#kioskWindow {{ background: {kc.background_colour}; }}"
                           f" QLabel[kiosk=\"true\"] {{ color: {kc.text_colour}; background: transparent; }}")

        self._build_pages()
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(TICK_MS)
        self._tick_timer.timeout.connect(self._tick)
        self._tick_timer.start()

        worker.result_ready.connect(self._on_result)
        worker.camera_status.connect(self._on_camera_status)
        worker.failed.connect(self._on_worker_failed)
        worker.finished.connect(self._on_worker_finished)
        self.camera.set_provider(worker)
        app = QCoreApplication.instance()
        if app is not None:
            # The app itself is quitting (session end, a signal): let go, do not fight it.
            app.aboutToQuit.connect(self._on_app_quit)
        status = getattr(worker, "camera", None)
        if status is not None:
            self._on_camera_status(status)
        self.receptionist = self._open_receptionist_view(kc.receptionist_screen)
        ensure = getattr(self._unlock, "ensure", None)
        if ensure is not None and not ensure(None):
            # No admin PIN and none was chosen: run, but unlocked (Escape leaves at once).
            log.warning("kiosk: no admin PIN is set; kiosk mode is NOT locked")
            self.locked = False
        self._show(self.flow.state)

    def _open_receptionist_view(self, index: int | None) -> QWidget | None:
        """The visit log on a staff-only screen, when the config names one that exists."""
        if index is None:
            return None
        screens = QGuiApplication.screens()
        if index >= len(screens):
            log.warning("kiosk: no screen %d for the visit log (%d screen(s))", index, len(screens))
            return None
        from ui.receptionist_view import ReceptionistView

        view = ReceptionistView(self.gallery, self.config, parent=self,
                                today=lambda: self._wall_clock().date())
        self.visit_recorded.connect(view.add_visit)
        self.presentation_attack.connect(view.add_attack)
        view.setGeometry(screens[index].availableGeometry())
        view.showMaximized()
        return view

    # -- pages ------------------------------------------------------------------------------

    def _build_pages(self) -> None:
        self.stack = QStackedWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.front.start_bar)

        # Attract: logo, the invitation, the time.
        self.attract_page = QWidget()
        self.logo = kiosk_label()
        self.logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._logo_pixmap = load_logo(self.config.kiosk.logo)
        self.attract_label = kiosk_label(self.texts.attract, bold=True)
        self.clock_label = kiosk_label("")
        col = QVBoxLayout(self.attract_page)
        col.addStretch(2)
        col.addWidget(self.logo)
        col.addStretch(1)
        col.addWidget(self.attract_label)
        col.addStretch(2)
        col.addWidget(self.clock_label)
        col.addStretch(1)

        # Camera: the live picture with a guide, and one instruction below it.
        self.camera_page = QWidget()
        self.camera = KioskCamera(self._accent)
        self.camera_label = kiosk_label(self.texts.approach, bold=True)
        self.camera_label.setObjectName("cameraLabel")
        col = QVBoxLayout(self.camera_page)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.camera, 1)
        col.addWidget(self.camera_label)

        # Greeting card: photo, "Welcome, name!", the time.
        self.greeting_page = QWidget()
        self.greeting_page.setObjectName("greetingPage")
        self.photo = kiosk_label()
        self.photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.greeting_label = kiosk_label("", bold=True)
        self.greeting_time = kiosk_label("")
        card = QVBoxLayout(self.greeting_page)
        card.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.photo)
        row.addStretch(1)
        card.addLayout(row)
        card.addSpacing(24)
        card.addWidget(self.greeting_label)
        card.addWidget(self.greeting_time)
        card.addStretch(1)

        # Messages: the receptionist, the camera being away.
        self.message_page = QWidget()
        self.message_page.setObjectName("messagePage")
        self.message_label = kiosk_label("", bold=True)
        self.message_detail = kiosk_label("")
        col = QVBoxLayout(self.message_page)
        col.addStretch(1)
        col.addWidget(self.message_label)
        col.addSpacing(24)
        col.addWidget(self.message_detail)
        col.addStretch(1)

        for page in (self.attract_page, self.camera_page, self.greeting_page, self.message_page, self.front.panel):
            self.stack.addWidget(page)
        self._apply_fonts()

    def _apply_fonts(self) -> None:
        """Type scales with the screen: the headline is ~1/11 of the height (~9 cm on a 24" screen)."""
        h = max(300, self.height())
        big, medium, small = h // 11, h // 17, h // 24
        for label in (self.attract_label, self.greeting_label, self.message_label):
            label.setFont(kiosk_font(big, bold=True))
        self.camera_label.setFont(kiosk_font(medium, bold=True))
        for label in (self.clock_label, self.greeting_time, self.message_detail):
            label.setFont(kiosk_font(small))
        self.camera_label.setContentsMargins(16, h // 40, 16, h // 40)
        if self._logo_pixmap is not None:
            self.logo.setPixmap(self._logo_pixmap.scaled(
                int(self.width() * 0.5), int(h * 0.22), Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))
        self._photo_px = int(h * 0.34)
        self.front.scale(h)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self.windowState() & Qt.WindowState.WindowFullScreen and self.screen() is not None:
            # Without a window manager (a bare X session on a kiosk PC) nobody else resizes us.
            self.setGeometry(self.screen().geometry())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._apply_fonts()
        self._show(self.flow.state)

    # -- rendering ----------------------------------------------------------------------------

    def _on_state(self, state: KioskState) -> None:
        self._show(state)
        self.state_changed.emit(state)

    def _show(self, state: KioskState) -> None:
        """Show the screen for `state` (the only place that decides what is on screen)."""
        texts = self.texts
        screen = state.screen
        self.front.start_bar.setVisible(not self.front.busy and screen is not Screen.UNAVAILABLE)
        if self.front.busy:
            self.stack.setCurrentWidget(self.front.panel)
            return
        if screen is Screen.ATTRACT:
            self.attract_label.setText(texts.attract)
            self._update_clock()
            self.stack.setCurrentWidget(self.attract_page)
        elif screen in (Screen.APPROACHING, Screen.LOWER_MASK, Screen.CHALLENGE):
            lower = screen is not Screen.APPROACHING  # a request: lower the mask, turn the head, blink
            self.camera_label.setText(texts.lower_mask if screen is Screen.LOWER_MASK else
                                      texts.challenge(state.challenge) if lower else texts.approach)
            # Amber with black text for "lower your mask": it must stand out from the blue guide.
            bar_bg = QColor("#ffb000") if lower else self._accent
            bar_fg = QColor("#000000") if lower else QColor("#ffffff")
            set_page_colours(self.camera_label, bar_bg, bar_fg)
            self.camera.guide_colour = bar_bg
            self.camera.update()
            self.stack.setCurrentWidget(self.camera_page)
        elif screen is Screen.GREETING:
            self.greeting_label.setText(greeting_for(texts.greeting, state.name or ""))
            self.greeting_time.setText(self._wall_clock().strftime("%H:%M"))
            self._show_photo(state.person_id)
            set_page_colours(self.greeting_page, self._accent, QColor("#ffffff"))
            self.stack.setCurrentWidget(self.greeting_page)
        elif screen in (Screen.UNKNOWN, Screen.REFUSED):
            self.message_label.setText(texts.unknown if screen is Screen.UNKNOWN else texts.refused)
            self.message_detail.setText("")
            set_page_colours(self.message_page, QColor("#ffffff"), QColor("#000000"))
            self.stack.setCurrentWidget(self.message_page)
        elif screen is Screen.UNAVAILABLE:
            self.message_label.setText(texts.unavailable)
            self.message_detail.setText(texts.unavailable_detail)
            set_page_colours(self.message_page, self._bg, self._fg)
            self.stack.setCurrentWidget(self.message_page)

    def _set_language(self, code: str) -> None:
        """The visitor's language (their tap, or the kiosk's own again once they left)."""
        self.texts = texts_for(self.config.kiosk, code)
        self._show(self.flow.state)

    def _show_photo(self, person_id: int | None) -> None:
        self.photo.clear()
        self.photo.setVisible(False)
        if person_id is None or not self.config.kiosk.show_photo:
            return
        try:
            rgb = self.gallery.thumbnail(person_id)
        except Exception:  # a damaged sample must not stop the greeting
            log.exception("no photo for person %s", person_id)
            return
        if rgb is None:
            return
        self.photo.setPixmap(round_photo(rgb, self._photo_px))
        self.photo.setVisible(True)

    def _update_clock(self) -> None:
        self.clock_label.setText(self._wall_clock().strftime("%H:%M"))

    # -- the session's visit log (tests and the staff screen use these) ------------------------------

    def checkin(self, person_id: int, score: float | None, masked: bool) -> Visit | None:
        """Log a recognised person (once per cooldown); the receptionist view hears of it."""
        return self.session.checkin(person_id, score, masked)

    def unknown(self, track_id: object, score: float | None, masked: bool) -> Visit | None:
        """Log an unknown visitor (once per track); the receptionist view hears of it."""
        return self.session.unknown(track_id, score, masked)

    # -- worker ---------------------------------------------------------------------------------

    def _on_result(self, result) -> None:
        if self._closing:
            return
        self.restarts.healthy()  # results flow: the worker is healthy
        if self._media_clock is not None:
            self._media_clock.follow(result.timestamp)
        self.session.observe(result)
        with contextlib.suppress(AttributeError):  # active liveness asks only the visitor the screen faces
            self.worker.set_liveness_focus(self.session.liveness_focus)
        self.front.on_result(result)

    def _on_camera_status(self, status: CameraStatus) -> None:
        if self._closing:
            return
        if status.state is CameraState.LIVE:
            self.flow.source_ok()
        elif status.state in (CameraState.LOST, CameraState.NO_CAMERA, CameraState.ENDED):
            self.flow.source_lost(status.message or status.state.value)

    def _on_worker_failed(self, message: str) -> None:
        if self._closing:
            return
        log.warning("kiosk: recognition failed (%s); restarting it", message)
        self.flow.source_lost(f"recognition: {message}")
        self.restarts.schedule()

    def _on_worker_finished(self) -> None:
        if self._closing or self.restarts.pending:
            return
        log.warning("kiosk: the recognition thread ended; restarting it")
        self.flow.source_lost("recognition stopped")
        self.restarts.schedule()

    @property
    def restart_pending(self) -> bool:
        """True while a restart of the recognition worker is scheduled."""
        return self.restarts.pending

    @property
    def restart_backoff_s(self) -> tuple[float, ...]:
        """Seconds before restart attempt 1, 2, 3, ... (the last value repeats)."""
        return self.restarts.backoff_s

    @restart_backoff_s.setter
    def restart_backoff_s(self, value: tuple[float, ...]) -> None:
        self.restarts.backoff_s = tuple(value)

    def restart_worker(self) -> None:
        """Bring recognition back now (what a scheduled restart does)."""
        self.restarts.restart_now()

    # -- time -------------------------------------------------------------------------------------

    def _tick(self) -> None:
        self.flow.tick()
        self.front.tick(nobody_in_view=self.flow.state.screen is Screen.ATTRACT)
        if self.flow.state.screen is Screen.ATTRACT:
            self._update_clock()
        if (self._press_started is not None
                and self._press_clock() - self._press_started >= LONG_PRESS_S):
            self._press_started = None
            self.request_unlock()

    # -- exit and lock ------------------------------------------------------------------------------

    def _in_corner(self, pos: QPointF) -> bool:
        size = max(60.0, min(self.width(), self.height()) * 0.12)
        near_x = pos.x() <= size or pos.x() >= self.width() - size
        near_y = pos.y() <= size or pos.y() >= self.height() - size
        return near_x and near_y

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton and self._in_corner(event.position()):
            self._press_started = self._press_clock()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._press_started = None
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:
            self.request_unlock()
            return
        event.accept()  # no other key does anything in kiosk mode

    def request_unlock(self) -> bool:
        """Ask for the admin PIN; a right PIN leaves kiosk mode (True)."""
        if not self.locked:
            self.close()
            return True
        if self._unlocking:
            return False
        self._unlocking = True
        try:
            ok = bool(self._unlock(self))
        finally:
            self._unlocking = False
        if ok:
            log.info("kiosk: unlocked with the admin PIN")
            with contextlib.suppress(Exception):  # a full disk must not keep the kiosk locked
                self.gallery.record_event(AuditAction.KIOSK_UNLOCK, "kiosk mode")
            self.locked = False
            self.close()
        return ok

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self.locked:
            # Alt+F4, the window manager's close button or a stray close(): kiosk mode stays.
            log.info("kiosk: close request ignored (locked)")
            event.ignore()
            return
        self._shutdown()
        event.accept()
        self.exited.emit()

    def _on_app_quit(self) -> None:
        self.locked = False
        self._shutdown()

    def _shutdown(self) -> None:
        """Let go of the borrowed worker (it keeps running for the main window)."""
        if self._closing:
            return
        self._closing = True
        self._tick_timer.stop()
        if self.receptionist is not None:
            self.receptionist.close()
        self.camera.set_provider(None)
        for signal, slot in ((self.worker.result_ready, self._on_result),
                             (self.worker.camera_status, self._on_camera_status),
                             (self.worker.failed, self._on_worker_failed),
                             (self.worker.finished, self._on_worker_finished)):
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(slot)
