"""The receptionist's enrollment dialog: guided camera capture, photo import, details, consent.

Opened from the live window as `EnrollmentDialog(worker, gallery, config, parent=...)`; it
borrows the live worker's camera and models (frames come from `worker.result_ready`, model
work goes through `worker.run_on_worker`), so there is one camera pipeline in the app.
Without a worker (e.g. from the gallery manager with no live window) only photos can be
added, through a private pipeline on its own thread.

The session itself (photos, samples, consent, duplicates, saving) is
`kiosk.enrollment.controller.EnrollmentController`; this dialog is its view: widgets, the
wiring of their signals to the controller, and drawing the controller's state when it
reports an `Update`. Its parts (tabs, samples strip, person panel) are in
ui.enrollment_panels. The save writes through the gallery writer thread (ui.jobs) in one
transaction; cancel, closing the dialog or an error before it leaves the gallery untouched.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QTabWidget, QVBoxLayout, QWidget

from kiosk.capture.images import IMAGE_SUFFIXES
from kiosk.config import Config
from kiosk.enrollment.controller import EnrollmentController
from kiosk.enrollment.duplicates import DuplicateCandidate
from kiosk.enrollment.gates import Verdict
from kiosk.enrollment.guided import CaptureSettings, CaptureStep, GuidedCapture, capture_plan
from kiosk.enrollment.prepare import PendingSample
from kiosk.enrollment.session_state import (
    Change,
    DetailsForm,
    PhotoItem,
    PhotoStatus,
    SaveState,
    Update,
)
from kiosk.enrollment.threads import ModelRunner, Writer
from kiosk.gallery.admin_pin import AdminPin
from kiosk.gallery.api import GalleryStore
from kiosk.recognition.live import FrameResult
from ui.dialog_jobs import DialogJobs
from ui.enrollment_panels import CameraTab, PersonPanel, PhotoEntry, PhotosTab, SamplesStrip
from ui.enrollment_widgets import CaptureOverlay, PhotoRow
from ui.jobs import gui_post
from ui.pin_dialog import PinGatedDialog

if TYPE_CHECKING:
    from ui.worker import LiveWorker

log = logging.getLogger(__name__)

PHOTO_FILTER = "Photos (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"


class EnrollmentDialog(PinGatedDialog):
    """Enroll a new person, or add samples to `person_id`. Non-modal; emits `person_saved(id)`."""

    person_saved = Signal(int)

    def __init__(
        self,
        worker: LiveWorker | None,
        gallery: GalleryStore,
        config: Config,
        *,
        parent: QWidget | None = None,
        person_id: int | None = None,
        runner: ModelRunner | None = None,
        writer: Writer | None = None,
        require_pin: bool = True,
        admin_pin: AdminPin | None = None,
        capture_settings: CaptureSettings | None = None,
        steps: tuple[CaptureStep, ...] | None = None,
    ) -> None:
        super().__init__(gallery, "enroll people", require_pin=require_pin, admin_pin=admin_pin, parent=parent)
        self.worker = worker
        self.gallery = gallery
        self.config = config
        self.jobs = DialogJobs(config, runner if runner is not None else worker, writer)
        self.runner, writer = self.jobs.runner, self.jobs.writer
        capture = GuidedCapture(steps or capture_plan(config.match.use_masked_samples), capture_settings)
        self.controller = EnrollmentController(
            gallery, self.runner, writer, capture,
            post=gui_post(), person_id=person_id, camera=worker is not None, match=config.match,
        )
        self.controller.listeners.append(self._on_update)
        self._entries: dict[PhotoItem, PhotoEntry] = {}
        self._offered: list[DuplicateCandidate] = []
        self._connected = False

        person = self.controller.person
        self.setWindowTitle(f"Add samples: {person.name}" if person is not None else "Enroll a person")
        self.setAcceptDrops(True)
        self.resize(1180, 760)
        self.set_content(self._build_content())

    # -- what tests and callers read --------------------------------------------------------------

    @property
    def person_id(self) -> int | None:
        """The person samples are added to (None: a new person)."""
        return self.controller.person_id

    @property
    def capture(self) -> GuidedCapture:
        """The guided camera capture."""
        return self.controller.capture

    @property
    def photos(self) -> list[PhotoEntry]:
        """The imported photos with their rows, in the order they were added."""
        return [self._entries[item] for item in self.controller.photos if item in self._entries]

    @property
    def checking_photos(self) -> bool:
        """Photos are being checked or wait to be."""
        return self.controller.checking_photos

    @property
    def busy(self) -> bool:
        """A save runs."""
        return self.controller.busy

    @property
    def saved_person_id(self) -> int | None:
        """The person saved (once saved)."""
        return self.controller.saved_person_id

    @property
    def enroll_seconds(self) -> float | None:
        """Seconds from the content showing to the save."""
        return self.controller.enroll_seconds

    def pending_samples(self) -> list[PendingSample]:
        """Every sample that would be saved: camera captures, then usable photos."""
        return self.controller.pending_samples()

    def missing(self) -> list[str]:
        """What still stops saving (empty: ready)."""
        return self.controller.missing()

    # -- building ----------------------------------------------------------------------------

    def _build_content(self) -> QWidget:
        content = QWidget(self)
        self.tabs = QTabWidget(content)
        self.camera_tab = CameraTab(live=self.worker is not None)
        self.tabs.addTab(self.camera_tab, "Camera")
        self.photos_tab = PhotosTab()
        self.tabs.addTab(self.photos_tab, "Photos")

        self.samples = SamplesStrip(content)
        left = QVBoxLayout()
        left.addWidget(self.tabs, 1)
        left.addWidget(self.samples)
        right = self.person_panel = PersonPanel(self.controller.consent_text, self.controller.person, self)
        self._connect_parts()
        row = QHBoxLayout(content)
        row.setContentsMargins(0, 0, 0, 0)
        row.addLayout(left, 3)
        row.addWidget(right, 2)
        self._rebuild_samples()
        return content

    def _connect_parts(self) -> None:
        camera, photos, panel = self.camera_tab, self.photos_tab, self.person_panel
        # The widgets the dialog draws into, and callers and tests reach.
        self.view, self.checklist, self.camera_note = camera.view, camera.checklist, camera.camera_note
        self.pause_button, self.allow_mask = camera.pause_button, camera.allow_mask
        self.photo_list, self.photo_cancel = photos.photo_list, photos.photo_cancel
        fields = panel.fields
        self.name_edit, self.company_edit, self.host_edit = fields.name_edit, fields.company_edit, fields.host_edit
        self.retention_check, self.consent_check = fields.retention_check, panel.consent_check
        self.status, self.busy_bar, self.save_button, self.cancel_button = (
            panel.status, panel.busy_bar, panel.save_button, panel.cancel_button)
        self.duplicate_panel, self.duplicate_text = panel.duplicate_panel, panel.duplicate_text
        camera.pause_button.clicked.connect(self.toggle_capture)
        camera.restart_button.clicked.connect(self.start_over)
        camera.allow_mask.toggled.connect(self._on_allow_mask)
        if self.worker is not None:
            self.worker.failed.connect(self._on_worker_failed)
        photos.add_photos_button.clicked.connect(self.choose_photos)
        photos.photo_cancel.clicked.connect(self.cancel_photos)
        for edit in (fields.name_edit, fields.company_edit, fields.host_edit):
            edit.textChanged.connect(self._push_details)
        fields.notes_edit.textChanged.connect(self._push_details)
        fields.retention_check.toggled.connect(self._push_details)
        fields.retention_date.dateChanged.connect(self._push_details)
        panel.consent_check.toggled.connect(self.controller.give_consent)
        panel.save_button.clicked.connect(self.save)
        panel.cancel_button.clicked.connect(self.cancel)

    # -- unlocking and the camera -----------------------------------------------------------

    def on_unlocked(self) -> None:  # noqa: D102 - PinGatedDialog hook
        if self.worker is not None:
            self.worker.result_ready.connect(self._on_result)
            self._connected = True
            self.view.show_worker(self.worker)
        else:
            self.tabs.setCurrentIndex(1)
        self.controller.start()
        self._update_overlay(None)
        self.name_edit.setFocus()

    def toggle_capture(self) -> None:
        """Pause or resume the automatic capture."""
        self.controller.toggle_capture()

    def start_over(self) -> None:
        """Drop every camera sample and capture again."""
        self.controller.start_over()

    def retake(self, step: int) -> None:
        """Capture step `step` again."""
        self.tabs.setCurrentIndex(0)
        self.controller.retake(step)

    def _on_allow_mask(self, on: bool) -> None:
        self.controller.allow_masked_reference = on

    def _on_worker_failed(self, message: str) -> None:
        self.camera_note.setText(f"The camera cannot be used for enrollment: {message}")

    def _on_result(self, result: FrameResult) -> None:
        offer = self.controller.offer_tracked(result.faces, result.frame_size, result.timestamp)
        if offer is None:
            return
        self.checklist.show_verdict(offer.verdict)
        if self.controller.capturing:
            self._update_overlay(offer.verdict, result, offer.instruction)
        else:  # that frame filled the last slot
            self._update_overlay(None)

    def _update_overlay(self, verdict: Verdict | None, result: FrameResult | None = None,
                        instruction: str | None = None) -> None:
        prompt = self.controller.prompt(instruction)
        self.view.set_overlay(CaptureOverlay(
            instruction=prompt.instruction, step_text=prompt.step_text, verdict=verdict,
            frame_size=result.frame_size if result is not None else (1, 1),
            timestamp=result.timestamp if result is not None else 0.0,
            capturing=prompt.capturing,
        ))

    # -- drawing the controller's state ---------------------------------------------------------

    def _on_update(self, update: Update) -> None:
        changes = update.changes
        if Change.PHOTOS in changes:
            for item in update.photos:
                entry = self._entries.get(item)
                if entry is not None:
                    self._render_row(entry)
            self._render_progress()
        if Change.SAMPLES in changes:
            self._rebuild_samples()
        if Change.CAPTURE in changes:
            self._render_capture()
        if Change.STATE in changes:
            self._render_state()
        if Change.SAVED in changes and self.controller.saved_person_id is not None:
            self.person_saved.emit(self.controller.saved_person_id)
            self.accept()

    def _render_capture(self) -> None:
        controller = self.controller
        self.pause_button.setText("Pause" if controller.capturing or controller.capture.done else "Resume")
        self.pause_button.setEnabled(controller.camera and not controller.capture.done)
        self._update_overlay(None)

    def _render_state(self) -> None:
        controller = self.controller
        notice = controller.notice
        self.status.setText(notice.text)
        self.status.setStyleSheet("color: #a40e26; font-weight: bold;" if notice.error else "")
        self.busy_bar.setVisible(controller.busy)
        self.save_button.setEnabled(not controller.busy)
        # One transaction: it completes or leaves nothing, and is not interrupted.
        self.cancel_button.setEnabled(controller.state is not SaveState.SAVING)
        choosing = controller.state is SaveState.CHOOSING
        if choosing and controller.duplicates != self._offered:
            self._offer_duplicates(controller.duplicates)
        if not choosing:
            self._offered = []
        self.duplicate_panel.setVisible(choosing)

    def _render_row(self, entry: PhotoEntry) -> None:
        item = entry.item
        if item.status is PhotoStatus.CHECKED and item.check is not None:
            entry.row.show_check(item.check)
        elif item.status in (PhotoStatus.FAILED, PhotoStatus.CANCELLED):
            entry.row.show_error(item.message)

    def _render_progress(self) -> None:
        self.photos_tab.show_progress(self.controller.photo_progress)

    def _rebuild_samples(self) -> None:
        self.samples.show_samples(self.controller.capture, self.controller.camera, self.controller.capturing,
                                  self.photos, self.retake, self.remove_photo)

    def _offer_duplicates(self, candidates: list[DuplicateCandidate]) -> None:
        self._offered = list(candidates)
        self.person_panel.show_duplicates(candidates, self.controller.person, self.controller.resolve_duplicate,
                                          self.controller.dismiss_duplicates)

    # -- photos -------------------------------------------------------------------------------

    def choose_photos(self) -> None:
        """Ask for photos and check them."""
        paths, _ = QFileDialog.getOpenFileNames(self, "Add photos of the person", "", PHOTO_FILTER)
        if paths:
            self.add_photos(paths)

    def add_photos(self, paths: list[str | Path] | list[str] | list[Path]) -> None:
        """Check these photos (folders: the images inside) off the GUI thread, one row each."""
        items = self.controller.add_photos(list(paths))
        if not items:
            return
        self.tabs.setCurrentIndex(1)
        for item in items:
            row = PhotoRow(item.path.name)
            entry = PhotoEntry(item, row)
            row.picked.connect(lambda index, e=entry: self.pick_face(e, index))
            row.removed.connect(lambda e=entry: self.remove_photo(e))
            self.photo_list.insertWidget(self.photo_list.count() - 1, row)
            self._entries[item] = entry
            self._render_row(entry)  # a check may have finished already
        self._rebuild_samples()
        self._render_progress()

    def cancel_photos(self) -> None:
        """Stop checking photos; those not checked yet are not used."""
        self.controller.cancel_photos()

    def pick_face(self, entry: PhotoEntry, index: int) -> None:
        """The operator chose face `index` of a photo with several people."""
        self.controller.pick_face(entry.item, index)

    def remove_photo(self, entry: PhotoEntry) -> None:
        """Drop a photo (and its sample)."""
        self._entries.pop(entry.item, None)
        self.controller.remove_photo(entry.item)
        entry.row.setParent(None)
        entry.row.deleteLater()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if self.unlocked and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths and self.unlocked:
            event.acceptProposedAction()
            self.add_photos(paths)

    # -- details and saving -------------------------------------------------------------------

    def details_form(self) -> DetailsForm:
        """The typed details (new person)."""
        return self.person_panel.details_form()

    def _push_details(self) -> None:
        self.controller.set_details(self.details_form())

    def save(self) -> None:
        """Make the templates, check for duplicates, then store (see the module doc)."""
        self.controller.save()

    def cancel(self) -> None:
        """Cancel a save in progress (nothing is stored), or close the dialog."""
        if self.controller.state is SaveState.SAVING:
            return
        if not self.controller.cancel():
            self.reject()

    # -- closing ---------------------------------------------------------------------------------

    def on_closed(self) -> None:
        """Stop capturing and drop every pending job (PinGatedDialog's hook: once)."""
        self.controller.close()
        if self.worker is not None:
            if self._connected:
                self._connected = False
                with contextlib.suppress(RuntimeError, TypeError):
                    self.worker.result_ready.disconnect(self._on_result)
            with contextlib.suppress(RuntimeError, TypeError):
                self.worker.failed.disconnect(self._on_worker_failed)
        self.view.show_worker(None)
        self.jobs.close()
