"""The kiosk's visitor screens: renders kiosk.signin.flow.DeskFlow's state on its pages
(desk_pages.py) in the visitor's language, feeds it the camera's results while it captures or
waits for someone leaving, and makes the captured faces' templates on the recognition worker.

`StartBar` is the row of the start screens: "First time here?", "Expected today?", "Leaving"
and the language buttons.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from kiosk.config import Config
from kiosk.enrollment.prepare import PreparedEnrollment, prepare_enrollment
from kiosk.enrollment.threads import deliver
from kiosk.i18n import Translator, fill, translator
from kiosk.recognition.live import FrameResult
from kiosk.signin import texts as T
from kiosk.signin.capture import PHOTO_COUNT, VISITOR_STEPS, prompt_for
from kiosk.signin.flow import DeskFlow, DeskState, Step
from ui.kiosk_mode.desk_pages import (
    AgreementPage,
    CapturePage,
    CardPage,
    ExpectedPage,
    FacePage,
    HostPage,
    LeavingNamePage,
    LeavingPage,
    NamePage,
)
from ui.kiosk_mode.touch import LanguageBar, TouchButton

log = logging.getLogger(__name__)

Post = Callable[[Callable[[], None]], None]


class StartBar(QWidget):
    """The start screens' buttons and the language bar."""

    def __init__(self, accent: QColor, languages: list[str], *, sign_in: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("startBar")
        self.first_time = TouchButton("", accent, primary=True)
        self.first_time.setObjectName("firstTime")
        self.expected = TouchButton("", accent)
        self.expected.setObjectName("expected")
        self.leaving = TouchButton("", accent)
        self.leaving.setObjectName("leaving")
        self.first_time.setVisible(sign_in)
        self.languages = LanguageBar(languages, accent)
        row = QHBoxLayout()
        row.setSpacing(24)
        row.addStretch(1)
        for button in (self.first_time, self.expected, self.leaving):
            row.addWidget(button)
        row.addStretch(1)
        col = QVBoxLayout(self)
        col.setContentsMargins(24, 8, 24, 16)
        col.setSpacing(12)
        col.addLayout(row)
        col.addWidget(self.languages)

    def retranslate(self, t: Translator) -> None:
        self.first_time.setText(t(T.FIRST_TIME))
        self.expected.setText(t(T.EXPECTED))
        self.leaving.setText(t(T.LEAVING))
        self.languages.show_current(t.language)

    def scale(self, height: int) -> None:
        for button in (self.first_time, self.expected, self.leaving):
            button.scale(height)
        self.languages.scale(height)


class DeskPanel(QStackedWidget):
    """The visitor pages, driven by `flow` (they only render it and forward taps)."""

    def __init__(self, flow: DeskFlow, worker, config: Config, accent: QColor, *, keyboard: bool,
                 post: Post, badge_printing: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deskPanel")
        # The window's page stack must not grow to the tallest visitor page plus the start bar
        # (never on screen together): each page fits the screen on its own (tests check it).
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.flow = flow
        self.worker = worker
        self.config = config
        self.post = post
        self.badge_printing = badge_printing
        self.t = translator(config.kiosk.language)
        self._preparing: object | None = None  # the capture whose templates are being made
        self.name_page = NamePage(accent, keyboard)
        self.host_page = HostPage(accent, keyboard)
        self.agreement_page = AgreementPage(accent)
        self.face_page = FacePage(accent)
        self.capture_page = CapturePage(accent)
        self.expected_page = ExpectedPage(accent, keyboard)
        self.leaving_page = LeavingPage(accent)
        self.leaving_name_page = LeavingNamePage(accent, keyboard)
        self.card_page = CardPage("cardPage", accent)
        self.pages = (self.name_page, self.host_page, self.agreement_page, self.face_page, self.capture_page,
                      self.expected_page, self.leaving_page, self.leaving_name_page, self.card_page)
        for page in self.pages:
            self.addWidget(page)
        self._hosts: list = []
        self._guests: list = []
        self._leavers: list = []
        self._wire()
        flow.subscribe(self.show_state)

    def _wire(self) -> None:
        f = self.flow
        self.name_page.cancel.clicked.connect(f.cancel)
        self.name_page.next.clicked.connect(lambda: f.submit_name(self.name_page.name.text(),
                                                                  self.name_page.company.text()))
        self.name_page.name.returnPressed.connect(self.name_page.company.setFocus)
        self.host_page.back.clicked.connect(f.back)
        self.host_page.unknown.clicked.connect(lambda: f.choose_host(None))
        self.host_page.search.textChanged.connect(self._host_search)
        self.host_page.chosen.connect(lambda i: f.choose_host(self._hosts[i]) if i < len(self._hosts) else None)
        self.agreement_page.back.clicked.connect(f.back)
        self.agreement_page.agree.clicked.connect(f.accept)
        self.face_page.back.clicked.connect(f.back)
        self.face_page.no.clicked.connect(lambda: f.choose_face(False))
        self.face_page.yes.clicked.connect(lambda: f.choose_face(True))
        self.capture_page.cancel.clicked.connect(f.cancel)
        self.capture_page.skip.clicked.connect(f.skip_capture)
        self.expected_page.cancel.clicked.connect(f.cancel)
        self.expected_page.search.textChanged.connect(self._guest_search)
        self.expected_page.chosen.connect(lambda i: f.pick(self._guests[i]) if i < len(self._guests) else None)
        self.leaving_page.cancel.clicked.connect(f.cancel)
        self.leaving_page.by_name.clicked.connect(f.leave_by_name)
        self.leaving_name_page.back.clicked.connect(f.back)
        self.leaving_name_page.search.textChanged.connect(self._leaver_search)
        self.leaving_name_page.chosen.connect(
            lambda i: f.pick_leaving(self._leavers[i]) if i < len(self._leavers) else None)
        self.card_page.done.clicked.connect(f.cancel)
        for page in (self.name_page, self.host_page, self.expected_page, self.leaving_name_page):
            if page.keyboard is not None:
                page.keyboard.typed.connect(f.touched)

    # -- language and size ------------------------------------------------------------------

    def set_language(self, language: str) -> None:
        """Speak `language` from now on (every page, the keyboards)."""
        self.t = translator(language)
        for page in self.pages:
            retranslate = getattr(page, "retranslate", None)
            if retranslate is not None:
                retranslate(self.t)
            keyboard = getattr(page, "keyboard", None)
            if keyboard is not None:
                keyboard.set_language(language)
        self.show_state(self.flow.state)

    def scale(self, height: int) -> None:
        """Size every page for a screen `height` px high."""
        for page in self.pages:
            page.scale(height)

    # -- type-ahead ---------------------------------------------------------------------------

    def _host_search(self, text: str) -> None:
        self._hosts = self.flow.host_matches(text)
        from kiosk.signin.search import HOST_MIN_LETTERS, letters

        nothing = self.t(T.HOST_NONE_FOUND) if letters(text) >= HOST_MIN_LETTERS else ""
        self.host_page.show_choices([h.name for h in self._hosts], nothing)

    def _guest_search(self, text: str) -> None:
        self._guests = self.flow.expected_matches(text)
        from kiosk.signin.search import EXPECTED_MIN_LETTERS, letters

        nothing = self.t(T.EXPECTED_NONE_FOUND) if letters(text) >= EXPECTED_MIN_LETTERS else ""
        self.expected_page.show_choices([g.name for g in self._guests], nothing)

    def _leaver_search(self, text: str) -> None:
        self._leavers = self.flow.leaving_matches(text)
        from kiosk.signin.search import EXPECTED_MIN_LETTERS, letters

        nothing = self.t(T.LEAVING_NONE_FOUND) if letters(text) >= EXPECTED_MIN_LETTERS else ""
        self.leaving_name_page.show_choices([row.name for row in self._leavers], nothing)

    # -- rendering ------------------------------------------------------------------------------

    def show_state(self, state: DeskState) -> None:
        """Show the page for `state` (the only place that decides what the visitor screens show)."""
        t, step = self.t, state.step
        self.capture_page.camera.set_provider(self.worker if step is Step.CAPTURE else None)
        self.leaving_page.camera.set_provider(self.worker if step is Step.LEAVING else None)
        if step is Step.IDLE:
            self._clear()
        elif step is Step.NAME:
            self.name_page.message.setText(t(state.message) if state.message else "")
            if not state.message:
                self.name_page.name.setText(state.name)
                self.name_page.company.setText(state.company)
            self.setCurrentWidget(self.name_page)
            self.name_page.name.setFocus()
        elif step is Step.HOST:
            self.setCurrentWidget(self.host_page)
            self.host_page.search.setFocus()
            self._host_search(self.host_page.search.text())
        elif step is Step.AGREEMENT:
            self._show_agreement(state)
        elif step is Step.FACE:
            texts = state.agreement
            assert texts is not None
            consent = fill(t(self.config.frontdesk.face_consent_text), {"face_days": texts.face_days})
            self.face_page.text.setText(consent)
            self.face_page.small.setText(t(T.FACE_RETENTION, days=texts.face_days))
            self.setCurrentWidget(self.face_page)
        elif step is Step.CAPTURE:
            self._show_capture()
        elif step is Step.SAVING:
            self.card_page.show_card(t(T.SAVING), [])
            self.setCurrentWidget(self.card_page)
            self._prepare()
        elif step is Step.EXPECTED:
            self.setCurrentWidget(self.expected_page)
            self.expected_page.search.setFocus()
            self._guest_search(self.expected_page.search.text())
        elif step is Step.LEAVING:
            self.leaving_page.prompt.setText("")
            self.setCurrentWidget(self.leaving_page)
        elif step is Step.LEAVING_NAME:
            self.setCurrentWidget(self.leaving_name_page)
            self.leaving_name_page.search.setFocus()
            self._leaver_search(self.leaving_name_page.search.text())
        else:
            self._show_card(state)

    def _show_agreement(self, state: DeskState) -> None:
        t, texts = self.t, state.agreement
        assert texts is not None
        fd = self.config.frontdesk
        values = {"visit_days": texts.visit_days, "face_days": texts.face_days}
        self.agreement_page.text.setText(fill(t(fd.agreement_text), values) + "\n\n" + fill(t(fd.privacy_text), values))
        self.agreement_page.small.setText(t(T.AGREEMENT_VERSION, version=texts.version))
        self.agreement_page.message.setText(t(state.message) if state.message else "")
        self.agreement_page.scroller.verticalScrollBar().setValue(0)
        self.setCurrentWidget(self.agreement_page)

    def _show_capture(self) -> None:
        capture = self.flow.capture
        done = len(capture.samples) if capture is not None else 0
        self.capture_page.progress.setText(self.t(PHOTO_COUNT, n=min(done + 1, len(VISITOR_STEPS)),
                                                  total=len(VISITOR_STEPS)))
        if self.currentWidget() is not self.capture_page:
            self.capture_page.prompt.setText(self.t(VISITOR_STEPS[0].instruction))
            self.capture_page.second.setText("")
        self.setCurrentWidget(self.capture_page)

    def _show_card(self, state: DeskState) -> None:
        t, step = self.t, state.step
        if step is Step.DONE:
            lines = [t(T.HOST_TOLD, host=state.host.name) if state.host is not None else t(T.RECEPTION_TOLD)]
            if self.badge_printing:
                lines.append(t(T.BADGE_PRINTED))
            if state.note:
                lines.append(t(state.note))
            self.card_page.show_card(t(T.DONE_TITLE, name=state.name), lines, t(T.DONE))
        elif step is Step.LEFT:
            self.card_page.show_card(t(T.LEFT_TITLE, name=state.name), [t(state.note)] if state.note else [],
                                     t(T.DONE))
        else:  # PROBLEM
            self.card_page.show_card(t(state.message or T.FAILED), [], t(T.DONE))
        self.setCurrentWidget(self.card_page)

    def _clear(self) -> None:
        """Nothing personal stays on any page (the visitor walked away or is done)."""
        for page in (self.name_page, self.host_page, self.expected_page, self.leaving_name_page):
            page.clear()
        self.host_page.show_choices([], "")
        self.expected_page.show_choices([], "")
        self.leaving_name_page.show_choices([], "")
        self.name_page.message.setText("")
        self.agreement_page.text.setText("")
        self.card_page.show_card("", [])
        self._hosts, self._guests, self._leavers = [], [], []

    # -- the camera -------------------------------------------------------------------------------

    def on_result(self, result: FrameResult) -> None:
        """A live result: offered to the capture, or watched for someone leaving."""
        step = self.flow.state.step
        if step is Step.LEAVING:
            self.flow.observe(result.faces)
        elif step is Step.CAPTURE:
            offer = self.flow.offer_frame(result.faces, result.frame_size, result.timestamp)
            if offer is not None and self.flow.state.step is Step.CAPTURE:
                first, second = prompt_for(offer, VISITOR_STEPS)
                self.capture_page.prompt.setText(self.t(first) if first else "")
                self.capture_page.second.setText(self.t(second) if second else "")
                self._show_capture()

    def _prepare(self) -> None:
        """Make the captured faces' templates on the worker (its models), then sign in."""
        pending = self.flow.pending_samples()
        if not pending or self._preparing is self.flow.capture:
            return
        self._preparing = capture = self.flow.capture
        gallery, match = self.flow.desk.gallery, self.config.match

        def ready(prepared: PreparedEnrollment) -> None:
            if self.flow.capture is capture:
                self.flow.samples_ready(prepared.samples, prepared.model_version, duplicate=bool(prepared.duplicates))

        def failed(exc: BaseException) -> None:
            if self.flow.capture is capture:
                self.flow.samples_failed(exc)

        deliver(self.post, self.worker.run_on_worker(lambda p: prepare_enrollment(p, gallery, pending, match)),
                ready, failed)
