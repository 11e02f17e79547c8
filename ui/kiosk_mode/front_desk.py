"""The kiosk window's front desk: the visitor screens (DeskPanel), the start bar's buttons, the
visitor's language and the badge, wired together so the window only places two widgets and
forwards results and ticks (ui.kiosk_mode.window).

Kept here, once: the language goes back to the kiosk's own when a visitor's journey ends or
they walk away (kiosk.signin.language); a finished sign-in prints a badge when configured and
reaches the receptionist view as a visit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor

from kiosk.config import Config
from kiosk.frontdesk import FrontDesk
from kiosk.gallery.api import GalleryStore
from kiosk.i18n import translator
from kiosk.recognition.live import FrameResult
from kiosk.signin.flow import DeskFlow, DeskState, DeskTiming, LivenessGate, Step, by_the_live_check
from kiosk.signin.language import LanguageChoice
from ui.jobs import gui_post
from ui.kiosk_mode.desk_panel import DeskPanel, StartBar
from ui.kiosk_mode.keyboard import keyboard_wanted

log = logging.getLogger(__name__)

#: Prints a visitor's badge after a sign-in (ui.badge.BadgePrinter); None: no badges.
PrintBadge = Callable[[DeskState], object]


class KioskFrontDesk(QObject):
    """Everything the visitor touches on the kiosk. `panel` and `start_bar` are placed by the window."""

    changed = Signal()  # the visitor screens opened or closed: the window redraws
    language_changed = Signal(str)
    visit_recorded = Signal(object)  # kiosk.gallery.api.Visit of a sign-in or an arrival
    signed_out = Signal(int)  # the person id of someone who left by the "Leaving" button

    def __init__(self, worker, gallery: GalleryStore, config: Config, accent: QColor, *,
                 clock: Callable[[], float], publish=None, print_badge: PrintBadge | None = None,
                 liveness: LivenessGate = by_the_live_check, parent: QObject | None = None) -> None:
        super().__init__(parent)
        kc = config.kiosk
        self.config = config
        self.gallery = gallery
        self.print_badge = print_badge
        self.language = LanguageChoice(kc.language, clock=clock, timeout_s=kc.touch_timeout_s)
        self.desk = FrontDesk(gallery, config, publish=publish)
        self.flow = DeskFlow(self.desk, timing=DeskTiming(touch_timeout_s=kc.touch_timeout_s), clock=clock,
                             liveness=liveness, language=lambda: self.language.current)
        self.panel = DeskPanel(self.flow, worker, config, accent, keyboard=keyboard_wanted(kc.on_screen_keyboard),
                               post=gui_post(), badge_printing=print_badge is not None)
        self.start_bar = StartBar(accent, kc.offered_languages(), sign_in=config.frontdesk.self_sign_in)
        self.start_bar.first_time.clicked.connect(lambda: self._start(self.flow.start_sign_in))
        self.start_bar.expected.clicked.connect(lambda: self._start(self.flow.start_expected))
        self.start_bar.leaving.clicked.connect(lambda: self._start(self.flow.start_leaving))
        self.start_bar.languages.chosen.connect(self.choose_language)
        self._was_busy = False
        self._last_step = Step.IDLE
        self.flow.subscribe(self._on_state)
        self._apply_language()

    @property
    def busy(self) -> bool:
        """True while a visitor screen is up (the recognition screens wait underneath)."""
        return self.flow.busy

    def _start(self, start: Callable[[], DeskState]) -> None:
        self.language.touched()
        start()

    def choose_language(self, code: str) -> None:
        """The visitor tapped a language."""
        self.language.choose(code)
        self.flow.touched()
        self._apply_language()

    def _apply_language(self) -> None:
        code = self.language.current
        self.panel.set_language(code)
        self.start_bar.retranslate(translator(code))
        self.language_changed.emit(code)

    def _on_state(self, state: DeskState) -> None:
        self.language.touched()
        if state.step is Step.DONE and self._last_step is not Step.DONE:
            self._signed_in(state)
        if state.step is Step.LEFT and self._last_step is not Step.LEFT and state.person_id is not None:
            self.signed_out.emit(state.person_id)
        self._last_step = state.step
        busy = state.step is not Step.IDLE
        if busy != self._was_busy:
            self._was_busy = busy
            if not busy and self.language.reset():  # the journey is over: the kiosk's own language
                self._apply_language()
            self.changed.emit()

    def on_result(self, result: FrameResult) -> None:
        """A live result, for the capture or "Leaving" (only while those screens are up)."""
        if self.flow.busy:
            self.panel.on_result(result)

    def tick(self, *, nobody_in_view: bool) -> None:
        """Timeouts: the visitor screens', and the language's return once the visitor left."""
        self.flow.tick()
        if self.language.update(nobody_in_view=nobody_in_view, busy=self.flow.busy):
            self._apply_language()

    def scale(self, height: int) -> None:
        """Size the visitor screens and the start bar for a screen `height` px high."""
        self.panel.scale(height)
        self.start_bar.scale(height)

    def _signed_in(self, state: DeskState) -> None:
        if state.visit_id is not None:
            try:
                self.visit_recorded.emit(self.gallery.get_visit(state.visit_id))
            except Exception:  # the receptionist's list is a convenience: never stop the kiosk for it
                log.exception("the sign-in visit %s could not be read back", state.visit_id)
        if self.print_badge is not None:
            try:
                self.print_badge(state)
            except Exception:
                log.exception("the visitor badge could not be printed")
