"""The enrollment session, Qt-free: everything the enrollment dialog shows and does, without widgets.

`EnrollmentController` holds one session: the photos and their checks, the guided camera
capture, the typed details, the consent (its text and the time it was given), the possible
duplicates and the operator's choice among them, and where the save is (`SaveState`). The
dialog (ui.enrollment_dialog) only draws this state and forwards clicks; tests drive the
controller directly, without Qt.

Threads. The controller belongs to one thread (the GUI's) and is not thread-safe. Model work
goes to a `ModelRunner` (the live worker's thread, or a private pipeline thread), the one
gallery write to a `Writer` (the app's single writer thread), and every outcome comes back
through `post`, which runs a callback on the controller's thread (in the GUI: a queued
signal, ui.jobs.gui_post; in tests: `run_here` or a test loop). Each job has an id; an outcome whose id is no
longer the one awaited (the job was cancelled, restarted, or the session closed) is dropped.

Saving is two steps: `prepare_enrollment` makes the templates and looks for duplicates on the
model thread; then `save_enrollment`, one gallery transaction, writes the person. Cancelling,
closing or an error before that transaction leaves the gallery untouched.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from enum import Enum, Flag, auto
from pathlib import Path
from typing import Protocol, TypeVar

from kiosk.config import MatchConfig
from kiosk.enrollment.duplicates import DuplicateCandidate
from kiosk.enrollment.guided import GuidedCapture, Offer
from kiosk.enrollment.photos import PhotoCheck, check_photo, image_files
from kiosk.enrollment.prepare import (
    DuplicateError,
    PendingSample,
    PreparedEnrollment,
    prepare_enrollment,
    save_enrollment,
)
from kiosk.gallery.api import GalleryStore, Person, PersonDetails, now_iso
from kiosk.vision.pipeline import FacePipeline
from kiosk.vision.types import FaceAnalysis

log = logging.getLogger(__name__)

T = TypeVar("T")

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


# -- how the controllers reach other threads ----------------------------------------------------

#: Runs a callback on the controller's thread (soon, or at once when already there).
Post = Callable[[Callable[[], None]], None]


def run_here(callback: Callable[[], None]) -> None:
    """A `Post` for code without an event loop (tests, scripts): call at once, on this thread."""
    callback()


class ModelRunner(Protocol):
    """Runs `fn(pipeline)` on the thread that owns the pipeline (ui.worker.LiveWorker has this)."""

    def run_on_worker(self, fn: Callable[[FacePipeline], T]) -> Future[T]:
        """Queue `fn`; the Future holds its result or exception."""
        ...


class Writer(Protocol):
    """The gallery's writer: one thread, jobs in order (a ThreadPoolExecutor(max_workers=1))."""

    def submit(self, fn: Callable[[], T], /) -> Future[T]:
        """Queue `fn()`; the Future holds its result or exception."""
        ...


def deliver(post: Post, future: Future[T], on_result: Callable[[T], None],
            on_error: Callable[[BaseException], None]) -> None:
    """When `future` is done, call `on_result(value)` or `on_error(exc)` through `post`.

    A cancelled future calls neither. The callbacks decide (by job id) whether the outcome
    still matters.
    """
    def outcome(f: Future[T]) -> None:
        if f.cancelled():
            return
        exc = f.exception()
        if exc is not None:
            on_error(exc)
        else:
            on_result(f.result())

    future.add_done_callback(lambda f: post(lambda: outcome(f)))


@dataclass(frozen=True)
class Clock:
    """Where the controllers read the time (tests inject their own)."""

    monotonic: Callable[[], float] = time.monotonic  # durations (seconds)
    now_iso: Callable[[], str] = now_iso  # timestamps stored in the gallery (consent)


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


@dataclass
class _PhotoRound:
    """Progress of the photos being checked since the queue was last empty."""

    done: int = 0
    total: int = 0


@dataclass
class _PhotoJob:
    """The photo check being awaited."""

    id: int
    item: PhotoItem


