"""The receptionist's view: today's (or any day's) visits, unknown-visitor alerts, the faces the
kiosk's liveness check refused (a photo or a screen held up: `add_attack`), CSV export,
and the front desk's tabs (ui.frontdesk_panels): expected guests and no-shows, sign-ins with
undo, who is on site (the evacuation list, one click from the top bar).

It reads the gallery's visit log, so it works next to the kiosk window (live updates through
`add_visit`) and on its own (it polls the log, so visits logged by another process show up
too). It is for staff only: the kiosk screen itself never shows this list. On a shared
(PostgreSQL) gallery it filters by site and kiosk, says when the gallery is offline (and when
the kiosk started from its local copy), shows every kiosk's heartbeat (the fleet), and flags
visits and people changed outside face-kiosk.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.checkin.attacks import PresentationAttack
from kiosk.checkin.visits import CHECKIN, UNKNOWN, export_day_csv
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.frontdesk import FrontDesk
from kiosk.frontdesk.service import local_now
from kiosk.gallery.api import GalleryStore, Visit
from ui.evacuation_button import EvacuationButton
from ui.frontdesk_panels import ExpectedPanel, OnSitePanel, PrintReport, SignInsPanel

log = logging.getLogger(__name__)

POLL_MS = 5000
COLUMNS = ("Time", "Who", "Score", "Mask", "Where")
ALL_SITES, ALL_KIOSKS = "All sites", "All kiosks"
ALERT_BG = QColor("#ffb000")
ATTACK_BG = QColor("#b00020")  # a refused face (presentation attack): red, white text
MAX_ALERTS = 20  # older unknown-visitor alerts drop off the list


def _hhmmss(ts: str) -> str:
    try:
        return dt.datetime.fromisoformat(ts).strftime("%H:%M:%S")
    except (TypeError, ValueError):
        return ts or ""


class ReceptionistView(QWidget):
    """Visits of one day (today by default), newest first, with alerts for unknown visitors."""

    alert = Signal(object)  # the visit dict of a new unknown visitor
    attack = Signal(object)  # kiosk.checkin.attacks.PresentationAttack, as it is marked

    def __init__(self, gallery: GalleryStore, config=None, parent: QWidget | None = None, *,
                 today: Callable[[], dt.date] = dt.date.today, poll_ms: int = POLL_MS,
                 now: Callable[[], dt.datetime] | None = None, on_print: PrintReport | None = None) -> None:
        """`now`: the wall clock of the front desk (default: `today`'s date at the current time);
        `on_print`: prints or saves the on-site list (Qt's print support)."""
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window, True)  # its own window, even with a parent
        self.setWindowTitle("face-kiosk - visits")
        self.resize(720, 560)
        self.gallery = gallery
        self._today = today
        self._seen_unknown: int | None = None  # newest unknown-visit id already alerted on

        self.title = QLabel()
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.title.setFont(font)

        self.date_edit = QDateEdit()
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.today_button = QPushButton("Today")
        self.export_button = QPushButton("Export CSV…")
        self.date_edit.dateChanged.connect(lambda _d: self.refresh())
        self.today_button.clicked.connect(self.show_today)
        self.export_button.clicked.connect(self._ask_export)

        self.site_filter = QComboBox()
        self.kiosk_filter = QComboBox()
        for combo, everything in ((self.site_filter, ALL_SITES), (self.kiosk_filter, ALL_KIOSKS)):
            combo.addItem(everything)
            combo.currentIndexChanged.connect(lambda _i: self.refresh())
        # A shared gallery that cannot reach its server says so (staff only; kiosks keep greeting).
        self.gallery_state = QLabel()
        self.gallery_state.setStyleSheet("background: #b00020; color: white; padding: 4px; font-weight: bold")
        self.gallery_state.setVisible(False)
        self.fleet_state = QLabel()  # the shared gallery's kiosks and their heartbeats
        self.fleet_state.setWordWrap(True)
        self.fleet_state.setVisible(False)

        self.alerts = QListWidget()
        self.alerts.setMaximumHeight(120)
        self.alerts.setToolTip("Unknown visitors and refused faces at the kiosk (double-click to dismiss)")
        self.alerts.itemDoubleClicked.connect(lambda item: self.alerts.takeItem(self.alerts.row(item)))
        self.alerts_label = QLabel("Unknown visitors waiting, faces refused:")

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (0, 2, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.summary = QLabel()

        clock = now or (lambda: dt.datetime.combine(today(), local_now().timetz()))
        self.desk = FrontDesk(gallery, config if isinstance(config, Config) else Config(), clock=clock)
        self.expected = ExpectedPanel(self.desk)
        self.sign_ins = SignInsPanel(self.desk)
        self.on_site = OnSitePanel(self.desk, on_print=on_print)
        # Printing and the PDF (Qt's print support): the on-site tab's own button, unless a
        # caller hands in its own printer.
        self.evacuation_button: EvacuationButton | None = None
        if on_print is None:
            self.evacuation_button = EvacuationButton(gallery, config if isinstance(config, Config) else None, self)
            self.on_site.print_button.hide()
            self.on_site.buttons.addWidget(self.evacuation_button)
        visits_page = QWidget()
        visits_layout = QVBoxLayout(visits_page)
        visits_layout.setContentsMargins(0, 0, 0, 0)
        visits_layout.addWidget(self.table, 1)
        visits_layout.addWidget(self.summary)
        self.tabs = QTabWidget()
        self.tabs.addTab(visits_page, "Visits")
        self.tabs.addTab(self.expected, "Expected today")
        self.tabs.addTab(self.sign_ins, "Sign-ins")
        self.tabs.addTab(self.on_site, "On site")
        self.on_site_button = QPushButton("On site (evacuation list)")
        self.on_site_button.clicked.connect(self.show_on_site)

        bar = QHBoxLayout()
        bar.addWidget(self.title)
        bar.addStretch(1)
        bar.addWidget(self.site_filter)
        bar.addWidget(self.kiosk_filter)
        bar.addWidget(self.date_edit)
        bar.addWidget(self.today_button)
        bar.addWidget(self.export_button)
        bar.addWidget(self.on_site_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.gallery_state)
        layout.addWidget(self.fleet_state)
        layout.addLayout(bar)
        layout.addWidget(self.alerts_label)
        layout.addWidget(self.alerts)
        layout.addWidget(self.tabs, 1)

        self._poll = QTimer(self)
        self._poll.setInterval(poll_ms)
        self._poll.timeout.connect(self.poll)
        self.show_today()
        self.refresh_front_desk()
        self._poll.start()

    # -- data -------------------------------------------------------------------------------

    @property
    def day(self) -> dt.date:
        """The day shown."""
        d = self.date_edit.date()
        return dt.date(d.year(), d.month(), d.day())

    def show_today(self) -> None:
        """Show today's visits."""
        today = self._today()
        self.date_edit.blockSignals(True)
        self.date_edit.setDate(QDate(today.year, today.month, today.day))
        self.date_edit.blockSignals(False)
        self.refresh()

    def _show_gallery_state(self) -> None:
        status = getattr(self.gallery, "status", None)
        state = status() if callable(status) else None
        offline = state is not None and not state.online
        if state is not None and offline:
            waiting = f"; {state.spooled} visit(s) waiting to be sent" if state.spooled else ""
            source = (f"this kiosk started without the server and recognises from its local copy (saved "
                      f"{state.local_copy})" if getattr(state, "local_copy", "")
                      else "kiosks recognise from the loaded gallery")
            self.gallery_state.setText(f"Shared gallery OFFLINE: {source}, visits are kept locally{waiting}. "
                                       "Enrolment is not possible now.")
        self.gallery_state.setVisible(offline)
        self._show_fleet(offline)

    def _show_fleet(self, offline: bool) -> None:
        """One line per kiosk of the shared gallery: its heartbeat (site, version, last sync, spool)."""
        fleet = getattr(self.gallery, "fleet", None)
        if not callable(fleet) or offline:
            self.fleet_state.setVisible(False)
            return
        try:
            beats = fleet()
        except KioskError as exc:
            self.fleet_state.setText(f"Kiosks: cannot read the heartbeats ({exc})")
            self.fleet_state.setVisible(True)
            return
        parts = []
        for b in beats:
            state = (f"NOT SEEN for {b.age_s / 60:.0f} min" if b.stale else
                     "running from its local copy" if b.local_copy_at else "ok")
            spool = f", {b.spooled} visit(s) spooled" if b.spooled else ""
            synced = f", synced {_hhmmss(b.last_sync)}" if b.last_sync else ""
            parts.append(f"{b.site + ' / ' if b.site else ''}{b.kiosk}: {state} (v{b.version}{synced}{spool})")
        self.fleet_state.setText("Kiosks: " + ("; ".join(parts) if parts else "none has reported yet"))
        self.fleet_state.setVisible(True)

    @staticmethod
    def _set_choices(combo: QComboBox, values: set[str]) -> None:
        current = combo.currentText()
        wanted = [combo.itemText(0), *sorted(v for v in values if v)]
        if [combo.itemText(i) for i in range(combo.count())] != wanted:
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(wanted)
            combo.setCurrentIndex(max(0, combo.findText(current)))
            combo.blockSignals(False)

    def _filtered(self, visits: list[Visit]) -> list[Visit]:
        self._set_choices(self.site_filter, {getattr(v, "site", "") for v in visits})
        self._set_choices(self.kiosk_filter, {getattr(v, "kiosk", "") for v in visits})
        site, kiosk = self.site_filter.currentText(), self.kiosk_filter.currentText()
        return [v for v in visits if (site == ALL_SITES or getattr(v, "site", "") == site)
                and (kiosk == ALL_KIOSKS or getattr(v, "kiosk", "") == kiosk)]

    def refresh(self) -> None:
        """Reload the shown day's visits from the log."""
        self._show_gallery_state()
        try:
            visits = self._filtered(self.gallery.visits(self.day))
        except Exception as exc:  # a locked or damaged log, an offline server: say so, keep the window usable
            if not isinstance(exc, KioskError):
                log.exception("cannot read visits")
            self.summary.setText(f"Cannot read the visit log: {exc}")
            return
        self.table.setRowCount(len(visits))
        for row, v in enumerate(visits):
            unknown = v.kind == UNKNOWN
            who = "Unknown visitor" if unknown else (v.name or f"(removed person {v.person_id})")
            if getattr(v, "edited", False):
                who = f"{who} - this visit was edited outside face-kiosk"
            score = "" if v.score is None else f"{float(v.score):.2f}"
            where = " / ".join(x for x in (getattr(v, "site", ""), getattr(v, "kiosk", "")) if x)
            cells = (_hhmmss(v.ts), who, score, "yes" if v.masked else "", where)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if unknown:
                    item.setBackground(ALERT_BG)
                    item.setForeground(QColor("#000000"))
                self.table.setItem(row, col, item)
        known = sum(1 for v in visits if v.kind == CHECKIN)
        self.title.setText(f"Visits {self.day.isoformat()}")
        self.summary.setText(f"{known} check-in(s), {len(visits) - known} unknown visitor(s)")
        if self._seen_unknown is None:  # the first load: old unknown visits are not new alerts
            self._seen_unknown = max((v.id for v in visits if v.kind == UNKNOWN), default=0)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        """Poll again when shown again (closing stopped it)."""
        if not self._poll.isActive():
            self._poll.start()
        super().showEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Stop polling: a closed view must not read a gallery its owner may close next."""
        self._poll.stop()
        super().closeEvent(event)

    def poll(self) -> None:
        """Pick up visits logged since the last look (also by another process), alerting on strangers."""
        today = self._today()
        try:
            visits = self.gallery.visits(today)
        except KioskError as exc:  # e.g. the shared gallery is offline: one line, no traceback
            log.warning("cannot read visits: %s", exc)
            self.refresh()
            return
        except Exception:
            log.exception("cannot read visits")
            return
        fresh = [v for v in visits if v.kind == UNKNOWN and v.id > (self._seen_unknown or 0)]
        for v in sorted(fresh, key=lambda v: v.id):
            self._add_alert(v)
        if self.day == today:
            self.refresh()
        self.refresh_front_desk()

    def refresh_front_desk(self) -> None:
        """Redraw the front desk's tabs (expected, sign-ins, on site)."""
        for panel in (self.expected, self.sign_ins, self.on_site):
            panel.refresh()

    def show_on_site(self) -> None:
        """Show who is inside now (the evacuation list), freshly read."""
        self.on_site.refresh()
        self.tabs.setCurrentWidget(self.on_site)

    def add_visit(self, visit) -> None:
        """A visit the kiosk just logged (kiosk.gallery.api.Visit): refresh, and alert on a stranger."""
        self.poll()

    def _add_alert(self, visit: Visit) -> None:
        self._seen_unknown = max(self._seen_unknown or 0, int(visit.id))
        masked = " (masked)" if visit.masked else ""
        item = QListWidgetItem(f"{_hhmmss(visit.ts)}  Unknown visitor at the kiosk{masked}")
        item.setBackground(ALERT_BG)
        item.setForeground(QColor("#000000"))
        self.alerts.insertItem(0, item)
        while self.alerts.count() > MAX_ALERTS:
            self.alerts.takeItem(self.alerts.count() - 1)
        self.alert.emit(visit)
        QWidget.window(self).setWindowTitle("face-kiosk - visits (unknown visitor!)")
        QTimer.singleShot(10_000, self, lambda: QWidget.window(self).setWindowTitle("face-kiosk - visits"))

    def add_attack(self, attack: PresentationAttack) -> None:
        """Mark a track the kiosk's liveness check refused (a photo or a screen was held up):
        a red alert with the reason and whom the picture looked like (staff only)."""
        now = dt.datetime.now().strftime("%H:%M:%S")
        item = QListWidgetItem(f"{now}  {attack.describe()}")
        item.setBackground(ATTACK_BG)
        item.setForeground(QColor("#ffffff"))
        item.setToolTip(f"liveness {attack.decision.as_dict()}")
        self.alerts.insertItem(0, item)
        while self.alerts.count() > MAX_ALERTS:
            self.alerts.takeItem(self.alerts.count() - 1)
        self.attack.emit(attack)
        QWidget.window(self).setWindowTitle("face-kiosk - visits (face refused!)")
        QTimer.singleShot(10_000, self, lambda: QWidget.window(self).setWindowTitle("face-kiosk - visits"))

    # -- export -----------------------------------------------------------------------------

    def export_csv(self, path: str) -> int:
        """Write the shown day's visits to `path`; returns how many."""
        return export_day_csv(self.gallery, self.day, path)

    def _ask_export(self) -> None:
        default = f"visits-{self.day.isoformat()}.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export visits", default, "CSV (*.csv)")
        if not path:
            return
        try:
            n = self.export_csv(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export visits", f"Could not write {path}: {exc.strerror or exc}")
            return
        self.summary.setText(f"Exported {n} visit(s) to {path}")
