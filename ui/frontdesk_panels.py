"""The receptionist view's front-desk tabs (kiosk.frontdesk does the work; these draw it):

- Expected today: the day's invited guests, arrived (when) or still expected, no-shows
  highlighted after `frontdesk.no_show_after`; mark one arrived by hand, or cancel.
- Sign-ins: visitors who signed in by touch today (first time at the kiosk, or picked from the
  expected list), with whether face data was kept; undo one (it erases what it created).
- On site: who is inside now, staff and visitors, with host and arrival time (the evacuation
  list); sign a visit out, save it as CSV; printing and the PDF come from `on_print`.

Staff only, like the visit log. Writes are one short transaction each, on the GUI thread like
the kiosk's own visits; an undo that erases a person also compacts the gallery file.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kiosk.errors import KioskError
from kiosk.frontdesk import FrontDesk, OnSiteReport
from kiosk.gallery.frontdesk_api import SelfSignIn
from kiosk.security.private_files import private_output

log = logging.getLogger(__name__)

NO_SHOW_BG = QColor("#ffb000")
ID_ROLE = Qt.ItemDataRole.UserRole  # the row's invitation or visit id, on its first cell

#: Prints or saves the on-site list (the badge/printing work adds it: Qt's print support).
PrintReport = Callable[[OnSiteReport], None]


def hhmm(ts: str | None) -> str:
    """The local HH:MM of an ISO time ("" for none)."""
    if not ts:
        return ""
    try:
        return dt.datetime.fromisoformat(ts).strftime("%H:%M")
    except ValueError:
        return ts


def _agreement(s: SelfSignIn) -> str:
    """The accepted agreement: its version and the language it was read in ("2 (de)")."""
    if not s.agreement_version:
        return "-"
    return f"{s.agreement_version} ({s.agreement_language})" if s.agreement_language else s.agreement_version


def _table(columns: Sequence[str], stretch: int = 1) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    header = table.horizontalHeader()
    for col in range(len(columns)):
        header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch if col == stretch
                                    else QHeaderView.ResizeMode.ResizeToContents)
    return table


def _fill(table: QTableWidget, rows: list[tuple[int, list[str]]], colour: Callable[[int], QColor | None]) -> None:
    """Rows of (id, cells); the id rides on the first cell (what the buttons act on)."""
    selected = _selected_id(table)
    table.clearSelection()  # kept only for the same id: a sign-out never moves on to the next person
    table.setRowCount(len(rows))
    for r, (row_id, cells) in enumerate(rows):
        background = colour(r)
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if c == 0:
                item.setData(ID_ROLE, row_id)
            if background is not None:
                item.setBackground(background)
                item.setForeground(QColor("#000000"))
            table.setItem(r, c, item)
        if row_id == selected:
            table.selectRow(r)


def _selected_id(table: QTableWidget) -> int | None:
    rows = table.selectionModel().selectedRows() if table.selectionModel() else []
    if not rows:
        return None
    item = table.item(rows[0].row(), 0)
    return None if item is None else item.data(ID_ROLE)


class _Panel(QWidget):
    """A table with buttons under it and a line of text; `refresh()` redraws from the gallery."""

    def __init__(self, desk: FrontDesk, columns: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.desk = desk
        self.table = _table(columns, stretch=list(columns).index("Name"))
        self.summary = QLabel()
        self.buttons = QHBoxLayout()
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(self.buttons)
        layout.addWidget(self.summary)
        self.table.itemSelectionChanged.connect(self._enable)

    def _button(self, text: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.clicked.connect(lambda _checked=False: slot())
        self.buttons.addWidget(button)
        return button

    def selected(self) -> int | None:
        """The id of the selected row (an invitation, a visit), or None."""
        return _selected_id(self.table)

    def select(self, row_id: int) -> None:
        """Select the row of this id (tests and keyboard users alike)."""
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.data(ID_ROLE) == row_id:
                self.table.selectRow(r)

    def _enable(self) -> None:
        pass

    def _act(self, what: str, action: Callable[[], object]) -> bool:
        try:
            action()
        except KioskError as exc:
            self.summary.setText(f"{what}: {exc}")
            return False
        self.refresh()
        return True

    def refresh(self) -> None:
        raise NotImplementedError


class ExpectedPanel(_Panel):
    """Today's invited guests, arrivals and no-shows."""

    COLUMNS = ("Name", "Company", "Host", "Status", "Face")

    def __init__(self, desk: FrontDesk, parent: QWidget | None = None) -> None:
        super().__init__(desk, self.COLUMNS, parent)
        self.arrive_button = self._button("Mark arrived", self.mark_arrived)
        self.cancel_button = self._button("Cancel invitation", self.cancel_selected)
        self.buttons.addStretch(1)
        self._expected: set[int] = set()
        self._enable()

    def refresh(self) -> None:
        """Reload today's invitations."""
        try:
            invitations = self.desk.expected()
        except KioskError as exc:
            self.summary.setText(f"Cannot read the invitations: {exc}")
            return
        now = self.desk.clock()
        cutoff = self.desk.desk.no_show_time
        no_show = [i.is_no_show(now, cutoff) for i in invitations]
        rows = []
        for i, late in zip(invitations, no_show):
            status = "no-show" if late else (f"arrived {hhmm(i.arrived_at)}".strip() if i.status == "arrived"
                                             else i.status)
            rows.append((i.id, [i.name, i.company, i.host_name or "-", status, "yes" if i.has_face else ""]))
        _fill(self.table, rows, lambda r: NO_SHOW_BG if no_show[r] else None)
        self._expected = {i.id for i in invitations if i.status == "expected"}
        arrived = sum(1 for i in invitations if i.status == "arrived")
        self.summary.setText(f"{len(invitations)} expected today: {arrived} arrived, "
                             f"{len(self._expected) - sum(no_show)} still to come, {sum(no_show)} no-show(s)")
        self._enable()

    def _enable(self) -> None:
        chosen = self.selected() in self._expected
        self.arrive_button.setEnabled(chosen)
        self.cancel_button.setEnabled(chosen)

    def mark_arrived(self) -> bool:
        """The selected guest is here (signed in by the receptionist; their host is told)."""
        chosen = self.selected()
        return chosen is not None and self._act("Mark arrived", lambda: self.desk.arrive(chosen))

    def cancel_selected(self) -> bool:
        """Cancel the selected invitation."""
        chosen = self.selected()
        return chosen is not None and self._act("Cancel", lambda: self.desk.cancel_invitation(chosen))


