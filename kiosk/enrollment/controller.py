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

Built in parts: what the session shows (kiosk.enrollment.session_state), how it reaches other
threads (kiosk.enrollment.threads), the imported photos and their checks
(kiosk.enrollment.photo_queue), the camera samples' liveness (kiosk.enrollment.liveness: with
the check on, a camera sample counts only once its track was judged live, and a photo or a
screen held up stops the capture); here the session itself.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from pathlib import Path

from kiosk.config import MatchConfig
from kiosk.enrollment.duplicates import DuplicateCandidate
from kiosk.enrollment.guided import GuidedCapture, Offer
from kiosk.enrollment.liveness import CaptureLiveness
from kiosk.enrollment.photo_queue import PhotoQueue
from kiosk.enrollment.photos import image_files
from kiosk.enrollment.prepare import (
    DuplicateError,
    PendingSample,
    PreparedEnrollment,
    prepare_enrollment,
    save_enrollment,
)
from kiosk.enrollment.session_state import (
    MAX_DUPLICATES_SHOWN,
    MAX_PHOTOS,
    CapturePrompt,
    Change,
    DetailsForm,
    Listener,
    Notice,
    PhotoItem,
    Resolution,
    SaveState,
    Update,
    consent_text,
)
from kiosk.enrollment.threads import Clock, ModelRunner, Post, Writer, deliver, run_here
from kiosk.gallery.api import GalleryStore, Person, PersonDetails
from kiosk.recognition.live import TrackedFace
from kiosk.vision.types import FaceAnalysis

log = logging.getLogger(__name__)


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
        self._jobs = itertools.count(1)
        self._photo_queue = PhotoQueue(runner, post, capture, self._jobs, self._changed)
        self._save_job: int | None = None  # the prepare/save job awaited
        self._prepared: PreparedEnrollment | None = None
        self._duplicates: list[DuplicateCandidate] = []
        self.resolution: Resolution | None = None
        self._message: Notice | None = None
        self.saved_person_id: int | None = None
        self.enroll_seconds: float | None = None
        self.liveness = CaptureLiveness()

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
        return list(self._photo_queue.items)

    @property
    def checking_photos(self) -> bool:
        """Photos are being checked or wait to be."""
        return self._photo_queue.checking

    @property
    def photo_progress(self) -> tuple[int, int] | None:
        """(checked, total) of the photos being checked now; None when none are."""
        return self._photo_queue.progress

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
        out += [PendingSample(face, str(item.path)) for item in self._photo_queue.items
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
        if self.liveness.not_live(self.capture):
            problems.append("the camera samples' face is not judged live yet: ask the visitor to turn their "
                            "head a little (or retake the samples with them in front of the camera)")
        if any(item.needs_pick for item in self._photo_queue.items):
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

    def offer_tracked(self, faces: Sequence[TrackedFace], frame_size: tuple[int, int],
                      timestamp: float) -> Offer | None:
        """`offer_frame` for the live camera's tracked faces, with their liveness: a face judged
        an attack (a photo or a screen held up) stops the capture and drops what it gave."""
        if self.closed:
            return None
        waiting = bool(self.liveness.not_live(self.capture))
        attack = self.liveness.observe(faces)
        if attack is not None and self._capturing:
            dropped = self.liveness.refuse(attack.track_id, self.capture)
            self._capturing = False
            kept = f"; its {dropped} sample{'s were' if dropped != 1 else ' was'} dropped" if dropped else ""
            self._message = Notice(
                f"Refused by the liveness check: the face in front of the camera looks like a photo or a screen "
                f"({attack.liveness.reason.value}, liveness {attack.liveness.score:.2f}){kept}. A live visitor "
                f"can start the capture again.", error=True)
            log.warning("enrollment: the liveness check refused the camera's face (%s)", attack.liveness.reason.value)
            self._notify(Change.CAPTURE | Change.SAMPLES | Change.STATE)
            return None
        offer = self.offer_frame([f.analysis for f in faces], frame_size, timestamp)
        if offer is not None and offer.captured is not None:
            self.liveness.captured(offer.captured.step, offer.captured.face, faces)
        if bool(self.liveness.not_live(self.capture)) != waiting:
            self._notify(Change.STATE)  # judged live now (or a sample of an unsure face came): redraw
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
        room = max(0, self.max_photos - len(self._photo_queue.items))
        left_out = len(files) - room
        items = self._photo_queue.add(files[:room])
        self._changed(Change.PHOTOS | Change.STATE, items)
        if left_out > 0:
            self._message = Notice(f"At most {self.max_photos} photos per person; {left_out} were left out.",
                                   error=True)
            self._notify(Change.STATE)
        return items

    def cancel_photos(self) -> None:
        """Stop checking photos; those not checked yet are not used."""
        stopped = self._photo_queue.cancel()
        if stopped:
            self._changed(Change.PHOTOS | Change.STATE, stopped)

    def pick_face(self, item: PhotoItem, index: int) -> None:
        """The operator chose face `index` of a photo with several people."""
        if item.check is None or item not in self._photo_queue.items:
            return
        item.check = item.check.pick(index, self.capture.settings.gates)
        self._changed(Change.PHOTOS | Change.SAMPLES | Change.STATE, [item])

    def remove_photo(self, item: PhotoItem) -> None:
        """Drop a photo (and its sample)."""
        if self._photo_queue.remove(item):
            self._changed(Change.PHOTOS | Change.SAMPLES | Change.STATE)

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
        self._photo_queue.stop()
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



__all__ = ["EnrollmentController"]
