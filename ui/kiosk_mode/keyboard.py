"""The kiosk's on-screen keyboard: large keys in the visitor's language's layout
(kiosk.signin.keyboard), typing into the text field that has the focus.

PySide6-Essentials has no Qt Virtual Keyboard, and a kiosk's touch screen usually has no
keyboard at all; `kiosk.on_screen_keyboard` ("auto": unless QT_IM_MODULE names the platform's
own input method) decides whether it shows. A physical keyboard works alongside it.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QLineEdit, QVBoxLayout, QWidget

from kiosk.signin.keyboard import (
    ACCENTS,
    ACCENTS_PAGE,
    BACKSPACE,
    LETTERS,
    SHIFT,
    SPACE,
    apply_key,
    auto_shift,
    layout_for,
    punctuation,
)
from ui.kiosk_mode.look import kiosk_font
from ui.kiosk_mode.touch import TouchButton, min_target_px

DIGITS = tuple("1234567890")


def keyboard_wanted(setting: str) -> bool:
    """Whether the kiosk shows its own keyboard (`kiosk.on_screen_keyboard`)."""
    if setting == "always":
        return True
    if setting == "never":
        return False
    return not os.environ.get("QT_IM_MODULE")


class OnScreenKeyboard(QWidget):
    """Keys for a finger. `set_target(field)`; `typed` is emitted after each key."""

    typed = Signal()

    def __init__(self, accent: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("onScreenKeyboard")
        self.accent = accent
        self.target: QLineEdit | None = None
        self.language = "en"
        self.accents = False
        self.one_shift = False  # the shift key was tapped: the next letter flips case
        self.keys: dict[str, TouchButton] = {}
        self._height = 800
        self._grid = QGridLayout()
        self._grid.setSpacing(6)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addLayout(self._grid)
        self._build()

    def set_target(self, field: QLineEdit | None) -> None:
        """Type into `field` from now on."""
        self.target = field
        self.refresh_case()

    def set_language(self, language: str) -> None:
        """Show the letters of `language`."""
        if language != self.language:
            self.language = language
            self.accents = False
            self._build()

    def scale(self, height: int) -> None:
        """Size the keys for a screen `height` px high."""
        self._height = height
        self._size_keys()

    # -- keys --------------------------------------------------------------------------------

    def _build(self) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()  # gone now, not at the next turn of the event loop
                widget.setParent(None)
                widget.deleteLater()
        self.keys = {}
        rows = ACCENTS_PAGE.rows if self.accents else (DIGITS, *layout_for(self.language).rows)
        width = max(len(r) for r in rows) * 2  # two grid columns per key: rows can be offset by half a key
        for r, row in enumerate(rows):
            offset = width // 2 - len(row)
            if r == len(rows) - 1 and not self.accents:
                self._add(SHIFT, r, 0, 2)
                offset = max(offset, 2)
            for i, key in enumerate(row):
                self._add(key, r, offset + 2 * i, 2)
        last = len(rows)
        bottom = [ACCENTS if not self.accents else LETTERS, *punctuation()]
        for i, key in enumerate(bottom):
            self._add(key, last, 2 * i, 2)
        start = 2 * len(bottom)
        self._add(SPACE, last, start, max(4, width - start - 3))
        self._add(BACKSPACE, last, width - 3, 3)
        self._size_keys()
        self.refresh_case()

    def _add(self, key: str, row: int, col: int, span: int) -> None:
        button = TouchButton(key.replace("&", "&&"), self.accent, padding=2)  # a lone & is Qt's shortcut mark
        button.setObjectName(f"key-{key}")
        button.clicked.connect(lambda _=False, k=key: self.press(k))
        self.keys[key] = button
        self._grid.addWidget(button, row, col, 1, span)

    def _size_keys(self) -> None:
        target = min_target_px(self._height)
        for key, button in self.keys.items():
            button.setFixedHeight(target)
            button.setMinimumWidth(target if len(key) == 1 else int(target * 1.4))
            button.setFont(kiosk_font(int(target * (0.45 if len(key) == 1 else 0.34)), bold=True))

    def _shifted(self) -> bool:
        text = self.target.text() if self.target is not None else ""
        return auto_shift(text) != self.one_shift

    def refresh_case(self, *_: object) -> None:
        """Show capitals where the next letter is one (the start of a word, or shift)."""
        upper = self._shifted()
        for key, button in self.keys.items():
            if len(key) == 1 and key.isalpha() and key != "ß":
                button.setText(key.upper() if upper else key)
        if SHIFT in self.keys:
            self.keys[SHIFT].setCheckable(True)
            self.keys[SHIFT].setChecked(self.one_shift)

    def press(self, key: str) -> None:
        """What a tap on `key` does."""
        if key == SHIFT:
            self.one_shift = not self.one_shift
        elif key in (ACCENTS, LETTERS):
            self.accents = key == ACCENTS
            self._build()
        elif self.target is not None:
            self.target.setText(apply_key(self.target.text(), key, self._shifted()))
            self.target.setFocus()
            self.one_shift = False
        self.refresh_case()
        self.typed.emit()
