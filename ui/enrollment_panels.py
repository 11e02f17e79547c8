"""The parts of the enrollment dialog (ui.enrollment_dialog): the camera tab, the photos tab, the
samples strip and the person panel (details, consent, possible duplicates, status, Save and
Cancel), and an imported photo's entry. They build and draw widgets only; the dialog wires their signals to the session
(kiosk.enrollment.controller.EnrollmentController)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from kiosk.enrollment.duplicates import DuplicateCandidate
from kiosk.enrollment.guided import GuidedCapture
from kiosk.enrollment.photos import PhotoCheck
from kiosk.enrollment.session_state import DetailsForm, PhotoItem
from kiosk.gallery.api import Person
from ui.enrollment_widgets import (
    CaptureView,
    GateChecklist,
    PhotoRow,
    SampleSlot,
    clear_layout,
    rgb_pixmap,
)
from ui.person_fields import PersonFields


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


class CameraTab(QWidget):
    """The live picture with the capture overlay, the gate checklist and the capture buttons;
    disabled with a note when there is no `live` camera."""

    def __init__(self, live: bool) -> None:
        super().__init__()
        self.view = CaptureView(self)
        self.view.setMinimumSize(480, 300)
        self.checklist = GateChecklist(self)
        self.pause_button = QPushButton("Pause", self)
        self.restart_button = QPushButton("Start over", self)
        self.allow_mask = QCheckBox("Visitor keeps the mask on (allow a masked reference sample)", self)
        self.camera_note = QLabel(self)
        self.camera_note.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(self.pause_button)
        controls.addWidget(self.restart_button)
        controls.addStretch(1)
        controls.addWidget(self.allow_mask)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.checklist)
        layout.addLayout(controls)
        layout.addWidget(self.camera_note)
        if not live:
            self.camera_note.setText("No live camera in this window: add photos instead.")
            for widget in (self.view, self.pause_button, self.restart_button, self.checklist):
                widget.setEnabled(False)
        else:
            self.camera_note.setText("Samples are taken automatically when the face passes every check. "
                                     "Tell the visitor what the top of the picture says.")


class PhotosTab(QWidget):
    """Add photos, one row each, and the progress of their checks (with Cancel)."""

    def __init__(self) -> None:
        super().__init__()
        self.add_photos_button = QPushButton("Add photos…", self)
        hint = QLabel("or drop photos anywhere on this window. One person per photo; "
                      "each photo becomes one sample.", self)
        hint.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.add_photos_button)
        top.addWidget(hint, 1)
        self.photo_list = QVBoxLayout()
        self.photo_list.setSpacing(4)
        self.photo_list.addStretch(1)
        holder = QWidget()
        holder.setLayout(self.photo_list)
        scroll = QScrollArea(self)
        scroll.setWidget(holder)
        scroll.setWidgetResizable(True)
        self.photo_progress = QProgressBar(self)
        self.photo_progress.setFormat("checking photos: %v of %m")
        self.photo_cancel = QPushButton("Cancel", self)
        progress = QHBoxLayout()
        progress.addWidget(self.photo_progress, 1)
        progress.addWidget(self.photo_cancel)
        self.photo_progress.hide()
        self.photo_cancel.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)
        layout.addLayout(progress)

    def show_progress(self, progress: tuple[int, int] | None) -> None:
        """(checked, total) while photos are being checked; None hides the bar."""
        self.photo_progress.setVisible(progress is not None)
        self.photo_cancel.setVisible(progress is not None)
        if progress is not None:
            done, total = progress
            self.photo_progress.setRange(0, total)
            self.photo_progress.setValue(done)


class PersonPanel(QWidget):
    """The new person's details and consent (or whom samples are added to), the possible
    duplicates, the status line and the Save and Cancel buttons."""

    def __init__(self, consent_text: str, person: Person | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        panel = self
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        details = QGroupBox("Person", panel)
        self.fields = PersonFields("whom they visit, e.g. Grace Hopper <grace@example.com> (notified)",
                                   future_only=True, parent=details)
        QVBoxLayout(details).addWidget(self.fields)

        consent = QGroupBox("Consent *", panel)
        self.consent_label = QLabel(consent_text, consent)
        self.consent_label.setWordWrap(True)
        self.consent_label.setFrameShape(QFrame.Shape.StyledPanel)
        self.consent_label.setMargin(6)
        self.consent_check = QCheckBox("The visitor has read this and agrees", consent)
        consent_layout = QVBoxLayout(consent)
        consent_layout.addWidget(self.consent_label)
        consent_layout.addWidget(self.consent_check)

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
        self.cancel_button = QPushButton("Cancel", panel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        layout.addLayout(buttons)

    def details_form(self) -> DetailsForm:
        """The typed details (new person)."""
        return self.fields.details_form()

    def show_duplicates(self, candidates: list[DuplicateCandidate], person: Person | None,
                        resolve: Callable[[int | None], None], dismiss: Callable[[], None]) -> None:
        """Offer the possible duplicates: a button for each (`resolve(id)`), a new person
        (`resolve(None)`) or, adding samples to `person`, add anyway; and Back (`dismiss`)."""
        clear_layout(self.duplicate_buttons)
        names = ", ".join(f"<b>{html.escape(c.name)}</b> (similarity {c.score:.2f}, threshold {c.threshold:.2f})"
                          for c in candidates)
        if person is None:
            self.duplicate_text.setText(f"Possible duplicate: this face already matches {names} in the gallery. "
                                        "Is it the same person?")
            for cand in candidates:
                button = QPushButton(f"Same person: add the samples to {cand.name}", self.duplicate_panel)
                button.clicked.connect(lambda checked=False, pid=cand.person_id: resolve(pid))
                self.duplicate_buttons.addWidget(button)
            new = QPushButton("A different person: save as new", self.duplicate_panel)
            new.clicked.connect(lambda: resolve(None))
        else:
            self.duplicate_text.setText(f"These samples look like {names}, not like "
                                        f"<b>{html.escape(person.name)}</b>. Check who is in front of the camera.")
            new = QPushButton(f"Add them to {person.name} anyway", self.duplicate_panel)
            new.clicked.connect(lambda: resolve(person.id))
        self.duplicate_buttons.addWidget(new)
        back = QPushButton("Back (change nothing)", self.duplicate_panel)
        back.clicked.connect(dismiss)
        self.duplicate_buttons.addWidget(back)


class SamplesStrip(QGroupBox):
    """The samples that would be saved, in a row: the camera's steps (Retake), then the usable
    photos (Remove)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Samples", parent)
        self.samples_row = QHBoxLayout()
        self.samples_row.setSpacing(6)
        strip = QWidget()
        strip.setLayout(self.samples_row)
        self.samples_scroll = QScrollArea(self)
        self.samples_scroll.setWidget(strip)
        self.samples_scroll.setWidgetResizable(True)
        self.samples_scroll.setFixedHeight(190)
        self.samples_scroll.setFrameShape(QFrame.Shape.NoFrame)
        box_layout = QVBoxLayout(self)
        box_layout.setContentsMargins(6, 6, 6, 6)
        box_layout.addWidget(self.samples_scroll)

    def show_samples(self, capture: GuidedCapture, camera: bool, capturing: bool, photos: Sequence[PhotoEntry],
                     retake: Callable[[int], None], remove: Callable[[PhotoEntry], None]) -> None:
        """Draw the row again: each capture step (the current one marked while `capturing`; without
        a `camera` only the filled ones), then each photo that gives a face."""
        clear_layout(self.samples_row)
        current = capture.current
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
                              note, active=camera and i == current and capturing)
            slot.action.connect(lambda i=i: retake(i))
            self.samples_row.addWidget(slot)
        for entry in photos:
            face = entry.item.face
            if face is None:
                continue
            slot = SampleSlot(f"photo: {entry.path.name}", "Remove", rgb_pixmap(face.aligned, SampleSlot.THUMB),
                              str(entry.path))
            slot.action.connect(lambda e=entry: remove(e))
            self.samples_row.addWidget(slot)
        self.samples_row.addStretch(1)
