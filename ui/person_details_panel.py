"""The gallery manager's details panel (ui.gallery_manager): one person's photo, summary,
editable details and samples. It draws what it is given and reads back the edited details;
the manager decides (kiosk.enrollment.gallery_admin.GalleryManagerController)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from kiosk.enrollment.session_state import DetailsForm
from kiosk.gallery.api import Person, Sample
from ui.enrollment_widgets import SampleSlot, clear_layout, rgb_pixmap
from ui.person_fields import PersonFields


def short_time(iso: str | None) -> str:
    """'2026-11-26T09:45:12+00:00' -> '2026-11-26 09:45' ('never' for None)."""
    if not iso:
        return "never"
    try:
        return dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


class PersonDetailsPanel(QGroupBox):
    """Details of the person shown: `show_person` fills it, `details_form` reads the edits;
    `remove_sample(id)` when a sample's Remove is clicked. The manager connects the buttons."""

    remove_sample = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Details", parent)
        panel = self
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

        self.fields = PersonFields("whom they visit; an e-mail or apprise URL in it is notified", parent=panel)
        self.save_button = QPushButton("Save changes", panel)
        self.revert_button = QPushButton("Revert", panel)
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
        layout.addWidget(self.fields)
        layout.addLayout(buttons)
        layout.addWidget(QLabel("Samples", panel))
        layout.addWidget(scroll, 1)

    def show_person(self, person: Person | None, thumb: np.ndarray | None = None, samples: Sequence[Sample] = (),
                    selected: int = 0) -> None:
        """Fill the panel with `person` (its thumbnail and samples), or empty it (None, with
        `selected` people selected)."""
        clear_layout(self.samples_grid)
        self.fields.show_person(person)
        if person is None:
            self.photo.clear()
            self.summary.setText(f"{selected} people selected." if selected > 1
                                 else "Select a person to see and edit their details.")
            return
        if thumb is not None:
            self.photo.setPixmap(rgb_pixmap(thumb, 112))
        else:
            self.photo.clear()
        consent = (f"consent given {short_time(person.consent_at)}" if person.consent_at
                   else "<span style='color:#a40e26'>no consent recorded</span>")
        self.summary.setText(
            f"<b>{html.escape(person.name)}</b><br>{person.n_samples} samples, {person.n_templates} templates<br>"
            f"enrolled {short_time(person.created_at)}, last seen {short_time(person.last_seen)}<br>{consent}")
        self.summary.setToolTip(person.consent_text)
        for i, sample in enumerate(samples):
            sample_id, source = sample.id, sample.source
            caption = Path(source).name if source and not source.startswith("camera") else (source or "sample")
            if sample.masked:
                caption += " (mask)"
            slot = SampleSlot(caption, "Remove", rgb_pixmap(sample.aligned, 72), source)
            slot.image.setFixedSize(76, 76)
            slot.action.connect(lambda sid=sample_id: self.remove_sample.emit(sid))
            self.samples_grid.addWidget(slot, i // 4, i % 4)

    def details_form(self) -> DetailsForm:
        """The edited details in the panel."""
        return self.fields.details_form()
