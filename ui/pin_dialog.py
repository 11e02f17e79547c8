"""The admin PIN on screen: a numeric pad, "set a PIN" at first run, "enter the PIN" after.

`PinPad` is the bare pad (kiosk mode's touch screen can use it as is). `PinGate` runs the
set/ask flow on a `kiosk.gallery.admin_pin.AdminPin` and shows the lockout countdown.
`PinGatedDialog` is the base of the dialogs behind the PIN (enrollment, the gallery manager):
the gate is their first page. `ask_admin_pin` is the modal form (leaving kiosk mode).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QFont, QKeyEvent, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.errors import as_sentence
from kiosk.gallery.admin_pin import AdminPin, PinError, format_wait
from kiosk.gallery.api import GalleryStore

log = logging.getLogger(__name__)

ERROR_STYLE = "color: #cf222e;"
INFO_STYLE = "color: palette(window-text);"


class PinPad(QWidget):
    """A masked PIN field over a 3x4 keypad (digits, backspace, OK); the keyboard works too."""

    submitted = Signal(str)

    def __init__(self, max_length: int = 12, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = QLineEdit(self)
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        self.field.setMaxLength(max_length)
        self.field.setValidator(QRegularExpressionValidator(r"[0-9]*", self.field))
        self.field.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.field.setPlaceholderText("PIN")
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 1.6)
        self.field.setFont(big)
        self.field.returnPressed.connect(self._submit)

        grid = QGridLayout()
        grid.setSpacing(6)
        self.buttons: dict[str, QPushButton] = {}
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "OK"]
        for i, key in enumerate(keys):
            button = QPushButton(key, self)
            button.setFont(big)
            button.setMinimumSize(64, 48)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # typing keeps going to the field
            button.setAccessibleName({"⌫": "Delete last digit", "OK": "Enter PIN"}.get(key, f"digit {key}"))
            button.clicked.connect(lambda checked=False, k=key: self.press(k))
            grid.addWidget(button, i // 3, i % 3)
            self.buttons[key] = button
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.field)
        layout.addLayout(grid)

    def press(self, key: str) -> None:
        """What a keypad button does: a digit, "⌫" or "OK"."""
        if key == "OK":
            self._submit()
        elif key == "⌫":
            self.field.backspace()
        elif key.isdigit() and len(self.field.text()) < self.field.maxLength():
            self.field.insert(key)
        self.field.setFocus()

    def clear(self) -> None:
        """Empty the field."""
        self.field.clear()

    def setEnabled(self, enabled: bool) -> None:  # noqa: N802 - Qt naming
        super().setEnabled(enabled)
        if enabled:
            self.field.setFocus()

    def _submit(self) -> None:
        pin = self.field.text()
        self.field.clear()
        if pin:
            self.submitted.emit(pin)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        text = event.text()
        if text.isdigit():
            self.press(text)
        elif event.key() == Qt.Key.Key_Backspace:
            self.press("⌫")
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.press("OK")
        else:
            super().keyPressEvent(event)


class PinGate(QWidget):
    """Asks for the admin PIN (or, at first run, has one chosen) and emits `unlocked`."""

    unlocked = Signal()
    cancelled = Signal()  # only with `cancellable`: the Cancel button under the pad

    def __init__(self, pin: AdminPin, purpose: str = "", parent: QWidget | None = None,
                 cancellable: bool = False) -> None:
        super().__init__(parent)
        self.pin = pin
        self.purpose = purpose
        self._first_entry: str | None = None
        self.setting = not pin.is_set()
        self.title = QLabel(self)
        title_font = QFont(self.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.4)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.message = QLabel(self)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setMinimumHeight(40)
        self.pad = PinPad(pin.policy.max_length, self)
        self.pad.submitted.connect(self._on_pin)
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self.refresh_lockout)

        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(self.title)
        column.addWidget(self.message)
        column.addWidget(self.pad)
        if cancellable:
            cancel = QPushButton("Cancel", self)
            cancel.clicked.connect(self.cancelled.emit)
            column.addWidget(cancel)
        column.addStretch(1)
        holder = QWidget(self)
        holder.setLayout(column)
        holder.setMaximumWidth(340)
        outer = QVBoxLayout(self)
        outer.addWidget(holder, 0, Qt.AlignmentFlag.AlignHCenter)
        self._prompt()
        self.refresh_lockout()

    def _prompt(self, message: str = "", error: bool = False) -> None:
        what = f" to {self.purpose}" if self.purpose else ""
        if self.setting:
            policy = self.pin.policy
            if self._first_entry is None:
                self.title.setText("Choose an admin PIN")
                hint = (f"First run: choose a PIN of {policy.min_length}-{policy.max_length} digits. "
                        f"It will be needed{what}, to manage the gallery and to leave kiosk mode.")
            else:
                self.title.setText("Enter the same PIN again")
                hint = "To be sure it was typed as meant."
        else:
            self.title.setText("Admin PIN")
            hint = f"Enter the admin PIN{what}."
        self._show(message or hint, error)

    def _show(self, text: str, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else INFO_STYLE)

    def refresh_lockout(self) -> None:
        """Disable the pad while the lockout runs, with the time left; re-enable after."""
        if self.setting:
            self._countdown.stop()
            return
        wait = self.pin.locked_for()
        if wait > 0:
            self.pad.setEnabled(False)
            self._show(f"Too many wrong PINs. Try again in {format_wait(wait)}.", True)
            if not self._countdown.isActive():
                self._countdown.start()
        elif not self.pad.isEnabled():
            self._countdown.stop()
            self.pad.setEnabled(True)
            self._prompt()

    def _on_pin(self, entry: str) -> None:
        if self.setting:
            self._on_new_pin(entry)
            return
        result = self.pin.check(entry)
        if result.ok:
            self.unlocked.emit()
            return
        self._show(result.message, True)
        if result.locked_for_s > 0:
            self.refresh_lockout()

    def _on_new_pin(self, entry: str) -> None:
        try:
            if self._first_entry is None:
                self.pin.validate_new(entry)
                self._first_entry = entry
                self._prompt()
                return
            first, self._first_entry = self._first_entry, None
            self.pin.set_pin(first, entry)
        except PinError as exc:
            self._prompt(f"{as_sentence(exc)}. Try again.", True)
            return
        self.setting = False
        self.unlocked.emit()


class PinDialog(QDialog):
    """A modal PinGate: accepted when the right PIN (or a new one) was entered."""

    def __init__(self, pin: AdminPin, purpose: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Admin PIN")
        self.gate = PinGate(pin, purpose, self)
        self.gate.unlocked.connect(self.accept)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.gate)
        layout.addWidget(buttons)
        self.resize(380, 460)


def ask_admin_pin(gallery: GalleryStore, parent: QWidget | None = None, purpose: str = "leave kiosk mode") -> bool:
    """Ask for the admin PIN modally (at first run: have one chosen). True when it was right."""
    return PinDialog(AdminPin(gallery), purpose, parent).exec() == QDialog.DialogCode.Accepted


class PinGatedDialog(QDialog):
    """A dialog that shows the admin PIN gate first and its content after the right PIN.

    A subclass builds its widgets in its own `__init__` and ends it with
    `self.set_content(widget)`; `on_unlocked()` runs when the content shows (at once when no
    PIN is required). Cancel on the gate rejects the dialog.
    """

    def __init__(self, gallery: GalleryStore, purpose: str, *, require_pin: bool = True,
                 admin_pin: AdminPin | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stack = QStackedWidget(self)
        self.pin_gate: PinGate | None = None
        self._content: QWidget | None = None
        self._unlocked = False
        self._closed = False
        if require_pin:
            gate = PinGate(admin_pin or AdminPin(gallery), purpose, self, cancellable=True)
            gate.unlocked.connect(self._show_content)
            gate.cancelled.connect(self.reject)
            self.stack.addWidget(gate)
            self.pin_gate = gate
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.stack)

    @property
    def content(self) -> QWidget | None:
        """The dialog's own page (None until `set_content`)."""
        return self._content

    @property
    def unlocked(self) -> bool:
        """True once the content shows (the PIN was entered, or none was required)."""
        return self._unlocked

    def set_content(self, content: QWidget) -> None:
        """Put the dialog's page behind the gate (once); without a gate it shows at once."""
        if self._content is not None:
            raise RuntimeError("the content of a PIN-gated dialog is set once")
        self._content = content
        self.stack.addWidget(content)
        if self.pin_gate is None:
            self._show_content()

    def _show_content(self) -> None:
        if self._content is None or self._unlocked:
            return
        self._unlocked = True
        self.stack.setCurrentWidget(self._content)
        self.on_unlocked()

    def on_unlocked(self) -> None:
        """Called once, when the content shows. Subclasses start their work here."""

    def on_closed(self) -> None:
        """Called once, when the dialog is done or closed (whichever comes first). Subclasses
        let go of their work here."""

    def done(self, result: int) -> None:  # noqa: D102 - QDialog override
        self._close_once()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self._close_once()
        super().closeEvent(event)

    def _close_once(self) -> None:
        if not self._closed:
            self._closed = True
            self.on_closed()
