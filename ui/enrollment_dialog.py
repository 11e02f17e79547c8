"""The receptionist's enrollment dialog: guided camera capture, photo import, details, consent.

Opened from the live window as `EnrollmentDialog(worker, gallery, config, parent=...)`; it
borrows the live worker's camera and models (frames come from `worker.result_ready`, model
work goes through `worker.run_on_worker`), so there is one camera pipeline in the app.
Without a worker (e.g. from the gallery manager with no live window) only photos can be
added, through a private pipeline on its own thread.

Saving is two steps: the models make the templates and look for duplicates (off the GUI
thread), then one gallery transaction writes the person. Cancel, closing the dialog or an
error before that transaction leaves the gallery untouched.
"""

from __future__ import annotations

import contextlib
import html
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
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
from kiosk.enrollment.duplicates import DuplicateCandidate
from kiosk.enrollment.guided import CaptureSettings, CaptureStep, GuidedCapture, capture_plan
from kiosk.enrollment.photos import PhotoCheck, check_photo, image_files
from kiosk.enrollment.prepare import (
    PendingSample,
    PreparedEnrollment,
    prepare_enrollment,
    save_enrollment,
)
from kiosk.gallery.admin_pin import AdminPin
from kiosk.gallery.api import GalleryStore, PersonDetails, now_iso
from kiosk.recognition.live import FrameResult
from ui.enrollment_widgets import (
    CaptureOverlay,
    CaptureView,
    GateChecklist,
    PhotoRow,
    SampleSlot,
    rgb_pixmap,
)
from ui.jobs import BatchJob, FutureRelay, ModelRunner, PipelineThread, TaskThread
from ui.pin_dialog import PinGate, build_pin_gated

log = logging.getLogger(__name__)

CONSENT_SETTING = "consent_text"
DEFAULT_CONSENT = (
    "I agree that this reception desk stores photos of my face and face templates made from "
    "them, to recognise me and log my visits. They stay on this computer, are never sent "
    "anywhere, and are deleted on the retention date or when I ask."
)
MAX_PHOTOS = 20
PHOTO_FILTER = "Photos (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"


@dataclass
class PhotoEntry:
    """An imported photo in the dialog: its row and, once checked, what it offers."""

    path: Path
    row: PhotoRow
    check: PhotoCheck | None = None
    cancelled: bool = False


def consent_text(gallery: GalleryStore) -> str:
    """The consent wording shown and stored (an admin may have changed it in the settings)."""
    return gallery.get_setting(CONSENT_SETTING) or DEFAULT_CONSENT


