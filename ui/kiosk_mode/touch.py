"""Touch controls of the kiosk's visitor screens: large buttons, text fields and the language bar.

Sizes follow the screen: a target is at least `min_target_px(height)` high, which is 9 mm or more
on common kiosk screens (1280x800 at 10-15", 1920x1080 at 21-24"; tests/test_gui_signin.py checks
every button of every screen). Colours are the kiosk's (look.py).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QSizePolicy, QWidget

from kiosk.i18n import language_name
from ui.kiosk_mode.look import kiosk_font

MIN_TARGET_PX = 48  # ~9 mm at 135 dpi; a touch target is never smaller, whatever the screen
BUTTON_PADDING_PX = 22
BUTTON_BORDER_PX = 3


def min_target_px(height: int) -> int:
    """The smallest touch target for a screen `height` px high: 1/14 of it, and at least 48 px
    (57 px at 800 px high: 9.7 mm on a 10.1" 1280x800 tablet, where 1/15 gave 53 px, 8.98 mm;
    77 px at 1080)."""
    return max(MIN_TARGET_PX, height // 14)


def button_style(accent: QColor, *, primary: bool, padding: int = BUTTON_PADDING_PX) -> str:
    """Rounded, high-contrast buttons; the primary one filled with the accent colour."""
    fill = accent.name() if primary else "#ffffff"
    text = "#ffffff" if primary else "#000000"
    return (f"QPushButton {{ background: {fill}; color: {text}; border: {BUTTON_BORDER_PX}px solid {accent.name()};"
            f" border-radius: 14px; padding: 4px {padding}px; }}"
            f" QPushButton:pressed {{ background: {accent.darker(140).name()}; color: #ffffff; }}"
            " QPushButton:disabled { background: #9a9a9a; color: #3a3a3a; border-color: #9a9a9a; }"
            f" QPushButton:checked {{ background: {accent.name()}; color: #ffffff; }}")


class TouchButton(QPushButton):
    """A large button for a finger: `TouchButton(text, accent, primary=True)`."""

    def __init__(self, text: str = "", accent: QColor | None = None, *, primary: bool = False,
                 padding: int = BUTTON_PADDING_PX, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.padding = padding
        self.setProperty("touch", "true")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # taps never steal the text field's focus
        self.setStyleSheet(button_style(accent or QColor("#1f6feb"), primary=primary, padding=padding))
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.scale(800)

    def scale(self, height: int) -> None:
        """Size the button for a screen `height` px high."""
        target = min_target_px(height)
        self.setFixedHeight(int(target * 1.15))
        self.setMinimumWidth(int(target * 2.2))
        self.setFont(kiosk_font(int(target * 0.42), bold=True))
        self.updateGeometry()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        # The style sheet's padding and border are not in QPushButton's own hint: the text would
        # be clipped in a tight row. Its whole width, plus them.
        text = self.text().replace("&&", "&")
        width = max((self.fontMetrics().horizontalAdvance(line) for line in text.split("\n")), default=0)
        return QSize(max(self.minimumWidth(), width + 2 * (self.padding + BUTTON_BORDER_PX) + 12),
                     super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return self.sizeHint()


class TouchField(QLineEdit):
    """A large text field (the on-screen keyboard types into the focused one)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("touch", "true")
        self.setMaxLength(100)
        self.setStyleSheet("QLineEdit { background: #ffffff; color: #000000; border: 3px solid #7a7a7a;"
                           " border-radius: 10px; padding: 4px 14px; }"
                           " QLineEdit:focus { border-color: #1f6feb; }")
        self.scale(800)

    def scale(self, height: int) -> None:
        """Size the field for a screen `height` px high."""
        target = min_target_px(height)
        self.setFixedHeight(int(target * 1.1))
        self.setFont(kiosk_font(int(target * 0.5)))


class LanguageBar(QWidget):
    """One button per language, each named in its own language (never a flag: a flag is a
    country, not a language). Emits `chosen(code)` at a tap."""

    chosen = Signal(str)

    def __init__(self, codes: list[str], accent: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("languageBar")
        self.buttons: dict[str, TouchButton] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        for code in codes:
            button = TouchButton(language_name(code), accent)
            button.setCheckable(True)
            button.setObjectName(f"language-{code}")
            button.clicked.connect(lambda _=False, c=code: self.chosen.emit(c))
            self.buttons[code] = button
            row.addWidget(button)
        row.addStretch(1)
        self.setVisible(len(codes) > 1)

    def show_current(self, code: str) -> None:
        """Mark the language in use."""
        for c, button in self.buttons.items():
            button.setChecked(c == code)

    def scale(self, height: int) -> None:
        """Size the buttons for a screen `height` px high (a little smaller than the main ones)."""
        for button in self.buttons.values():
            button.scale(height)
            button.setFixedHeight(min_target_px(height))
            button.setMinimumWidth(min_target_px(height) * 2)