class SignInsPanel(_Panel):
    """Today's sign-ins by touch, with undo."""

    COLUMNS = ("Time", "Name", "Company", "Host", "Face data", "Agreement", "Left")

    def __init__(self, desk: FrontDesk, parent: QWidget | None = None,
                 confirm: Callable[[str], bool] | None = None) -> None:
        super().__init__(desk, self.COLUMNS, parent)
        self.undo_button = self._button("Undo sign-in…", self.undo_selected)
        self.buttons.addStretch(1)
        self._confirm = confirm or self._ask
        self._names: dict[int, str] = {}
        self._enable()

    def refresh(self) -> None:
        """Reload today's sign-ins."""
        try:
            signed = self.desk.self_sign_ins()
        except KioskError as exc:
            self.summary.setText(f"Cannot read the sign-ins: {exc}")
            return
        rows = [(s.visit_id, [hhmm(s.ts), s.name, s.company, s.host_name or "-", "kept" if s.has_face else "none",
                              _agreement(s), hhmm(s.signed_out_at)]) for s in signed]
        _fill(self.table, rows, lambda r: None)
        self._names = {s.visit_id: s.name for s in signed}
        faces = sum(1 for s in signed if s.has_face)
        self.summary.setText(f"{len(signed)} sign-in(s) today, {faces} with face data kept (consent)")
        self._enable()

    def _enable(self) -> None:
        self.undo_button.setEnabled(self.selected() in self._names)

    def _ask(self, name: str) -> bool:
        answer = QMessageBox.question(self, "Undo sign-in",
                                      f"Undo the sign-in of {name}? Their visit is deleted, and if this sign-in "
                                      "created them, their record and any photos too.")
        return answer == QMessageBox.StandardButton.Yes

    def undo_selected(self) -> bool:
        """Undo the selected sign-in, after asking."""
        chosen = self.selected()
        if chosen is None or not self._confirm(self._names.get(chosen, "this visitor")):
            return False
        return self._act("Undo", lambda: self.desk.undo_sign_in(chosen))