class EnrollmentDialog(QDialog):
    """Enroll a new person, or add samples to `person_id`. Non-modal; emits `person_saved(id)`."""

    person_saved = Signal(int)

    def __init__(
        self,
        worker,
        gallery: GalleryStore,
        config: Config,
        *,
        parent: QWidget | None = None,
        person_id: int | None = None,
        runner: ModelRunner | None = None,
        require_pin: bool = True,
        admin_pin: AdminPin | None = None,
        capture_settings: CaptureSettings | None = None,
        steps: tuple[CaptureStep, ...] | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.gallery = gallery
        self.config = config
        self.person_id = person_id
        self.person = gallery.get_person(person_id) if person_id is not None else None
        self._own_runner = None if (runner or worker) else PipelineThread(config)
        self.runner: ModelRunner = runner or worker or self._own_runner
        self.capture = GuidedCapture(steps or capture_plan(config.match.use_masked_samples), capture_settings)
        self.photos: list[PhotoEntry] = []
        self.saved_person_id: int | None = None
        self.enroll_seconds: float | None = None
        self._unlocked_at: float | None = None
        self._capturing = False
        self._connected = False
        self._closing = False
        self._batch: BatchJob | None = None
        self._photo_queue: list[PhotoEntry] = []
        self._job = 0  # generation of the save job; a cancelled job's late result is ignored
        self._writing = False
        self._prepared: PreparedEnrollment | None = None
        self._consent_at: str | None = None
        self._relay = FutureRelay(self)
        self._db = TaskThread("face-kiosk-enroll-db")

        title = f"Add samples: {self.person.name}" if self.person else "Enroll a person"
        self.setWindowTitle(title)
        self.setAcceptDrops(True)
        self.resize(1180, 760)
        self.pin_gate: PinGate | None = None
        build_pin_gated(self, gallery, admin_pin, "enroll people", require_pin)

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
        self.host_edit.setPlaceholderText("whom they visit")
        self.notes_edit = QPlainTextEdit(details)
        self.notes_edit.setFixedHeight(56)
        self.retention_check = QCheckBox("Delete on", details)
        self.retention_date = QDateEdit(QDate.currentDate().addYears(1), details)
        self.retention_date.setCalendarPopup(True)
        self.retention_date.setDisplayFormat("yyyy-MM-dd")
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

        consent = QGroupBox("Consent *", panel)
        self.consent_label = QLabel(consent_text(self.gallery), consent)
        self.consent_label.setWordWrap(True)
        self.consent_label.setFrameShape(QFrame.Shape.StyledPanel)
        self.consent_label.setMargin(6)
        self.consent_check = QCheckBox("The visitor has read this and agrees", consent)
        self.consent_check.toggled.connect(self._on_consent)
        consent_layout = QVBoxLayout(consent)
        consent_layout.addWidget(self.consent_label)
        consent_layout.addWidget(self.consent_check)

        if self.person is not None:
            details.hide()
            consent.hide()
            target = QLabel(f"Adding samples to <b>{html.escape(self.person.name)}</b> "
                            f"({self.person.n_samples} samples stored now).", panel)
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
        self.save_button = QPushButton("Add samples" if self.person else "Save", panel)
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

    @property
    def unlocked(self) -> bool:
        """True once the PIN was entered (or none was required)."""
        return self.stack.currentWidget() is self.content

    def _unlock(self) -> None:
        self.stack.setCurrentWidget(self.content)
        self._unlocked_at = time.monotonic()
        if self.worker is not None:
            self.worker.result_ready.connect(self._on_result)
            self._connected = True
            self.view.show_worker(self.worker)
            self._capturing = True
        else:
            self.tabs.setCurrentIndex(1)
        self._update_overlay(None)
        self.name_edit.setFocus()

    def toggle_capture(self) -> None:
        """Pause or resume the automatic capture."""
        self._capturing = not self._capturing and self.worker is not None
        self.pause_button.setText("Pause" if self._capturing else "Resume")
        self._update_overlay(None)

    def start_over(self) -> None:
        """Drop every camera sample and capture again."""
        self.capture.reset()
        self._capturing = self.worker is not None
        self.pause_button.setText("Pause")
        self.pause_button.setEnabled(self._capturing)
        self._rebuild_samples()
        self._update_overlay(None)

    def retake(self, step: int) -> None:
        """Capture step `step` again."""
        self.capture.retake(step)
        self._capturing = self.worker is not None
        self.pause_button.setText("Pause")
        self.pause_button.setEnabled(self._capturing)
        self.tabs.setCurrentIndex(0)
        self._rebuild_samples()
        self._update_overlay(None)

    def _on_allow_mask(self, on: bool) -> None:
        self.capture.allow_masked_reference = on

    def _on_worker_failed(self, message: str) -> None:
        self.camera_note.setText(f"The camera cannot be used for enrollment: {message}")

    def _on_result(self, result: FrameResult) -> None:
        if self._closing or not self._capturing or self.capture.done:
            return
        faces = [tf.analysis for tf in result.faces]
        offer = self.capture.offer(faces, result.frame_size, result.timestamp)
        self.checklist.show_verdict(offer.verdict)
        self._update_overlay(offer.verdict, result, offer.instruction)
        if offer.captured is not None:
            self._rebuild_samples()
            if self.capture.done:
                self._capturing = False
                self.pause_button.setText("Pause")
                self.pause_button.setEnabled(False)
                self._update_overlay(None)
                self._refresh_status()

    def _update_overlay(self, verdict, result: FrameResult | None = None, instruction: str | None = None) -> None:
        index = self.capture.current
        total = len(self.capture.steps)
        if index is None:
            text, step = "All samples taken - fill in the details and save", ""
        elif not self._capturing:
            text, step = "Capture paused", ""
        else:
            text = instruction or self.capture.steps[index].instruction
            step = f"Sample {index + 1} of {total}"
        self.view.set_overlay(CaptureOverlay(
            instruction=text, step_text=step, verdict=verdict,
            frame_size=result.frame_size if result is not None else (1, 1),
            timestamp=result.timestamp if result is not None else 0.0,
            capturing=self._capturing and index is not None,
        ))

    # -- samples ----------------------------------------------------------------------------

    def pending_samples(self) -> list[PendingSample]:
        """Every sample that would be saved: camera captures, then usable photos."""
        out = [PendingSample(s.face, f"camera: {self.capture.steps[s.step].label or 'sample'} {s.step + 1}")
               for s in self.capture.samples]
        out += [PendingSample(e.check.face, str(e.path)) for e in self.photos
                if e.check is not None and e.check.face is not None]
        return out

    def _rebuild_samples(self) -> None:
        while self.samples_row.count():
            item = self.samples_row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        current = self.capture.current
        camera = self.worker is not None
        for i, step in enumerate(self.capture.steps):
            if not camera and self.capture.slots[i] is None:
                continue
            sample = self.capture.slots[i]
            caption = f"{i + 1}. {step.label or step.pose.value}"
            note = ""
            if sample is not None and sample.relaxed:
                caption += " (facing)"
                note = "The visitor did not turn; taken facing the camera."
            slot = SampleSlot(caption, "Retake", rgb_pixmap(sample.face.aligned, SampleSlot.THUMB) if sample else None,
                              note, active=camera and i == current and self._capturing)
            slot.action.connect(lambda i=i: self.retake(i))
            self.samples_row.addWidget(slot)
        for entry in self.photos:
            face = entry.check.face if entry.check is not None else None
            if face is None:
                continue
            slot = SampleSlot(f"photo: {entry.path.name}", "Remove", rgb_pixmap(face.aligned, SampleSlot.THUMB),
                              str(entry.path))
            slot.action.connect(lambda e=entry: self.remove_photo(e))
            self.samples_row.addWidget(slot)
        self.samples_row.addStretch(1)
        self._refresh_status()

    # -- photos -------------------------------------------------------------------------------

    def choose_photos(self) -> None:
        """Ask for photos and check them."""
        paths, _ = QFileDialog.getOpenFileNames(self, "Add photos of the person", "", PHOTO_FILTER)
        if paths:
            self.add_photos(paths)

    def add_photos(self, paths: list[str | Path]) -> None:
        """Check these photos (folders: the images inside) off the GUI thread, one row each."""
        files = image_files(list(paths))
        room = MAX_PHOTOS - len(self.photos)
        if len(files) > room:
            self._show_status(f"At most {MAX_PHOTOS} photos per person; {len(files) - room} were left out.", error=True)
            files = files[:max(0, room)]
        if not files:
            return
        self.tabs.setCurrentIndex(1)
        for path in files:
            row = PhotoRow(path.name)
            entry = PhotoEntry(path, row)
            row.picked.connect(lambda index, e=entry: self.pick_face(e, index))
            row.removed.connect(lambda e=entry: self.remove_photo(e))
            self.photo_list.insertWidget(self.photo_list.count() - 1, row)
            self.photos.append(entry)
            self._photo_queue.append(entry)
        self._start_photo_batch()

    def _start_photo_batch(self) -> None:
        if self._batch is not None or not self._photo_queue or self._closing:
            return
        items, self._photo_queue = self._photo_queue, []
        gates = self.capture.settings.gates
        batch = BatchJob(self.runner, items, lambda pipeline, entry: check_photo(pipeline, entry.path, gates), self)
        batch.item_done.connect(self._on_photo_checked)
        batch.progress.connect(self._on_photo_progress)
        batch.finished.connect(self._on_photo_batch_finished)
        self._batch = batch
        self.photo_progress.show()
        self.photo_cancel.show()
        batch.start()
        self._refresh_status()

    def _on_photo_progress(self, done: int, total: int) -> None:
        self.photo_progress.setRange(0, total)
        self.photo_progress.setValue(done)

    def _on_photo_checked(self, entry: PhotoEntry, check: PhotoCheck | None, error: BaseException | None) -> None:
        if entry not in self.photos:
            return  # removed while it was being checked
        if error is not None:
            entry.row.show_error(f"could not be checked: {error}")
            log.warning("enrollment: %s could not be checked: %s", entry.path, error)
        else:
            entry.check = check
            entry.row.show_check(check)
        self._rebuild_samples()

    def _on_photo_batch_finished(self, cancelled: bool) -> None:
        batch, self._batch = self._batch, None
        if batch is not None:
            batch.deleteLater()
        if cancelled:
            for entry in self.photos:
                if entry.check is None and not entry.cancelled:
                    entry.cancelled = True
                    entry.row.show_error("not checked (cancelled) - remove it, or add it again")
        self.photo_progress.hide()
        self.photo_cancel.hide()
        self._start_photo_batch()
        self._refresh_status()

    def cancel_photos(self) -> None:
        """Stop checking photos; those not checked yet are not used."""
        for entry in self._photo_queue:
            entry.cancelled = True
            entry.row.show_error("not checked (cancelled) - remove it, or add it again")
        self._photo_queue = []
        if self._batch is not None:
            self._batch.cancel()

    def pick_face(self, entry: PhotoEntry, index: int) -> None:
        """The operator chose face `index` of a photo with several people."""
        if entry.check is None:
            return
        entry.check = entry.check.pick(index, self.capture.settings.gates)
        entry.row.show_check(entry.check)
        self._rebuild_samples()

    def remove_photo(self, entry: PhotoEntry) -> None:
        """Drop a photo (and its sample)."""
        if entry in self.photos:
            self.photos.remove(entry)
        if entry in self._photo_queue:
            self._photo_queue.remove(entry)
        entry.row.setParent(None)
        entry.row.deleteLater()
        self._rebuild_samples()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if self.unlocked and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths and self.unlocked:
            event.acceptProposedAction()
            self.add_photos(paths)

    # -- details ------------------------------------------------------------------------------

    def _on_consent(self, on: bool) -> None:
        # The time the box was ticked is the time consent was given.
        self._consent_at = now_iso() if on else None
        self._refresh_status()

    def details(self) -> PersonDetails:
        """The typed details (new person)."""
        retention = None
        if self.retention_check.isChecked():
            retention = self.retention_date.date().toString(Qt.DateFormat.ISODate)
        return PersonDetails(
            name=self.name_edit.text().strip(), company=self.company_edit.text().strip(),
            host=self.host_edit.text().strip(), notes=self.notes_edit.toPlainText().strip(),
            consent_text=self.consent_label.text() if self.consent_check.isChecked() else "",
            consent_at=self._consent_at if self.consent_check.isChecked() else None,
            retention_until=retention,
        )

    def missing(self) -> list[str]:
        """What still stops saving (empty: ready)."""
        problems = []
        pending = self.pending_samples()
        if self._batch is not None or self._photo_queue:
            problems.append("wait until the photos are checked")
        if not pending:
            problems.append("take or add at least one sample")
        elif not self.allow_mask.isChecked() and all(p.face.masked for p in pending):
            problems.append("at least one sample without a mask (or tick \u201callow a masked reference\u201d)")
        if any(e.check is not None and e.check.needs_pick for e in self.photos):
            problems.append("pick the face in the photos with several people, or remove them")
        if self.person is None:
            if not self.name_edit.text().strip():
                problems.append("enter the name")
            if not self.consent_check.isChecked():
                problems.append("the visitor's consent")
        return problems

    def _refresh_status(self) -> None:
        if self._closing or self.busy_bar.isVisible():
            return
        n = len(self.pending_samples())
        problems = self.missing()
        if problems:
            self._show_status(f"{n} sample{'s' if n != 1 else ''}. To save: " + "; ".join(problems) + ".")
        else:
            self._show_status(f"{n} sample{'s' if n != 1 else ''}. Ready to save.")

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #a40e26; font-weight: bold;" if error else "")

    # -- saving ---------------------------------------------------------------------------------

    def save(self) -> None:
        """Make the templates, check for duplicates, then store (see the module doc)."""
        if self._writing or self.busy_bar.isVisible():
            return
        problems = self.missing()
        if problems:
            self._show_status("Cannot save yet: " + "; ".join(problems) + ".", error=True)
            return
        self.duplicate_panel.hide()
        pending = self.pending_samples()
        self._set_busy("Making the templates and checking for duplicates…")
        self._job += 1
        job = self._job
        gallery, match, exclude = self.gallery, self.config.match, self.person_id
        self._relay.watch(
            self.runner.run_on_worker(lambda pipeline: prepare_enrollment(pipeline, gallery, pending, match, exclude)),
            lambda prepared: self._on_prepared(job, prepared),
            lambda exc: self._on_failed(job, exc),
        )

    def _on_prepared(self, job: int, prepared: PreparedEnrollment) -> None:
        if job != self._job or self._closing:
            return
        self._prepared = prepared
        if prepared.duplicates:
            self._set_busy(None)
            self._offer_duplicates(prepared.duplicates)
            return
        self._write(prepared, self.person_id)

    def _offer_duplicates(self, candidates: list[DuplicateCandidate]) -> None:
        while self.duplicate_buttons.count():
            item = self.duplicate_buttons.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        names = ", ".join(f"<b>{html.escape(c.name)}</b> (similarity {c.score:.2f}, threshold {c.threshold:.2f})"
                          for c in candidates[:3])
        if self.person is None:
            self.duplicate_text.setText(f"Possible duplicate: this face already matches {names} in the gallery. "
                                        "Is it the same person?")
            for cand in candidates[:3]:
                button = QPushButton(f"Same person: add the samples to {cand.name}", self.duplicate_panel)
                button.clicked.connect(lambda checked=False, pid=cand.person_id: self._resolve_duplicate(pid))
                self.duplicate_buttons.addWidget(button)
            new = QPushButton("A different person: save as new", self.duplicate_panel)
            new.clicked.connect(lambda: self._resolve_duplicate(None))
        else:
            self.duplicate_text.setText(f"These samples look like {names}, not like "
                                        f"<b>{html.escape(self.person.name)}</b>. Check who is in front of the camera.")
            new = QPushButton(f"Add them to {self.person.name} anyway", self.duplicate_panel)
            new.clicked.connect(lambda: self._resolve_duplicate(self.person_id))
        self.duplicate_buttons.addWidget(new)
        back = QPushButton("Back (change nothing)", self.duplicate_panel)
        back.clicked.connect(self._dismiss_duplicates)
        self.duplicate_buttons.addWidget(back)
        self.duplicate_panel.show()
        self._show_status("Nothing is saved until you choose.", error=False)

    def _dismiss_duplicates(self) -> None:
        self.duplicate_panel.hide()
        self._prepared = None
        self._refresh_status()

    def _resolve_duplicate(self, person_id: int | None) -> None:
        prepared = self._prepared
        self.duplicate_panel.hide()
        if prepared is None:
            return
        self._write(prepared, person_id)

    def _write(self, prepared: PreparedEnrollment, person_id: int | None) -> None:
        details = None if person_id is not None else self.details()
        self._set_busy("Saving…")
        self._writing = True
        self.cancel_button.setEnabled(False)  # one transaction: it completes or leaves nothing
        job = self._job
        gallery = self.gallery
        self._relay.watch(
            # Any possible duplicate was shown and the receptionist chose where the samples go.
            self._db.submit(lambda: save_enrollment(gallery, prepared, details, person_id, allow_duplicate=True)),
            lambda pid: self._on_saved(job, pid),
            lambda exc: self._on_failed(job, exc),
        )

    def _on_saved(self, job: int, person_id: int) -> None:
        self._writing = False
        self.saved_person_id = person_id
        if self._unlocked_at is not None:
            self.enroll_seconds = time.monotonic() - self._unlocked_at
        n = len(self._prepared.samples) if self._prepared else 0
        log.info("enrollment: %d samples saved for person %d in %.1f s", n, person_id, self.enroll_seconds or 0.0)
        self.person_saved.emit(person_id)
        self.accept()

    def _on_failed(self, job: int, exc: BaseException) -> None:
        self._writing = False
        self.cancel_button.setEnabled(True)
        if job != self._job or self._closing:
            return
        self._set_busy(None)
        log.error("enrollment failed: %s", exc)
        self._show_status(f"Nothing was saved: {exc}", error=True)

    def _set_busy(self, text: str | None) -> None:
        busy = text is not None
        self.busy_bar.setVisible(busy)
        self.save_button.setEnabled(not busy)
        if busy:
            self._show_status(text)
        else:
            self.cancel_button.setEnabled(True)
            self._refresh_status()

    # -- closing ---------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Cancel a save in progress (nothing is stored), or close the dialog."""
        if self._writing:
            return
        if self.busy_bar.isVisible():
            self._job += 1  # the running job's result will be ignored
            self._set_busy(None)
            self._show_status("Cancelled; nothing was saved.")
            return
        self.reject()

    def done(self, result: int) -> None:  # noqa: D102 - QDialog override
        self._shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self._shutdown()
        super().closeEvent(event)

    def _shutdown(self) -> None:
        """Stop capturing and drop every pending job (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self._job += 1
        self._capturing = False
        if self._connected:
            self._connected = False
            with contextlib.suppress(RuntimeError, TypeError):
                self.worker.result_ready.disconnect(self._on_result)
        if self.worker is not None:
            with contextlib.suppress(RuntimeError, TypeError):
                self.worker.failed.disconnect(self._on_worker_failed)
        self.view.show_worker(None)
        self._photo_queue = []
        if self._batch is not None:
            self._batch.cancel()
        self._db.close()
        if self._own_runner is not None:
            self._own_runner.close()

