"""The receptionist's enrollment dialog: guided camera capture, photo import, details, consent.

Opened from the live window as `EnrollmentDialog(worker, gallery, config, parent=...)`; it
borrows the live worker's camera and models (frames come from `worker.result_ready`, model
work goes through `worker.run_on_worker`), so there is one camera pipeline in the app.
Without a worker (e.g. from the gallery manager with no live window) only photos can be
added, through a private pipeline on its own thread.

The session itself (photos, samples, consent, duplicates, saving) is
`kiosk.enrollment.controller.EnrollmentController`; this dialog is its view: widgets, the
wiring of their signals to the controller, and drawing the controller's state when it
reports an `Update`. The save writes through the gallery writer thread (ui.jobs) in one
transaction; cancel, closing the dialog or an error before it leaves the gallery untouched.
"""

from __future__ import annotations

import contextlib
import html
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.capture.images import IMAGE_SUFFIXES
from kiosk.config import Config
from kiosk.enrollment.controller import EnrollmentController
from kiosk.enrollment.duplicates import DuplicateCandidate
from kiosk.enrollment.gates import Verdict
from kiosk.enrollment.guided import CaptureSettings, CaptureStep, GuidedCapture, capture_plan
from kiosk.enrollment.photos import PhotoCheck
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
from ui.enrollment_widgets import (
    CaptureOverlay,
    CaptureView,
    GateChecklist,
    PhotoRow,
    SampleSlot,
    clear_layout,
    rgb_pixmap,
)
from ui.jobs import PipelineThread, gallery_writer, gui_post
from ui.pin_dialog import PinGatedDialog

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from ui.worker import LiveWorker

log = logging.getLogger(__name__)

PHOTO_FILTER = "Photos (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"


