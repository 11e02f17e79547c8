"""What an enrollment session shows (kiosk.enrollment.controller.EnrollmentController): the
consent wording, where the save is, the imported photos, the typed details, the camera prompt,
the status line, and the updates the view redraws from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, Flag, auto
from pathlib import Path

from kiosk.enrollment.photos import PhotoCheck
from kiosk.gallery.api import GalleryStore
from kiosk.vision.types import FaceAnalysis

CONSENT_SETTING = "consent_text"
DEFAULT_CONSENT = (
    "I agree that this reception desk stores photos of my face and face templates made from "
    "them, to recognise me and log my visits. They stay on this computer, are never sent "
    "anywhere, and are deleted on the retention date or when I ask."
)
MAX_PHOTOS = 20
#: How many possible duplicates are offered (the best ones).
MAX_DUPLICATES_SHOWN = 3
CANCELLED_PHOTO = "not checked (cancelled) - remove it, or add it again"


def consent_text(gallery: GalleryStore) -> str:
    """The consent wording shown and stored (an admin may have changed it in the settings)."""
    return gallery.get_setting(CONSENT_SETTING) or DEFAULT_CONSENT


@dataclass(frozen=True)
class Notice:
    """The status line: a text, and whether it is an error."""

    text: str
    error: bool = False

# -- the session's state -------------------------------------------------------------------------


class SaveState(Enum):
    """Where the save is. Only IDLE and CHOOSING accept edits that change what is saved."""

    IDLE = "idle"  # editing; nothing runs
    PREPARING = "preparing"  # templates and the duplicate check on the model thread (cancellable)
    CHOOSING = "choosing"  # possible duplicates are shown; nothing is saved until the operator chooses
    SAVING = "saving"  # the one gallery transaction (it completes or leaves nothing; not cancellable)
    SAVED = "saved"
    CLOSED = "closed"


class PhotoStatus(Enum):
    """Where one imported photo is."""

    QUEUED = "queued"
    CHECKING = "checking"
    CHECKED = "checked"  # `check` says what it offers (a face, an error, a pick to make)
    FAILED = "failed"  # the check itself failed (models not loaded, ...): `error`
    CANCELLED = "cancelled"


@dataclass(eq=False)
class PhotoItem:
    """An imported photo; compared by identity (the same file may be added twice)."""

    path: Path
    status: PhotoStatus = PhotoStatus.QUEUED
    check: PhotoCheck | None = None
    error: str = ""

    @property
    def cancelled(self) -> bool:
        """Its check was cancelled: it is not used."""
        return self.status is PhotoStatus.CANCELLED

    @property
    def face(self) -> FaceAnalysis | None:
        """The face it contributes as a sample, if any."""
        return self.check.face if self.check is not None else None

    @property
    def needs_pick(self) -> bool:
        """Several people of similar size: the operator must pick one (or remove the photo)."""
        return self.check is not None and self.check.needs_pick

    @property
    def message(self) -> str:
        """The line shown under the photo's name."""
        if self.status is PhotoStatus.CHECKED and self.check is not None:
            return self.check.summary()
        if self.status is PhotoStatus.FAILED:
            return f"could not be checked: {self.error}"
        if self.status is PhotoStatus.CANCELLED:
            return CANCELLED_PHOTO
        return "reading…"


@dataclass(frozen=True)
class DetailsForm:
    """What the receptionist typed (a new person); consent is the controller's own state."""

    name: str = ""
    company: str = ""
    host: str = ""
    notes: str = ""
    retention_until: str | None = None  # ISO date


@dataclass(frozen=True)
class Resolution:
    """The operator's answer to the possible duplicates: where the samples go."""

    person_id: int | None  # an enrolled person, or None: a new person


@dataclass(frozen=True)
class CapturePrompt:
    """What the camera view tells the visitor."""

    instruction: str
    step_text: str  # "Sample 2 of 5", or ""
    capturing: bool  # a step is being filled right now


class Change(Flag):
    """What an `Update` touched (the view redraws only that)."""

    STATE = auto()  # save state, status notice, duplicates
    SAMPLES = auto()  # the samples that would be saved (camera slots, usable photos)
    PHOTOS = auto()  # photo rows (`Update.photos` lists those to redraw) or the checking progress
    CAPTURE = auto()  # capture running / paused / done
    SAVED = auto()  # the person was saved (`saved_person_id`)


@dataclass(frozen=True)
class Update:
    """One notification to the view."""

    changes: Change
    photos: tuple[PhotoItem, ...] = ()


Listener = Callable[[Update], None]