class OnSitePanel(_Panel):
    """Who is inside now: the evacuation list."""

    COLUMNS = ("Arrived", "Name", "", "Company", "Host", "Where")

    def __init__(self, desk: FrontDesk, parent: QWidget | None = None, on_print: PrintReport | None = None) -> None:
        super().__init__(desk, self.COLUMNS, parent)
        self.table.setHorizontalHeaderItem(2, QTableWidgetItem("Staff / visitor"))
        self.report: OnSiteReport | None = None
        self.sign_out_button = self._button("Sign out", self.sign_out_selected)
        self.buttons.addStretch(1)
        self.refresh_button = self._button("Refresh", self.refresh)
        self.csv_button = self._button("Save CSV…", self._ask_csv)
        self.on_print = on_print
        self.print_button = self._button("Print / PDF…", self.print_report)
        if on_print is None:
            self.print_button.setEnabled(False)
            self.print_button.setToolTip("Printing comes with the badge printer support; Save CSV works now")
        self._enable()

    def refresh(self) -> None:
        """Reload who is inside."""
        try:
            self.report = self.desk.on_site()
        except KioskError as exc:
            self.summary.setText(f"Cannot read who is on site: {exc}")
            return
        report = self.report
        rows = [(r.visit_id, [hhmm(r.arrived_at), r.name, r.kind, r.company, r.host_name,
                              " / ".join(x for x in (r.site, r.kiosk) if x)]) for r in report.rows]
        _fill(self.table, rows, lambda r: None)
        unknown = f"; {report.unknown_today} unknown visitor(s) seen today did not sign in" \
            if report.unknown_today else ""
        self.summary.setText(f"{len(report.rows)} on site at {report.generated_at:%H:%M}: {len(report.staff)} staff, "
                             f"{len(report.visitors)} visitor(s){unknown}")
        self._enable()

    def _enable(self) -> None:
        self.sign_out_button.setEnabled(self.selected() is not None)

    def sign_out_selected(self) -> bool:
        """Sign the selected person's visit out (by the receptionist)."""
        chosen = self.selected()
        return chosen is not None and self._act("Sign out",
                                                lambda: self.desk.sign_out_visit(chosen, "receptionist"))

    def print_report(self) -> None:
        """Hand the current list to the printer support."""
        self.refresh()
        if self.on_print is not None and self.report is not None:
            self.on_print(self.report)

    def save_csv(self, path: str) -> int:
        """Write the current list as CSV (UTF-8 with BOM for spreadsheets, 0600); how many rows."""
        self.refresh()
        report = self.report
        if report is None:
            raise KioskError("the on-site list could not be read")
        with private_output(path, overwrite=True) as raw:
            raw.write(report.to_csv().encode("utf-8-sig"))
        return len(report.rows)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the on-site list",
                                              f"on-site-{self.desk.clock():%Y-%m-%d-%H%M}.csv", "CSV (*.csv)")
        if not path:
            return
        try:
            n = self.save_csv(path)
        except (OSError, KioskError) as exc:
            QMessageBox.warning(self, "On site", f"Could not write {path}: {getattr(exc, 'strerror', None) or exc}")
            return
        self.summary.setText(f"Saved {n} people to {path}")
