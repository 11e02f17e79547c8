"""The gallery manager: find people, edit their details, add samples, delete, export, import.

Opened from the live window as `GalleryManager(gallery, config, parent=window, worker=...,
writer=...)`, behind the admin PIN. What it shows and does is
`kiosk.enrollment.gallery_admin.GalleryManagerController`; this window is its view. Every
change goes through the gallery writer thread (ui.jobs); adding samples opens the
enrollment dialog on the live window's worker (or this window's private pipeline); imports
of an export made by another model are re-embedded on the models' thread.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from kiosk.config import Config
from kiosk.enrollment.gallery_admin import AdminChange, GalleryManagerController
from kiosk.enrollment.session_state import DetailsForm
from kiosk.enrollment.threads import ModelRunner, Writer
from kiosk.gallery.admin_pin import AdminPin
from kiosk.gallery.api import GalleryStore
from kiosk.security.export_crypto import is_encrypted_export
from ui.dialog_jobs import DialogJobs
from ui.export_secret_dialog import ExportSecretDialog
from ui.jobs import gui_post
from ui.people_table import PeopleTable
from ui.person_details_panel import PersonDetailsPanel
from ui.pin_dialog import PinGatedDialog

if TYPE_CHECKING:
    from ui.enrollment_dialog import EnrollmentDialog
    from ui.worker import LiveWorker

log = logging.getLogger(__name__)

EXPORT_FILTER = "face-kiosk export (*.fkx *.zip);;All files (*)"


class GalleryManager(PinGatedDialog):
    """Searchable list of everyone enrolled, with a details panel. Non-modal."""

    changed = Signal()  # the gallery was changed from here

    def __init__(
        self,
        gallery: GalleryStore,
        config: Config,
        *,
        parent: QWidget | None = None,
        worker: LiveWorker | None = None,
        runner: ModelRunner | None = None,
        writer: Writer | None = None,
        require_pin: bool = True,
        admin_pin: AdminPin | None = None,
    ) -> None:
        super().__init__(gallery, "manage the gallery", require_pin=require_pin, admin_pin=admin_pin,
                         parent=parent)
        self.gallery = gallery
        self.config = config
        self.worker = worker
        self.jobs = DialogJobs(config, runner if runner is not None else worker, writer)
        self.runner, self.writer = self.jobs.runner, self.jobs.writer
        self.controller = GalleryManagerController(gallery, self.runner, self.writer, post=gui_post(),
                                                   match=config.match)
        self.controller.listeners.append(self._on_update)
        self._filling = False
        self.dialogs: list[EnrollmentDialog] = []

        self.setWindowTitle("Gallery manager")
        self.resize(1100, 680)
        self.set_content(self._build_content())
        self._render_details()

    @property
    def busy(self) -> bool:
        """An operation runs (export, import, a change being written)."""
        return self.controller.busy

    @property
    def current_id(self) -> int | None:
        """The person whose details are shown."""
        return self.controller.current_id

    # -- building -----------------------------------------------------------------------------

    def _build_content(self) -> QWidget:
        content = QWidget(self)
        self.search = QLineEdit(content)
        self.search.setPlaceholderText("Search name, company or host")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.controller.refresh)
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

        self.table = PeopleTable(self.controller.thumbnail, content)
        self.table.itemSelectionChanged.connect(self._on_selection)

        splitter = QSplitter(Qt.Orientation.Horizontal, content)
        splitter.addWidget(self.table)
        self.details_panel = PersonDetailsPanel(self)
        self.details_panel.save_button.clicked.connect(self.save_details)
        self.details_panel.revert_button.clicked.connect(lambda: self.show_person(self.current_id))
        self.details_panel.remove_sample.connect(self.remove_sample)
        splitter.addWidget(self.details_panel)
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

    # -- unlocking and listing ------------------------------------------------------------------

    def on_unlocked(self) -> None:  # noqa: D102 - PinGatedDialog hook
        self.controller.refresh(self.search.text())
        self.search.setFocus()

    def refresh(self) -> None:
        """Reload the list (keeps the selection when those people are still there)."""
        self.controller.refresh(self.search.text())

    def _on_update(self, changes: AdminChange) -> None:
        if AdminChange.PEOPLE in changes:
            self._render_people()
        if AdminChange.DETAILS in changes:
            self._render_details()
        if AdminChange.STATE in changes:
            self._render_state()
        if AdminChange.GALLERY in changes:
            self.changed.emit()

    def _render_people(self) -> None:
        people = self.controller.people
        self._filling = True  # the selection is the controller's until the table is filled
        try:
            self.table.fill(people, self.controller.selected)
        finally:
            self._filling = False
        self.table.forget_others(people)
        self.count_label.setText(self.controller.count_text)
        self._update_buttons()

    def selected_ids(self) -> list[int]:
        """Ids of the selected people, in list order."""
        return self.table.selected_ids()

    def select_ids(self, ids: set[int] | list[int]) -> None:
        """Select these people in the list."""
        self.table.select_ids(ids)

    def _on_selection(self) -> None:
        if self._filling:
            return
        self.controller.select(self.selected_ids())

    def _update_buttons(self) -> None:
        n = len(self.selected_ids())
        busy = self.controller.busy
        self.add_samples_button.setEnabled(n == 1 and not busy)
        self.delete_button.setEnabled(n >= 1 and not busy)
        self.export_button.setEnabled(n >= 1 and not busy)
        self.import_button.setEnabled(not busy)
        self.enroll_button.setEnabled(not busy)
        shown = self.controller.current_id is not None
        self.details_panel.save_button.setEnabled(shown and not busy)
        self.details_panel.revert_button.setEnabled(shown and not busy)

    def _render_state(self) -> None:
        notice = self.controller.notice
        if notice is not None:
            self.status.setText(notice.text)
            self.status.setStyleSheet("color: #a40e26; font-weight: bold;" if notice.error else "")
        self.progress.setVisible(self.controller.busy)
        self._update_buttons()

    # -- details ----------------------------------------------------------------------------------

    def show_person(self, person_id: int | None) -> None:
        """Fill the details panel with one person (None: empty it), as stored now."""
        if person_id != self.controller.current_id:
            self.select_ids([person_id] if person_id is not None else [])
        self._render_details()

    def _render_details(self) -> None:
        person_id = self.controller.current_id
        if person_id is None:
            self.details_panel.show_person(None, selected=len(self.controller.selected))
        else:
            self.details_panel.show_person(self.controller.person(person_id), self.controller.thumbnail(person_id),
                                           self.controller.samples(person_id))
        self._update_buttons()

    def details_form(self) -> DetailsForm:
        """The edited details in the panel."""
        return self.details_panel.details_form()

    def save_details(self) -> None:
        """Store the edited details of the person shown."""
        if self.controller.current_id is not None:
            self.controller.update_details(self.controller.current_id, self.details_form())

    def remove_sample(self, sample_id: int) -> None:
        """Delete one sample (and its templates) of the person shown, after a confirmation."""
        if self.controller.current_id is not None:
            self.controller.remove_sample(self.controller.current_id, sample_id, self.confirm)

    # -- actions ------------------------------------------------------------------------------------

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this)."""
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def delete_selected(self) -> None:
        """Delete the selected people and every row of theirs, after a confirmation."""
        self.controller.remove_people(self.selected_ids(), self.confirm)

    def _open_enrollment(self, person_id: int | None) -> None:
        from ui.enrollment_dialog import EnrollmentDialog

        dialog = EnrollmentDialog(self.worker, self.gallery, self.config, parent=self, person_id=person_id,
                                  runner=self.runner, writer=self.writer, require_pin=False)
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
        self.controller.gallery_changed()
        self.select_ids([person_id])

    def ask_export_secret(self, count: int) -> tuple[bool, str | None]:
        """(go on, passphrase or None for a plain zip), from ExportSecretDialog (tests replace this)."""
        dialog = ExportSecretDialog(count, self)
        if not dialog.exec():
            return False, None
        return True, dialog.secret()

    def ask_import_passphrase(self, path: str) -> str | None:
        """The passphrase of an encrypted export, or None when cancelled (tests replace this)."""
        text, ok = QInputDialog.getText(self, "Import people", f"Passphrase of {Path(path).name}:",
                                        QLineEdit.EchoMode.Password)
        return text if ok else None

    def export_selected(self, path: str | None = None) -> None:
        """Write the selected people to an export file: encrypted with a passphrase asked twice,
        plain only when ticked and confirmed; the file is asked for when not given."""
        ids = self.selected_ids()
        if not ids:
            return
        go, secret = self.ask_export_secret(len(ids))
        if not go:
            return
        overwrite = False
        if path is None:
            default = f"face-kiosk-export-{dt.date.today():%Y%m%d}.{'fkx' if secret is not None else 'zip'}"
            path, _ = QFileDialog.getSaveFileName(self, "Export people", default, EXPORT_FILTER)
            if not path:
                return
            overwrite = True  # the save dialog asked whether to replace an existing file
        self.controller.export(ids, path, secret, overwrite=overwrite)

    def import_export(self, path: str | None = None) -> None:
        """Add everyone in an export file (its passphrase asked when it is encrypted); made by
        another model, they are re-embedded."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import people", "", EXPORT_FILTER)
            if not path:
                return
        secret = None
        if is_encrypted_export(path):
            secret = self.ask_import_passphrase(path)
            if secret is None:
                return
        self.controller.import_people(path, secret)

    # -- closing ------------------------------------------------------------------------------------

    def on_closed(self) -> None:  # noqa: D102 - PinGatedDialog hook
        for dialog in list(self.dialogs):
            dialog.close()
        self.controller.close()
        self.jobs.close()