class EnrollmentController:
    """One enrollment session: a new person, or more samples for `person_id`."""

    def __init__(
        self,
        gallery: GalleryStore,
        runner: ModelRunner,
        writer: Writer,
        capture: GuidedCapture,
        *,
        post: Post = run_here,
        person_id: int | None = None,
        camera: bool = False,
        match: MatchConfig | None = None,
        clock: Clock | None = None,
        max_photos: int = MAX_PHOTOS,
    ) -> None:
        self.gallery = gallery
        self.runner = runner
        self.writer = writer
        self.capture = capture
        self.post = post
        self.person_id = person_id
        self.person: Person | None = gallery.get_person(person_id) if person_id is not None else None
        self.camera = camera  # a live camera feeds `offer_frame`
        self.match = match
        self.clock = clock or Clock()
        self.max_photos = max_photos
        self.consent_text = consent_text(gallery)
        self.consent_at: str | None = None  # when the visitor agreed (None: not yet)
        self.details = DetailsForm()
        self.listeners: list[Listener] = []
        self._state = SaveState.IDLE
        self._capturing = False
        self._started_at: float | None = None
        self._photos: list[PhotoItem] = []
        self._queue: list[PhotoItem] = []
        self._round = _PhotoRound()
        self._photo_job: _PhotoJob | None = None
        self._jobs = itertools.count(1)
        self._save_job: int | None = None  # the prepare/save job awaited
        self._prepared: PreparedEnrollment | None = None
        self._duplicates: list[DuplicateCandidate] = []
        self.resolution: Resolution | None = None
        self._message: Notice | None = None
        self.saved_person_id: int | None = None
        self.enroll_seconds: float | None = None

    # -- reading the state ---------------------------------------------------------------------

    @property
    def state(self) -> SaveState:
        """Where the save is."""
        return self._state

    @property
    def busy(self) -> bool:
        """A save is running (templates being made, or the write)."""
        return self._state in (SaveState.PREPARING, SaveState.SAVING)

    @property
    def closed(self) -> bool:
        """`close()` was called: every later outcome is dropped."""
        return self._state is SaveState.CLOSED

    @property
    def adding_samples(self) -> bool:
        """Samples for someone already enrolled (no details, no consent)."""
        return self.person is not None

    @property
    def photos(self) -> list[PhotoItem]:
        """The imported photos, in the order they were added."""
        return list(self._photos)

    @property
    def checking_photos(self) -> bool:
        """Photos are being checked or wait to be."""
        return self._photo_job is not None or bool(self._queue)

    @property
    def photo_progress(self) -> tuple[int, int] | None:
        """(checked, total) of the photos being checked now; None when none are."""
        return (self._round.done, self._round.total) if self.checking_photos else None

    @property
    def capturing(self) -> bool:
        """The camera capture is taking samples (not paused, not done)."""
        return self._capturing

    @property
    def duplicates(self) -> list[DuplicateCandidate]:
        """The possible duplicates offered (state CHOOSING), best first."""
        return list(self._duplicates)

    def pending_samples(self) -> list[PendingSample]:
        """Every sample that would be saved: camera captures, then usable photos."""
        steps = self.capture.steps
        out = [PendingSample(s.face, f"camera: {steps[s.step].label or 'sample'} {s.step + 1}")
               for s in self.capture.samples]
        out += [PendingSample(face, str(item.path)) for item in self._photos
                if (face := item.face) is not None]
        return out

    def missing(self) -> list[str]:
        """What still stops saving (empty: ready)."""
        problems = []
        pending = self.pending_samples()
        if self.checking_photos:
            problems.append("wait until the photos are checked")
        if not pending:
            problems.append("take or add at least one sample")
        elif not self.capture.allow_masked_reference and all(p.face.masked for p in pending):
            problems.append("at least one sample without a mask (or tick \u201callow a masked reference\u201d)")
        if any(item.needs_pick for item in self._photos):
            problems.append("pick the face in the photos with several people, or remove them")
        if self.person is None:
            if not self.details.name.strip():
                problems.append("enter the name")
            if self.consent_at is None:
                problems.append("the visitor's consent")
        return problems

    @property
    def notice(self) -> Notice:
        """The status line for the current state."""
        if self._state is SaveState.PREPARING:
            return Notice("Making the templates and checking for duplicates…")
        if self._state is SaveState.SAVING:
            return Notice("Saving…")
        if self._state is SaveState.CHOOSING:
            return Notice("Nothing is saved until you choose.")
        if self._message is not None:
            return self._message
        n = len(self.pending_samples())
        counted = f"{n} sample{'s' if n != 1 else ''}."
        problems = self.missing()
        return Notice(f"{counted} To save: " + "; ".join(problems) + "." if problems else f"{counted} Ready to save.")

    def person_details(self) -> PersonDetails:
        """The new person's details as they would be stored (consent included once given)."""
        form = self.details
        return PersonDetails(
            name=form.name.strip(), company=form.company.strip(), host=form.host.strip(),
            notes=form.notes.strip(),
            consent_text=self.consent_text if self.consent_at is not None else "",
            consent_at=self.consent_at, retention_until=form.retention_until,
        )

    # -- the session -------------------------------------------------------------------------

    def start(self) -> None:
        """The dialog's content is showing (after the PIN): the enrollment time starts, capture too."""
        if self.closed:
            return
        self._started_at = self.clock.monotonic()
        self._capturing = self.camera and not self.capture.done
        self._notify(Change.CAPTURE | Change.SAMPLES)

    def set_details(self, form: DetailsForm) -> None:
        """The typed details changed."""
        if form == self.details:
            return
        self.details = form
        self._changed(Change.STATE)

    def give_consent(self, given: bool) -> None:
        """The consent box was ticked (now is the time consent was given) or cleared."""
        self.consent_at = self.clock.now_iso() if given else None
        self._changed(Change.STATE)

    # -- camera ------------------------------------------------------------------------------------

    @property
    def allow_masked_reference(self) -> bool:
        """The visitor keeps the mask on: the reference sample may be masked."""
        return self.capture.allow_masked_reference

    @allow_masked_reference.setter
    def allow_masked_reference(self, on: bool) -> None:
        self.capture.allow_masked_reference = on
        self._changed(Change.STATE)

    def offer_frame(self, faces: Sequence[FaceAnalysis], frame_size: tuple[int, int],
                    timestamp: float) -> Offer | None:
        """Judge one analysed camera frame; None when the capture is not taking samples."""
        if self.closed or not self._capturing or self.capture.done:
            return None
        offer = self.capture.offer(faces, frame_size, timestamp)
        if offer.captured is not None:
            changes = Change.SAMPLES
            if self.capture.done:
                self._capturing = False
                changes |= Change.CAPTURE
            self._changed(changes)
        return offer

    def prompt(self, instruction: str | None = None) -> CapturePrompt:
        """What to tell the visitor (`instruction`: the latest offer's, if any)."""
        index = self.capture.current
        if index is None:
            return CapturePrompt("All samples taken - fill in the details and save", "", False)
        if not self._capturing:
            return CapturePrompt("Capture paused", "", False)
        return CapturePrompt(instruction or self.capture.steps[index].instruction,
                             f"Sample {index + 1} of {len(self.capture.steps)}", True)

    def toggle_capture(self) -> None:
        """Pause or resume the automatic capture."""
        self._capturing = not self._capturing and self.camera and not self.capture.done
        self._notify(Change.CAPTURE | Change.SAMPLES)

    def start_over(self) -> None:
        """Drop every camera sample and capture again."""
        self.capture.reset()
        self._capturing = self.camera
        self._changed(Change.CAPTURE | Change.SAMPLES)

    def retake(self, step: int) -> None:
        """Capture step `step` again."""
        self.capture.retake(step)
        self._capturing = self.camera
        self._changed(Change.CAPTURE | Change.SAMPLES)

    # -- photos ------------------------------------------------------------------------------------

    def add_photos(self, paths: Sequence[str | Path]) -> list[PhotoItem]:
        """Queue these photos (folders: the images inside) for checking; returns those added."""
        if self.closed:
            return []
        files = image_files(list(paths))
        room = max(0, self.max_photos - len(self._photos))
        left_out = len(files) - room
        items = [PhotoItem(path) for path in files[:room]]
        self._photos += items
        self._queue += items
        self._round.total += len(items)
        self._check_next()
        self._changed(Change.PHOTOS | Change.STATE, items)
        if left_out > 0:
            self._message = Notice(f"At most {self.max_photos} photos per person; {left_out} were left out.",
                                   error=True)
            self._notify(Change.STATE)
        return items

    def cancel_photos(self) -> None:
        """Stop checking photos; those not checked yet are not used."""
        stopped = list(self._queue)
        if self._photo_job is not None:
            stopped.insert(0, self._photo_job.item)
            self._photo_job = None  # its outcome will be dropped
        self._queue = []
        for item in stopped:
            item.status = PhotoStatus.CANCELLED
        self._round = _PhotoRound()
        if stopped:
            self._changed(Change.PHOTOS | Change.STATE, stopped)

    def pick_face(self, item: PhotoItem, index: int) -> None:
        """The operator chose face `index` of a photo with several people."""
        if item.check is None or item not in self._photos:
            return
        item.check = item.check.pick(index, self.capture.settings.gates)
        self._changed(Change.PHOTOS | Change.SAMPLES | Change.STATE, [item])

    def remove_photo(self, item: PhotoItem) -> None:
        """Drop a photo (and its sample)."""
        if item not in self._photos:
            return
        self._photos.remove(item)
        if item in self._queue:
            self._queue.remove(item)
            self._round.total -= 1
        self._changed(Change.PHOTOS | Change.SAMPLES | Change.STATE)

    def _check_next(self) -> None:
        if self._photo_job is not None or self.closed:
            return
        if not self._queue:
            self._round = _PhotoRound()
            return
        item = self._queue.pop(0)
        item.status = PhotoStatus.CHECKING
        job = _PhotoJob(next(self._jobs), item)
        self._photo_job = job
        path, gates = item.path, self.capture.settings.gates
        # One photo at a time: cancel is quick and the live view runs between photos.
        deliver(self.post, self.runner.run_on_worker(lambda pipeline: check_photo(pipeline, path, gates)),
                lambda check: self._on_photo_checked(job, check, None),
                lambda exc: self._on_photo_checked(job, None, exc))

    def _on_photo_checked(self, job: _PhotoJob, check: PhotoCheck | None, error: BaseException | None) -> None:
        if job is not self._photo_job:
            return  # cancelled, or the session closed
        self._photo_job = None
        item = job.item
        self._round.done += 1
        if item in self._photos:  # not removed while it was being checked
            if error is not None:
                item.status, item.error = PhotoStatus.FAILED, str(error)
                log.warning("enrollment: %s could not be checked: %s", item.path, error)
            else:
                item.status, item.check = PhotoStatus.CHECKED, check
        self._check_next()
        self._changed(Change.PHOTOS | Change.SAMPLES | Change.STATE, [item] if item in self._photos else [])

    # -- saving ------------------------------------------------------------------------------------

    def save(self) -> bool:
        """Make the templates and look for duplicates, then store; False when it cannot start."""
        if self.busy or self._state in (SaveState.SAVED, SaveState.CLOSED):
            return False
        problems = self.missing()
        if problems:
            self._message = Notice("Cannot save yet: " + "; ".join(problems) + ".", error=True)
            self._notify(Change.STATE)
            return False
        pending = self.pending_samples()
        job = next(self._jobs)
        self._save_job = job
        self._prepared, self._duplicates, self.resolution = None, [], None
        self._set_state(SaveState.PREPARING)
        gallery, match, exclude = self.gallery, self.match, self.person_id
        deliver(self.post,
                self.runner.run_on_worker(lambda p: prepare_enrollment(p, gallery, pending, match, exclude)),
                lambda prepared: self._on_prepared(job, prepared),
                lambda exc: self._on_failed(job, exc))
        return True

    def _on_prepared(self, job: int, prepared: PreparedEnrollment) -> None:
        if job != self._save_job:
            return
        self._prepared = prepared
        if prepared.duplicates:
            self._offer(prepared.duplicates)
            return
        self._write(job, prepared, self.person_id, allow_duplicate=False)

    def _offer(self, candidates: list[DuplicateCandidate]) -> None:
        self._duplicates = list(candidates[:MAX_DUPLICATES_SHOWN])
        self._set_state(SaveState.CHOOSING)

    def resolve_duplicate(self, person_id: int | None) -> None:
        """The operator's choice: add the samples to `person_id`, or (None) save a new person."""
        prepared = self._prepared
        if self._state is not SaveState.CHOOSING or prepared is None or self._save_job is None:
            return
        self.resolution = Resolution(person_id)
        # Every possible duplicate was shown and the receptionist chose where the samples go.
        self._write(self._save_job, prepared, person_id, allow_duplicate=True)

    def dismiss_duplicates(self) -> None:
        """Back: change nothing, keep editing."""
        if self._state is not SaveState.CHOOSING:
            return
        self._save_job, self._prepared, self._duplicates = None, None, []
        self._set_state(SaveState.IDLE)

    def _write(self, job: int, prepared: PreparedEnrollment, person_id: int | None, *, allow_duplicate: bool) -> None:
        details = None if person_id is not None else self.person_details()
        gallery = self.gallery
        self._set_state(SaveState.SAVING)
        deliver(self.post,
                self.writer.submit(lambda: save_enrollment(gallery, prepared, details, person_id,
                                                           allow_duplicate=allow_duplicate)),
                lambda saved_id: self._on_saved(job, saved_id),
                lambda exc: self._on_failed(job, exc))

    def _on_saved(self, job: int, person_id: int) -> None:
        if job != self._save_job:
            return
        self._save_job = None
        self.saved_person_id = person_id
        if self._started_at is not None:
            self.enroll_seconds = self.clock.monotonic() - self._started_at
        n = len(self._prepared.samples) if self._prepared is not None else 0
        log.info("enrollment: %d samples saved for person %d in %.1f s", n, person_id, self.enroll_seconds or 0.0)
        self._capturing = False
        self._state = SaveState.SAVED
        self._notify(Change.STATE | Change.CAPTURE | Change.SAVED)

    def _on_failed(self, job: int, exc: BaseException) -> None:
        if job != self._save_job:
            return
        if isinstance(exc, DuplicateError):  # the write path's own check: ask the operator
            self._offer(exc.candidates)
            return
        self._save_job, self._prepared = None, None
        log.error("enrollment failed: %s", exc)
        self._message = Notice(f"Nothing was saved: {exc}", error=True)
        self._set_state(SaveState.IDLE)

    def cancel(self) -> bool:
        """Cancel a save whose templates are being made (nothing is stored); True when one was.

        False otherwise: nothing to cancel (the dialog closes), or the write is running (it
        completes or leaves nothing, and is not interrupted).
        """
        if self._state is not SaveState.PREPARING:
            return False
        self._save_job, self._prepared = None, None  # the running job's outcome will be dropped
        self._message = Notice("Cancelled; nothing was saved.")
        self._set_state(SaveState.IDLE)
        return True

    def close(self) -> None:
        """End the session: stop capturing and drop every pending outcome (idempotent).

        A write already running still completes (one transaction), but nobody hears of it.
        """
        if self.closed:
            return
        self._state = SaveState.CLOSED
        self._capturing = False
        self._save_job = None
        self._photo_job = None
        self._queue = []
        self.listeners.clear()

    # -- notifying -----------------------------------------------------------------------------------

    def _set_state(self, state: SaveState) -> None:
        self._state = state
        self._notify(Change.STATE)

    def _changed(self, changes: Change, photos: Sequence[PhotoItem] = ()) -> None:
        """Something the operator did or a job brought: a sticky message is stale now."""
        self._message = None
        self._notify(changes | Change.STATE, photos)

    def _notify(self, changes: Change, photos: Sequence[PhotoItem] = ()) -> None:
        if self.closed:
            return
        update = Update(changes, tuple(photos))
        for listener in list(self.listeners):
            listener(update)


__all__ = [
    "CONSENT_SETTING", "DEFAULT_CONSENT", "MAX_PHOTOS", "CapturePrompt", "Change", "Clock", "DetailsForm",
    "EnrollmentController", "ModelRunner", "Notice", "PhotoItem", "PhotoStatus", "Post", "Resolution", "SaveState",
    "Update", "Writer", "consent_text", "deliver", "run_here",
]

