"""The visitor screens' pages (the panel that switches between them is desk_panel.py).

Every page has a title, a body and a row of large buttons; `retranslate(t)` sets its words in
the visitor's language (every one a msgid of kiosk.signin.texts), `scale(height)` sizes it for
the screen. Pages never decide anything: they emit what the visitor tapped.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from kiosk.i18n import Translator
from kiosk.signin import texts as T
from kiosk.signin.search import MAX_SHOWN
from ui.kiosk_mode.camera import KioskCamera
from ui.kiosk_mode.keyboard import OnScreenKeyboard
from ui.kiosk_mode.look import kiosk_font, kiosk_label
from ui.kiosk_mode.touch import TouchButton, TouchField

MAX_CHOICES = MAX_SHOWN  # names offered at once, two to a row


class DeskPage(QWidget):
    """A page: title on top, a body, buttons at the bottom (`self.buttons`, left to right)."""

    def __init__(self, name: str, accent: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.accent = accent
        self.title = kiosk_label("", bold=True)
        self.title.setObjectName(f"{name}-title")
        self.body = QVBoxLayout()
        self.buttons = QHBoxLayout()
        self.buttons.setSpacing(24)
        col = QVBoxLayout(self)
        col.setContentsMargins(40, 24, 40, 24)
        col.addWidget(self.title)
        col.addLayout(self.body, 1)
        col.addLayout(self.buttons)

    def button(self, primary: bool = False) -> TouchButton:
        """A new button at the end of the button row."""
        button = TouchButton("", self.accent, primary=primary)
        self.buttons.addWidget(button)
        return button

    def scale(self, height: int) -> None:
        """Size the page for a screen `height` px high."""
        self.title.setFont(kiosk_font(height // 16, bold=True))
        for button in self.findChildren(TouchButton):
            if button.parent() is not None and not isinstance(button.parent(), OnScreenKeyboard):
                button.scale(height)
        for field in self.findChildren(TouchField):
            field.scale(height)
        for label in self.findChildren(QLabel):
            if label is not self.title and label.property("role") == "text":
                label.setFont(kiosk_font(max(18, height // 30)))
            elif label.property("role") == "hint":
                label.setFont(kiosk_font(max(16, height // 36)))


def text_label(role: str = "text") -> QLabel:
    """A wrapping body text (role "text") or a smaller hint (role "hint")."""
    label = kiosk_label("")
    label.setProperty("role", role)
    return label


class FieldsPage(DeskPage):
    """Text fields with the on-screen keyboard under them."""

    def __init__(self, name: str, accent: QColor, keyboard: bool, parent: QWidget | None = None) -> None:
        super().__init__(name, accent, parent)
        self.fields: list[TouchField] = []
        self.keyboard = OnScreenKeyboard(accent) if keyboard else None

    def add_field(self, label: QLabel) -> TouchField:
        """A labelled text field in the body."""
        field = TouchField()
        field.setObjectName(f"{self.objectName()}-field{len(self.fields)}")
        label.setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.body.addWidget(label)
        self.body.addWidget(field)
        self.fields.append(field)
        field.installEventFilter(self)
        if self.keyboard is not None:
            field.textChanged.connect(self.keyboard.refresh_case)
        return field

    def add_keyboard(self) -> None:
        """The keyboard at the bottom of the body (after the fields and lists)."""
        if self.keyboard is not None:
            self.body.addStretch(1)
            self.body.addWidget(self.keyboard)
            self.keyboard.set_target(self.fields[0] if self.fields else None)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        from PySide6.QtCore import QEvent

        chosen = event.type() in (QEvent.Type.FocusIn, QEvent.Type.MouseButtonPress)
        if chosen and self.keyboard is not None and watched in self.fields:
            self.keyboard.set_target(watched)
        return super().eventFilter(watched, event)

    def scale(self, height: int) -> None:
        super().scale(height)
        if self.keyboard is not None:
            self.keyboard.scale(height)

    def clear(self) -> None:
        """Empty every field; the keyboard types into the first."""
        for field in self.fields:
            field.clear()
        if self.fields:
            self.fields[0].setFocus()
            if self.keyboard is not None:
                self.keyboard.set_target(self.fields[0])


class NamePage(FieldsPage):
    """Name and company."""

    def __init__(self, accent: QColor, keyboard: bool) -> None:
        super().__init__("namePage", accent, keyboard)
        self.name_label, self.company_label = text_label(), text_label()
        self.name = self.add_field(self.name_label)
        self.company = self.add_field(self.company_label)
        self.message = text_label("hint")
        self.message.setStyleSheet("color: #ffb000;")
        self.body.addWidget(self.message)
        self.add_keyboard()
        self.cancel = self.button()
        self.buttons.addStretch(1)
        self.next = self.button(primary=True)

    def retranslate(self, t: Translator) -> None:
        self.title.setText(t(T.SIGN_IN_TITLE))
        self.name_label.setText(t(T.NAME_LABEL))
        self.company_label.setText(t(T.COMPANY_LABEL))
        self.cancel.setText(t(T.CANCEL))
        self.next.setText(t(T.NEXT))


class ChoicePage(FieldsPage):
    """A search field, up to MAX_CHOICES names to tap, and a hint ("type 3 letters")."""

    chosen = Signal(int)  # index into the names shown

    def __init__(self, name: str, accent: QColor, keyboard: bool) -> None:
        super().__init__(name, accent, keyboard)
        self.hint = text_label("hint")
        self.search = self.add_field(self.hint)
        self.choices: list[TouchButton] = []
        grid = QGridLayout()
        grid.setSpacing(8)
        for i in range(MAX_CHOICES):
            button = TouchButton("", accent, primary=True)
            button.setObjectName(f"{name}-choice{i}")
            button.clicked.connect(lambda _=False, i=i: self.chosen.emit(i))
            button.setVisible(False)
            self.choices.append(button)
            grid.addWidget(button, i // 2, i % 2)
        self.body.addLayout(grid)
        self.none_found = text_label("hint")
        self.body.addWidget(self.none_found)
        self.add_keyboard()

    def scale(self, height: int) -> None:
        super().scale(height)
        # Room for a two-line "nobody by that name" (the keyboard below must not squeeze it).
        self.none_found.setMinimumHeight(int(self.none_found.fontMetrics().lineSpacing() * 2.2))

    def show_choices(self, names: list[str], nothing: str) -> None:
        """Offer `names` (at most MAX_CHOICES); `nothing` is shown when the list is empty."""
        for button, name in zip(self.choices, names + [""] * MAX_CHOICES):
            button.setText(name)
            button.setVisible(bool(name))
        self.none_found.setText(nothing if not names else "")


class HostPage(ChoicePage):
    """Who the visitor is visiting (type-ahead over the hosts)."""

    def __init__(self, accent: QColor, keyboard: bool) -> None:
        super().__init__("hostPage", accent, keyboard)
        self.back = self.button()
        self.buttons.addStretch(1)
        self.unknown = self.button()

    def retranslate(self, t: Translator) -> None:
        self.title.setText(t(T.HOST_TITLE))
        self.hint.setText(t(T.HOST_HINT))
        self.back.setText(t(T.BACK))
        self.unknown.setText(t(T.HOST_UNKNOWN))


class ExpectedPage(ChoicePage):
    """An invited guest finds their name (never before 3 letters)."""

    def __init__(self, accent: QColor, keyboard: bool) -> None:
        super().__init__("expectedPage", accent, keyboard)
        self.cancel = self.button()
        self.buttons.addStretch(1)

    def retranslate(self, t: Translator) -> None:
        self.title.setText(t(T.EXPECTED_TITLE))
        self.hint.setText(t(T.EXPECTED_HINT))
        self.cancel.setText(t(T.CANCEL))


class LeavingNamePage(ChoicePage):
    """A visitor the camera cannot recognise (no face data) finds their name to sign out."""

    def __init__(self, accent: QColor, keyboard: bool) -> None:
        super().__init__("leavingNamePage", accent, keyboard)
        self.back = self.button()
        self.buttons.addStretch(1)

    def retranslate(self, t: Translator) -> None:
        self.title.setText(t(T.LEAVING_NAME_TITLE))
        self.hint.setText(t(T.EXPECTED_HINT))
        self.back.setText(t(T.BACK))


class ReadPage(DeskPage):
    """Text to read (scrollable, large) and a choice: the agreement, the face consent."""

    def __init__(self, name: str, accent: QColor) -> None:
        super().__init__(name, accent)
        self.text = text_label()
        self.text.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.text.setObjectName(f"{name}-text")
        holder = QWidget()
        holder.setObjectName(f"{name}-holder")
        holder.setStyleSheet(f"#{name}-holder {{ background: transparent; }}")
        inner = QVBoxLayout(holder)
        inner.addWidget(self.text)
        inner.addStretch(1)
        self.scroller = QScrollArea()
        self.scroller.setWidget(holder)
        self.scroller.setWidgetResizable(True)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroller.setStyleSheet("QScrollArea { background: transparent; border: none; }"
                                  " QScrollBar:vertical { width: 40px; }")
        self.body.addWidget(self.scroller, 1)
        self.small = text_label("hint")
        self.message = text_label("hint")
        self.message.setStyleSheet("color: #ffb000;")
        self.body.addWidget(self.small)
        self.body.addWidget(self.message)
        self.back = self.button()
        self.buttons.addStretch(1)


class AgreementPage(ReadPage):
    """The visitor agreement and privacy text, with its version, and "I agree"."""

    def __init__(self, accent: QColor) -> None:
        super().__init__("agreementPage", accent)
        self.agree = self.button(primary=True)

    def retranslate(self, t: Translator) -> None:
        self.title.setText(t(T.AGREEMENT_TITLE))
        self.back.setText(t(T.BACK))
        self.agree.setText(t(T.AGREE))


class FacePage(ReadPage):
    """The separate "recognise me next time" consent, its retention stated."""

    def __init__(self, accent: QColor) -> None:
        super().__init__("facePage", accent)
        self.no = self.button()
        self.yes = self.button(primary=True)

    def retranslate(self, t: Translator) -> None:
        self.title.setText(t(T.FACE_TITLE))
        self.back.setText(t(T.BACK))
        self.no.setText(t(T.FACE_NO))
        self.yes.setText(t(T.FACE_YES))


class CardPage(DeskPage):
    """A card: a large line and up to three smaller ones (done, goodbye, a problem, saving)."""

    def __init__(self, name: str, accent: QColor) -> None:
        super().__init__(name, accent)
        self.lines = [text_label() for _ in range(3)]
        self.body.addStretch(1)
        for label in self.lines:
            self.body.addWidget(label)
        self.body.addStretch(1)
        self.buttons.addStretch(1)
        self.done = self.button(primary=True)
        self.buttons.addStretch(1)

    def show_card(self, title: str, lines: list[str], button: str = "") -> None:
        """Fill the card; no button text hides the button."""
        self.title.setText(title)
        for label, text in zip(self.lines, lines + ["", "", ""]):
            label.setText(text)
            label.setVisible(bool(text))
        self.done.setText(button)
        self.done.setVisible(bool(button))

    def scale(self, height: int) -> None:
        super().scale(height)
        self.title.setFont(kiosk_font(height // 11, bold=True))
        for label in self.lines:
            label.setFont(kiosk_font(height // 22))
        layout = self.layout()
        if layout is not None:
            layout.setContentsMargins(40, height // 8, 40, 24)


class CameraPage(DeskPage):
    """The live camera with the face guide, a prompt over it and a line under it: the visitor's
    own capture ("recognise me next time") and "Leaving"."""

    def __init__(self, name: str, accent: QColor) -> None:
        super().__init__(name, accent)
        self.camera = KioskCamera(accent)
        self.prompt = kiosk_label("", bold=True)
        self.prompt.setObjectName(f"{name}-prompt")
        self.second = text_label()
        self.progress = text_label("hint")
        self.body.addWidget(self.camera, 1)
        self.body.addWidget(self.prompt)
        self.body.addWidget(self.second)
        self.body.addWidget(self.progress)
        self.cancel = self.button()
        self.buttons.addStretch(1)

    def scale(self, height: int) -> None:
        super().scale(height)
        self.prompt.setFont(kiosk_font(height // 17, bold=True))
        self.title.setFont(kiosk_font(height // 20, bold=True))


class CapturePage(CameraPage):
    """The visitor's guided capture."""

    def __init__(self, accent: QColor) -> None:
        super().__init__("capturePage", accent)
        self.skip = self.button()

    def retranslate(self, t: Translator) -> None:
        self.title.setText(t(T.FACE_TITLE))
        self.cancel.setText(t(T.CANCEL))
        self.skip.setText(t(T.CAPTURE_SKIP))


class LeavingPage(CameraPage):
    """"Leaving": look at the camera to be signed out, or sign out with one's name."""

    def __init__(self, accent: QColor) -> None:
        super().__init__("leavingPage", accent)
        self.by_name = self.button(primary=True)

    def retranslate(self, t: Translator) -> None:
        self.title.setText(t(T.LEAVING_TITLE))
        self.cancel.setText(t(T.CANCEL))
        self.by_name.setText(t(T.LEAVING_BY_NAME))