@dataclass(frozen=True)
class PhotoEntry:
    """An imported photo in the dialog: the controller's item and its row."""

    item: PhotoItem
    row: PhotoRow

    @property
    def path(self) -> Path:
        """The photo's file."""
        return self.item.path

    @property
    def check(self) -> PhotoCheck | None:
        """What the check found (None until checked)."""
        return self.item.check

    @property
    def cancelled(self) -> bool:
        """Its check was cancelled (it is not used)."""
        return self.item.cancelled


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
        self._own_runner: PipelineThread | None = None
        self.runner: ModelRunner
        if runner is not None:
            self.runner = runner
        elif worker is not None:
            self.runner = worker
        else:
            self.runner = self._own_runner = PipelineThread(config)
        self._own_writer: ThreadPoolExecutor | None = None
        if writer is None:
            writer = self._own_writer = gallery_writer()
        capture = GuidedCapture(steps or capture_plan(config.match.use_masked_samples), capture_settings)
        self.controller = EnrollmentController(
            gallery, self.runner, writer, capture,
            post=gui_post(), person_id=person_id, camera=worker is not None, match=config.match,
        )
        self.controller.listeners.append(self._on_update)
        self._entries: dict[PhotoItem, PhotoEntry] = {}
        self._offered: list[DuplicateCandidate] = []
        self._connected = False
        self._shut_down = False

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
        self.tabs.addTab(self._build_camera_tab(), "Camera")
        self.tabs.addTab(self._build_photos_tab(), "Photos")

        samples_box = QGroupBox("Samples", content)
        self.samples_row = QHBoxLayout()
        self.samples_row.setSpacing(6)
        strip = QWidget()
        strip.setLayout(self.samples_row)
        self.samples_scroll = QScrollArea(samples_box)
        self.samples_scroll.setWidget(strip)
        self.samples_scroll.setWidgetResizable(True)
        self.samples_scroll.setFixedHeight(190)
        self.samples_scroll.setFrameShape(QFrame.Shape.NoFrame)
        box_layout = QVBoxLayout(samples_box)
        box_layout.setContentsMargins(6, 6, 6, 6)
        box_layout.addWidget(self.samples_scroll)

        left = QVBoxLayout()
        left.addWidget(self.tabs, 1)
        left.addWidget(samples_box)
        right = self._build_details()
        row = QHBoxLayout(content)
        row.setContentsMargins(0, 0, 0, 0)
        row.addLayout(left, 3)
        row.addWidget(right, 2)
        self._rebuild_samples()
        return content

    def _build_camera_tab(self) -> QWidget:
        tab = QWidget()
        self.view = CaptureView(tab)
        self.view.setMinimumSize(480, 300)
        self.checklist = GateChecklist(tab)
        self.pause_button = QPushButton("Pause", tab)
        self.pause_button.clicked.connect(self.toggle_capture)
        self.restart_button = QPushButton("Start over", tab)
        self.restart_button.clicked.connect(self.start_over)
        self.allow_mask = QCheckBox("Visitor keeps the mask on (allow a masked reference sample)", tab)
        self.allow_mask.toggled.connect(self._on_allow_mask)
        self.camera_note = QLabel(tab)
        self.camera_note.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(self.pause_button)
        controls.addWidget(self.restart_button)
        controls.addStretch(1)
        controls.addWidget(self.allow_mask)
        layout = QVBoxLayout(tab)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.checklist)
        layout.addLayout(controls)
        layout.addWidget(self.camera_note)
        if self.worker is None:
            self.camera_note.setText("No live camera in this window: add photos instead.")
            for widget in (self.view, self.pause_button, self.restart_button, self.checklist):
                widget.setEnabled(False)
        else:
            self.camera_note.setText("Samples are taken automatically when the face passes every check. "
                                     "Tell the visitor what the top of the picture says.")
            self.worker.failed.connect(self._on_worker_failed)
        return tab

    def _build_photos_tab(self) -> QWidget:
        tab = QWidget()
        self.add_photos_button = QPushButton("Add photos…", tab)
        self.add_photos_button.clicked.connect(self.choose_photos)
        hint = QLabel("or drop photos anywhere on this window. One person per photo; "
                      "each photo becomes one sample.", tab)
        hint.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.add_photos_button)
        top.addWidget(hint, 1)
        self.photo_list = QVBoxLayout()
        self.photo_list.setSpacing(4)
        self.photo_list.addStretch(1)
        holder = QWidget()
        holder.setLayout(self.photo_list)
        scroll = QScrollArea(tab)
        scroll.setWidget(holder)
        scroll.setWidgetResizable(True)
        self.photo_progress = QProgressBar(tab)
        self.photo_progress.setFormat("checking photos: %v of %m")
        self.photo_cancel = QPushButton("Cancel", tab)
        self.photo_cancel.clicked.connect(self.cancel_photos)
        progress = QHBoxLayout()
        progress.addWidget(self.photo_progress, 1)
        progress.addWidget(self.photo_cancel)
        self.photo_progress.hide()
        self.photo_cancel.hide()
        layout = QVBoxLayout(tab)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)
        layout.addLayout(progress)
        return tab

    def _build_details(self) -> QWidget:
        panel = QWidget(self)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        details = QGroupBox("Person", panel)
        form = QFormLayout(details)
        self.name_edit = QLineEdit(details)
        self.name_edit.setPlaceholderText("required")
        self.company_edit = QLineEdit(details)
        self.host_edit = QLineEdit(details)
        self.host_edit.setPlaceholderText("whom they visit, e.g. Grace Hopper <grace@example.com> (notified)")
        self.notes_edit = QPlainTextEdit(details)
        self.notes_edit.setFixedHeight(56)
        self.retention_check = QCheckBox("Delete on", details)
        self.retention_date = QDateEdit(QDate.currentDate().addYears(1), details)
        self.retention_date.setCalendarPopup(True)
        self.retention_date.setDisplayFormat("yyyy-MM-dd")
        self.retention_date.setMinimumDate(QDate.currentDate().addDays(1))
        self.retention_date.setEnabled(False)
        self.retention_check.toggled.connect(self.retention_date.setEnabled)
        for edit in (self.name_edit, self.company_edit, self.host_edit):
            edit.textChanged.connect(self._push_details)
        self.notes_edit.textChanged.connect(self._push_details)
        self.retention_check.toggled.connect(self._push_details)
        self.retention_date.dateChanged.connect(self._push_details)
        retention = QHBoxLayout()
        retention.addWidget(self.retention_check)
        retention.addWidget(self.retention_date, 1)
        form.addRow("Name *", self.name_edit)
        form.addRow("Company", self.company_edit)
        form.addRow("Host", self.host_edit)
        form.addRow("Notes", self.notes_edit)
        form.addRow("Retention", retention)

        consent = QGroupBox("Consent *", panel)
        self.consent_label = QLabel(self.controller.consent_text, consent)
        self.consent_label.setWordWrap(True)
        self.consent_label.setFrameShape(QFrame.Shape.StyledPanel)
        self.consent_label.setMargin(6)
        self.consent_check = QCheckBox("The visitor has read this and agrees", consent)
        self.consent_check.toggled.connect(self.controller.give_consent)
        consent_layout = QVBoxLayout(consent)
        consent_layout.addWidget(self.consent_label)
        consent_layout.addWidget(self.consent_check)

        person = self.controller.person
        if person is not None:
            details.hide()
            consent.hide()
            target = QLabel(f"Adding samples to <b>{html.escape(person.name)}</b> "
                            f"({person.n_samples} samples stored now).", panel)
            target.setWordWrap(True)
            layout.addWidget(target)
        layout.addWidget(details)
        layout.addWidget(consent)

        self.duplicate_panel = QFrame(panel)
        self.duplicate_panel.setFrameShape(QFrame.Shape.StyledPanel)
        self.duplicate_panel.setStyleSheet("QFrame { background: #fff8c5; }")
        self.duplicate_text = QLabel(self.duplicate_panel)
        self.duplicate_text.setWordWrap(True)
        self.duplicate_buttons = QVBoxLayout()
        dup_layout = QVBoxLayout(self.duplicate_panel)
        dup_layout.addWidget(self.duplicate_text)
        dup_layout.addLayout(self.duplicate_buttons)
        self.duplicate_panel.hide()
        layout.addWidget(self.duplicate_panel)

        layout.addStretch(1)
        self.status = QLabel(panel)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.busy_bar = QProgressBar(panel)
        self.busy_bar.setRange(0, 0)
        self.busy_bar.hide()
        layout.addWidget(self.busy_bar)
        self.save_button = QPushButton("Add samples" if person is not None else "Save", panel)
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        self.cancel_button = QPushButton("Cancel", panel)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        layout.addLayout(buttons)
        return panel

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
        offer = self.controller.offer_frame([tf.analysis for tf in result.faces], result.frame_size,
                                            result.timestamp)
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
        progress = self.controller.photo_progress
        self.photo_progress.setVisible(progress is not None)
        self.photo_cancel.setVisible(progress is not None)
        if progress is not None:
            done, total = progress
            self.photo_progress.setRange(0, total)
            self.photo_progress.setValue(done)

    def _rebuild_samples(self) -> None:
        clear_layout(self.samples_row)
        capture = self.controller.capture
        current = capture.current
        camera = self.controller.camera
        for i, step in enumerate(capture.steps):
            sample = capture.slots[i]
            if not camera and sample is None:
                continue
            caption = f"{i + 1}. {step.label or step.pose.value}"
            note = ""
            if sample is not None and sample.relaxed:
                caption += " (facing)"
                note = "The visitor did not turn; taken facing the camera."
            slot = SampleSlot(caption, "Retake", rgb_pixmap(sample.face.aligned, SampleSlot.THUMB) if sample else None,
                              note, active=camera and i == current and self.controller.capturing)
            slot.action.connect(lambda i=i: self.retake(i))
            self.samples_row.addWidget(slot)
        for entry in self.photos:
            face = entry.item.face
            if face is None:
                continue
            slot = SampleSlot(f"photo: {entry.path.name}", "Remove", rgb_pixmap(face.aligned, SampleSlot.THUMB),
                              str(entry.path))
            slot.action.connect(lambda e=entry: self.remove_photo(e))
            self.samples_row.addWidget(slot)
        self.samples_row.addStretch(1)

    def _offer_duplicates(self, candidates: list[DuplicateCandidate]) -> None:
        clear_layout(self.duplicate_buttons)
        self._offered = list(candidates)
        names = ", ".join(f"<b>{html.escape(c.name)}</b> (similarity {c.score:.2f}, threshold {c.threshold:.2f})"
                          for c in candidates)
        person = self.controller.person
        if person is None:
            self.duplicate_text.setText(f"Possible duplicate: this face already matches {names} in the gallery. "
                                        "Is it the same person?")
            for cand in candidates:
                button = QPushButton(f"Same person: add the samples to {cand.name}", self.duplicate_panel)
                button.clicked.connect(lambda checked=False, pid=cand.person_id: self.controller.resolve_duplicate(pid))
                self.duplicate_buttons.addWidget(button)
            new = QPushButton("A different person: save as new", self.duplicate_panel)
            new.clicked.connect(lambda: self.controller.resolve_duplicate(None))
        else:
            self.duplicate_text.setText(f"These samples look like {names}, not like "
                                        f"<b>{html.escape(person.name)}</b>. Check who is in front of the camera.")
            new = QPushButton(f"Add them to {person.name} anyway", self.duplicate_panel)
            new.clicked.connect(lambda: self.controller.resolve_duplicate(person.id))
        self.duplicate_buttons.addWidget(new)
        back = QPushButton("Back (change nothing)", self.duplicate_panel)
        back.clicked.connect(self.controller.dismiss_duplicates)
        self.duplicate_buttons.addWidget(back)

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
        retention = None
        if self.retention_check.isChecked():
            retention = self.retention_date.date().toString(Qt.DateFormat.ISODate)
        return DetailsForm(
            name=self.name_edit.text(), company=self.company_edit.text(), host=self.host_edit.text(),
            notes=self.notes_edit.toPlainText(), retention_until=retention,
        )

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

    def done(self, result: int) -> None:  # noqa: D102 - QDialog override
        self._shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self._shutdown()
        super().closeEvent(event)

    def _shutdown(self) -> None:
        """Stop capturing and drop every pending job (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.controller.close()
        if self.worker is not None:
            if self._connected:
                self._connected = False
                with contextlib.suppress(RuntimeError, TypeError):
                    self.worker.result_ready.disconnect(self._on_result)
            with contextlib.suppress(RuntimeError, TypeError):
                self.worker.failed.disconnect(self._on_worker_failed)
        self.view.show_worker(None)
        if self._own_writer is not None:
            self._own_writer.shutdown(wait=True, cancel_futures=True)
        if self._own_runner is not None:
            self._own_runner.close()
