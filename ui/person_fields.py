"""A person's details as staff edit them: name, company, host, notes and a retention date, in
one form. The enrolment dialog's person panel (a new person) and the gallery manager's details
panel (the person chosen) both use it, so the two forms cannot drift apart."""

from __future__ import annotations

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from kiosk.enrollment.session_state import DetailsForm
from kiosk.gallery.api import Person


class PersonFields(QWidget):
    """The details form: `show_person` fills it (or empties and disables it), `details_form`
    reads it back. `host_hint` is the host field's placeholder; `future_only` keeps the
    retention date after today (a new person; a stored one may be past it already)."""

    def __init__(self, host_hint: str, *, future_only: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("required")
        self.company_edit = QLineEdit(self)
        self.host_edit = QLineEdit(self)
        self.host_edit.setPlaceholderText(host_hint)
        self.notes_edit = QPlainTextEdit(self)
        self.notes_edit.setFixedHeight(56)
        self.retention_check = QCheckBox("Delete on", self)
        self.retention_date = QDateEdit(QDate.currentDate().addYears(1), self)
        self.retention_date.setCalendarPopup(True)
        self.retention_date.setDisplayFormat("yyyy-MM-dd")
        if future_only:
            self.retention_date.setMinimumDate(QDate.currentDate().addDays(1))
        self.retention_date.setEnabled(False)
        self.retention_check.toggled.connect(self.retention_date.setEnabled)
        retention = QHBoxLayout()
        retention.addWidget(self.retention_check)
        retention.addWidget(self.retention_date, 1)
        form.addRow("Name *", self.name_edit)
        form.addRow("Company", self.company_edit)
        form.addRow("Host", self.host_edit)
        form.addRow("Notes", self.notes_edit)
        form.addRow("Retention", retention)

    def show_person(self, person: Person | None) -> None:
        """Fill the form with `person`'s details, or empty and disable it (None)."""
        for widget in (self.name_edit, self.company_edit, self.host_edit, self.notes_edit, self.retention_check):
            widget.setEnabled(person is not None)
        self.name_edit.setText(person.name if person else "")
        self.company_edit.setText(person.company if person else "")
        self.host_edit.setText(person.host if person else "")
        self.notes_edit.setPlainText(person.notes if person else "")
        until = person.retention_until if person else None
        self.retention_check.setChecked(bool(until))
        self.retention_date.setEnabled(bool(until))
        if until:
            self.retention_date.setDate(QDate.fromString(until[:10], Qt.DateFormat.ISODate))

    def details_form(self) -> DetailsForm:
        """The details as typed."""
        retention = (self.retention_date.date().toString(Qt.DateFormat.ISODate)
                     if self.retention_check.isChecked() else None)
        return DetailsForm(name=self.name_edit.text(), company=self.company_edit.text(), host=self.host_edit.text(),
                           notes=self.notes_edit.toPlainText(), retention_until=retention)
