"""The admin PIN that keeps kiosk mode locked (the numeric pad of ui.pin_dialog)."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from kiosk.gallery.api import GalleryStore


class PinLock:
    """The admin PIN on the numeric pad (ui.pin_dialog) over the kiosk.

    `ensure` has a PIN chosen before the kiosk locks, when none was ever set (otherwise the
    first visitor could choose one to get out); calling the lock asks for the PIN. The clock
    (wall time, as kiosk.gallery.admin_pin persists its lockout) is injectable for tests.
    """

    def __init__(self, gallery: GalleryStore, clock: Callable[[], float] = time.time) -> None:
        self.gallery = gallery
        self.clock = clock

    def admin_pin(self):
        """The gallery's kiosk.gallery.admin_pin.AdminPin."""
        from kiosk.gallery.admin_pin import AdminPin

        return AdminPin(self.gallery, clock=self.clock)

    def dialog(self, parent: QWidget | None, purpose: str):
        """The modal PIN pad (not yet shown)."""
        from ui.pin_dialog import PinDialog

        dialog = PinDialog(self.admin_pin(), purpose, parent)
        dialog.setObjectName("kioskPinDialog")
        dialog.setCursor(Qt.CursorShape.ArrowCursor)  # the kiosk hides the pointer; the pad needs it
        dialog.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        return dialog

    def ensure(self, parent: QWidget | None) -> bool:
        """True when a PIN is set (asking for a new one at first run)."""
        if self.admin_pin().is_set():
            return True
        return bool(self.dialog(parent, "lock kiosk mode").exec())

    def __call__(self, parent: QWidget) -> bool:
        """Ask for the PIN; True when it was right."""
        return bool(self.dialog(parent, "leave kiosk mode").exec())
