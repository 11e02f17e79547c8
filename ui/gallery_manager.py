"""The gallery manager: find people, edit their details, add samples, delete, export, import.

Opened from the live window as `GalleryManager(gallery, config, parent=window)`, behind the
admin PIN. Adding samples opens the enrollment dialog on the live window's worker (the
parent's `worker`, or the `worker` given); imports run through the models' thread because
an export made by another model is re-embedded from its sample photos.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from pathlib import Path

from PySide6.QtCore import QDate, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kiosk.config import Config
from kiosk.enrollment.importing import ImportReport, import_archive
from kiosk.enrollment.samples import templates_for_crops
from kiosk.errors import KioskError
from kiosk.gallery.admin_pin import AdminPin
from kiosk.gallery.api import GalleryStore, Person
from kiosk.gallery.archive import export_people
from ui.enrollment_widgets import SampleSlot, rgb_pixmap
from ui.jobs import FutureRelay, ModelRunner, PipelineThread, TaskThread
from ui.pin_dialog import PinGate, build_pin_gated

log = logging.getLogger(__name__)

EXPORT_FILTER = "face-kiosk export (*.zip);;All files (*)"
COLUMNS = ("Name", "Company", "Host", "Templates", "Last seen", "Delete on")
ICON = 48


def short_time(iso: str | None) -> str:
    """'2026-11-26T09:45:12+00:00' -> '2026-11-26 09:45' ('never' for None)."""
    if not iso:
        return "never"
    try:
        return dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


class _SortItem(QTableWidgetItem):
    """A cell that sorts by a key of its own (numbers as numbers, names case-insensitively)."""

    def __init__(self, text: str, key) -> None:
        super().__init__(text)
        self.key = key

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.key < getattr(other, "key", other.text())


class GalleryManager(QDialog):
    """Searchable list of everyone enrolled, with a details panel. Non-modal."""

    changed = Signal()  # the gallery was changed from here

    def __init__(
        self,
        gallery: GalleryStore,
        config: Config,
        *,
        parent: QWidget | None = None,
        worker=None,
        runner: ModelRunner | None = None,
        require_pin: bool = True,
        admin_pin: AdminPin | None = None,
    ) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.config = config
        self.worker = worker if worker is not None else getattr(parent, "worker", None)
        self._own_runner: PipelineThread | None = None
        self._runner = runner
        self._relay = FutureRelay(self)
        self._db = TaskThread("face-kiosk-manager-db")
        self._thumbs: dict[int, tuple[str, QIcon]] = {}
        self._people: dict[int, Person] = {}
        self._busy = False
        self._closing = False
        self.current_id: int | None = None
        self.dialogs: list[QDialog] = []

        self.setWindowTitle("Gallery manager")
        self.resize(1100, 680)
        self.pin_gate: PinGate | None = None
        build_pin_gated(self, gallery, admin_pin, "manage the gallery", require_pin)

    # -- building -----------------------------------------------------------------------------

    def _build_content(self) -> QWidget:
        content = QWidget(self)
        self.search = QLineEdit(content)
        self.search.setPlaceholderText("Search name, company or host")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self.refresh())
        self.count_label = QLabel(content)
        self.enroll_button = QPushButton("Enroll new…", content)
        self.enroll_button.clicked.connect(self.enroll_new)
        self.add_samples_button = QPushButton("Add samples…", content)
        self.add_samples_button.clicked.connect(self.add_samples)
        self.delete_button = QPushButton("Delete…", content)
        self.delete_button.clicked.connect(self.delete_selected)
        self.export_button = QPushButton("Export selected…", content)
        self.export_button.clicked.connect(self.export_selected)
        self.import_button = QPushButton("Import…", content)
        self.import_button.clicked.connect(self.import_export)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.count_label)
        for button in (self.enroll_button, self.add_samples_button, self.delete_button, self.export_button,
                       self.import_button):
            top.addWidget(button)

        self.table = QTableWidget(0, len(COLUMNS), content)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(ICON, ICON))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(ICON + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSortingEnabled(True)
        self.table.itemSelectionChanged.connect(self._on_selection)

        splitter = QSplitter(Qt.Orientation.Horizontal, content)
        splitter.addWidget(self.table)
        splitter.addWidget(self._build_details())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        self.status = QLabel(content)
        self.status.setWordWrap(True)
        self.progress = QProgressBar(content)
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(200)
        self.progress.hide()
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.progress)
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        return content

    def _build_details(self) -> QWidget:
        panel = QGroupBox("Details", self)
        self.photo = QLabel(panel)
        self.photo.setFixedSize(112, 112)
        self.photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.photo.setStyleSheet("background: #eaeef2;")
        self.summary = QLabel(panel)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head = QHBoxLayout()
        head.addWidget(self.photo)
        head.addWidget(self.summary, 1)

        form = QFormLayout()
        self.name_edit = QLineEdit(panel)
        self.company_edit = QLineEdit(panel)
        self.host_edit = QLineEdit(panel)
        self.notes_edit = QPlainTextEdit(panel)
        self.notes_edit.setFixedHeight(56)
        self.retention_check = QCheckBox("Delete on", panel)
        self.retention_date = QDateEdit(QDate.currentDate().addYears(1), panel)
        self.retention_date.setCalendarPopup(True)
        self.retention_date.setDisplayFormat("yyyy-MM-dd")
        self.retention_check.toggled.connect(self.retention_date.setEnabled)
        retention = QHBoxLayout()
        retention.addWidget(self.retention_check)
        retention.addWidget(self.retention_date, 1)
        form.addRow("Name *", self.name_edit)
        form.addRow("Company", self.company_edit)
        form.addRow("Host", self.host_edit)
        form.addRow("Notes", self.notes_edit)
        form.addRow("Retention", retention)
        self.save_button = QPushButton("Save changes", panel)
        self.save_button.clicked.connect(self.save_details)
        self.revert_button = QPushButton("Revert", panel)
        self.revert_button.clicked.connect(lambda: self.show_person(self.current_id))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        self.samples_grid = QGridLayout()
        self.samples_grid.setSpacing(4)
        holder = QWidget()
        holder.setLayout(self.samples_grid)
        scroll = QScrollArea(panel)
        scroll.setWidget(holder)
        scroll.setWidgetResizable(True)
        scroll.setMinimumHeight(170)

        layout = QVBoxLayout(panel)
        layout.addLayout(head)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(QLabel("Samples", panel))
        layout.addWidget(scroll, 1)
        self.details_panel = panel
        self.show_person(None)
        return panel

    # -- unlocking and listing ------------------------------------------------------------------

    @property
    def unlocked(self) -> bool:
        """True once the PIN was entered (or none was required)."""
        return self.stack.currentWidget() is self.content

    def _unlock(self) -> None:
        self.stack.setCurrentWidget(self.content)
        self.refresh()
        self.search.setFocus()

    def refresh(self) -> None:
        """Reload the list (keeps the selection when those people are still there)."""
        if self._closing:
            return
        selected = set(self.selected_ids())
        people = self.gallery.people(self.search.text())
        self._people = {p.id: p for p in people}
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(people))
        for row, person in enumerate(people):
            name = _SortItem(person.name, person.name.lower())
            name.setIcon(self._icon(person))
            name.setData(Qt.ItemDataRole.UserRole, person.id)
            name.setToolTip(f"{person.n_samples} samples, {person.n_templates} templates")
            cells = (
                name,
                _SortItem(person.company, person.company.lower()),
                _SortItem(person.host, person.host.lower()),
                _SortItem(str(person.n_templates), person.n_templates),
                _SortItem(short_time(person.last_seen), person.last_seen or ""),
                _SortItem(person.retention_until or "", person.retention_until or "9999"),
            )
            for col, item in enumerate(cells):
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        total = self.gallery.counts()["people"]
        shown = f"{len(people)} of {total} people" if self.search.text().strip() else f"{total} people"
        self.count_label.setText(shown)
        self.select_ids(selected)
        if self.current_id is not None and self.current_id not in self._people:
            self.show_person(None)
        self._update_buttons()

    def _icon(self, person: Person) -> QIcon:
        cached = self._thumbs.get(person.id)
        if cached is not None and cached[0] == person.updated_at:
            return cached[1]
        rgb = self.gallery.thumbnail(person.id)
        icon = QIcon(rgb_pixmap(rgb, ICON)) if rgb is not None else QIcon()
        self._thumbs[person.id] = (person.updated_at, icon)
        return icon

    def selected_ids(self) -> list[int]:
        """Ids of the selected people, in list order."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [int(self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)) for r in rows]

    def select_ids(self, ids: set[int] | list[int]) -> None:
        """Select these people in the list."""
        wanted = set(ids)
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in range(self.table.rowCount()):
            if int(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)) in wanted:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def _on_selection(self) -> None:
        ids = self.selected_ids()
        self.show_person(ids[0] if len(ids) == 1 else None)
        self._update_buttons()

    def _update_buttons(self) -> None:
        n = len(self.selected_ids())
        self.add_samples_button.setEnabled(n == 1 and not self._busy)
        self.delete_button.setEnabled(n >= 1 and not self._busy)
        self.export_button.setEnabled(n >= 1 and not self._busy)
        self.import_button.setEnabled(not self._busy)
        self.enroll_button.setEnabled(not self._busy)

    # -- details ----------------------------------------------------------------------------------

    def show_person(self, person_id: int | None) -> None:
        """Fill the details panel with one person (None: empty it)."""
        self.current_id = person_id
        while self.samples_grid.count():
            item = self.samples_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        editors = (self.name_edit, self.company_edit, self.host_edit, self.notes_edit, self.retention_check,
                   self.save_button, self.revert_button)
        if person_id is None:
            for widget in editors:
                widget.setEnabled(False)
            for edit in (self.name_edit, self.company_edit, self.host_edit):
                edit.clear()
            self.notes_edit.clear()
            self.retention_check.setChecked(False)
            self.retention_date.setEnabled(False)
            self.photo.clear()
            n = len(self.selected_ids()) if hasattr(self, "table") else 0
            self.summary.setText(f"{n} people selected." if n > 1 else "Select a person to see and edit their details.")
            return
        person = self.gallery.get_person(person_id)
        for widget in editors:
            widget.setEnabled(True)
        self.name_edit.setText(person.name)
        self.company_edit.setText(person.company)
        self.host_edit.setText(person.host)
        self.notes_edit.setPlainText(person.notes)
        self.retention_check.setChecked(bool(person.retention_until))
        self.retention_date.setEnabled(bool(person.retention_until))
        if person.retention_until:
            self.retention_date.setDate(QDate.fromString(person.retention_until[:10], Qt.DateFormat.ISODate))
        thumb = self.gallery.thumbnail(person_id)
        if thumb is not None:
            self.photo.setPixmap(rgb_pixmap(thumb, 112))
        else:
            self.photo.clear()
        consent = (f"consent given {short_time(person.consent_at)}" if person.consent_at
                   else "<span style='color:#a40e26'>no consent recorded</span>")
        self.summary.setText(
            f"<b>{html.escape(person.name)}</b><br>{person.n_samples} samples, {person.n_templates} templates<br>"
            f"enrolled {short_time(person.created_at)}, last seen {short_time(person.last_seen)}<br>{consent}")
        if person.consent_text:
            self.summary.setToolTip(person.consent_text)
        for i, sample in enumerate(self.gallery.samples(person_id)):
            sample_id, aligned, source, masked = sample.id, sample.aligned, sample.source, sample.masked
            caption = Path(source).name if source and not source.startswith("camera") else (source or "sample")
            if masked:
                caption += " (mask)"
            slot = SampleSlot(caption, "Remove", rgb_pixmap(aligned, 72), source)
            slot.image.setFixedSize(76, 76)
            slot.action.connect(lambda sid=sample_id: self.remove_sample(sid))
            self.samples_grid.addWidget(slot, i // 4, i % 4)

    def save_details(self) -> None:
        """Store the edited details of the person shown."""
        if self.current_id is None:
            return
        retention = (self.retention_date.date().toString(Qt.DateFormat.ISODate)
                     if self.retention_check.isChecked() else None)
        try:
            self.gallery.update_person(
                self.current_id, name=self.name_edit.text().strip(), company=self.company_edit.text().strip(),
                host=self.host_edit.text().strip(), notes=self.notes_edit.toPlainText().strip(),
                retention_until=retention,
            )
        except KioskError as exc:
            self._show_status(f"Not saved: {exc}", error=True)
            return
        self._show_status(f"Saved the details of {self.name_edit.text().strip()}.")
        self._changed()

    def remove_sample(self, sample_id: int) -> None:
        """Delete one sample (and its templates) of the person shown, after a confirmation."""
        if self.current_id is None:
            return
        person = self.gallery.get_person(self.current_id)
        if person.n_samples <= 1:
            self._show_status("This is the person's only sample; delete the person instead.", error=True)
            return
        if not self.confirm("Remove sample", f"Remove this sample of {person.name} and its templates?"):
            return
        self.gallery.remove_sample(sample_id)
        self._show_status(f"Removed a sample of {person.name}.")
        self._changed()

    # -- actions ------------------------------------------------------------------------------------

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this)."""
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def delete_selected(self) -> None:
        """Delete the selected people and every row of theirs, after a confirmation."""
        ids = self.selected_ids()
        if not ids:
            return
        names = [self._people[i].name for i in ids if i in self._people]
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        if not self.confirm("Delete", f"Delete {listed}?\n\nTheir photos, templates and visit log are removed "
                                      "for good. This cannot be undone."):
            return
        for person_id in ids:
            self.gallery.remove_person(person_id)
            self._thumbs.pop(person_id, None)
        log.info("gallery manager: deleted %d people", len(ids))
        self._show_status(f"Deleted {listed}.")
        self.table.clearSelection()
        self._changed()

    def _model_runner(self) -> ModelRunner:
        if self._runner is not None:
            return self._runner
        if self.worker is not None:
            return self.worker
        if self._own_runner is None:
            self._own_runner = PipelineThread(self.config)
        return self._own_runner

    def _open_enrollment(self, person_id: int | None) -> None:
        from ui.enrollment_dialog import EnrollmentDialog

        dialog = EnrollmentDialog(self.worker, self.gallery, self.config, parent=self, person_id=person_id,
                                  runner=self._runner or self._own_runner, require_pin=False)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.person_saved.connect(self._on_enrolled)
        dialog.destroyed.connect(lambda *_: self.dialogs.remove(dialog) if dialog in self.dialogs else None)
        self.dialogs.append(dialog)
        dialog.show()

    def enroll_new(self) -> None:
        """Open the enrollment dialog for a new person (already unlocked)."""
        self._open_enrollment(None)

    def add_samples(self) -> None:
        """Open the enrollment dialog to add samples to the selected person."""
        ids = self.selected_ids()
        if len(ids) == 1:
            self._open_enrollment(ids[0])

    def _on_enrolled(self, person_id: int) -> None:
        self._thumbs.pop(person_id, None)
        self._changed()
        self.select_ids([person_id])

    def export_selected(self, path: str | None = None) -> None:
        """Write the selected people to an export file (asked for when not given)."""
        ids = self.selected_ids()
        if not ids:
            return
        if path is None:
            default = f"face-kiosk-export-{dt.date.today():%Y%m%d}.zip"
            path, _ = QFileDialog.getSaveFileName(self, "Export people", default, EXPORT_FILTER)
            if not path:
                return
        gallery = self.gallery
        self._set_busy(f"Exporting {len(ids)} people…")
        self._relay.watch(self._db.submit(lambda: export_people(gallery, path, ids)),
                          lambda n: self._done(f"Exported {n} people to {path}."),
                          lambda exc: self._done(f"Export failed: {exc}", error=True))

    def import_export(self, path: str | None = None) -> None:
        """Add everyone in an export file; made by another model, they are re-embedded."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import people", "", EXPORT_FILTER)
            if not path:
                return
        gallery = self.gallery
        self._set_busy("Importing…")

        match = self.config.match

        def job(pipeline) -> ImportReport:
            return import_archive(gallery, path, pipeline.model_version, match,
                                  reembed=lambda aligned, crop, masked: templates_for_crops(pipeline, aligned, crop, masked))

        def done(report: ImportReport) -> None:
            skipped = f"; {len(report.skipped)} skipped ({report.skipped[0][0]}: {report.skipped[0][1]}" + \
                ("…" if len(report.skipped) > 1 else "") + ")" if report.skipped else ""
            self._done(f"Imported {len(report.added)} people from {Path(path).name}{skipped}.", changed=True)

        self._relay.watch(self._model_runner().run_on_worker(job), done,
                          lambda exc: self._done(f"Import failed, nothing was added: {exc}", error=True))

    def _set_busy(self, text: str) -> None:
        self._busy = True
        self.progress.show()
        self._show_status(text)
        self._update_buttons()

    def _done(self, text: str, error: bool = False, changed: bool = False) -> None:
        if self._closing:
            return
        self._busy = False
        self.progress.hide()
        self._show_status(text, error)
        if changed:
            self._changed()
        self._update_buttons()

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #a40e26; font-weight: bold;" if error else "")

    def _changed(self) -> None:
        self.refresh()
        if self.current_id is not None:
            self.show_person(self.current_id)
        self.changed.emit()

    # -- closing ------------------------------------------------------------------------------------

    def done(self, result: int) -> None:  # noqa: D102 - QDialog override
        self._shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self._shutdown()
        super().closeEvent(event)

    def _shutdown(self) -> None:
        if self._closing:
            return
        self._closing = True
        for dialog in list(self.dialogs):
            dialog.close()
        self._db.close()
        if self._own_runner is not None:
            self._own_runner.close()

