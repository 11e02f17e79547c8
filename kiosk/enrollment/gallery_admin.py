"""The gallery manager's work, Qt-free: list and search people, edit and rename them, remove
people or samples, export, import and re-embed.

`GalleryManagerController` holds what the manager window shows (the people found by the
search, the one whose details are open, the status line, busy or idle) and does every
operation; the window (ui.gallery_manager) draws that state and asks the yes/no questions
(`Confirm`). It lives here, not in kiosk.gallery, because importing and re-embedding follow
the enrollment's rules (kiosk.enrollment.importing, kiosk.enrollment.samples).

Threads, as for kiosk.enrollment.controller (kiosk.enrollment.threads): reads run on the
controller's thread; every write goes to the one `Writer` thread; model work (an import made by another model,
re-embedding) goes to the `ModelRunner`; outcomes come back through `post`. One operation
runs at a time (`busy`); its outcome is dropped once the controller is closed.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from enum import Enum, Flag, auto
from pathlib import Path
from typing import TypeVar

import numpy as np

from kiosk.config import MatchConfig
from kiosk.enrollment.importing import ImportReport, import_archive
from kiosk.enrollment.samples import (
    ReembedReport,
    RemadeTemplates,
    remake_templates,
    store_templates,
    templates_for_crops,
)
from kiosk.enrollment.session_state import DetailsForm, Notice
from kiosk.enrollment.threads import ModelRunner, Post, Writer, deliver, run_here
from kiosk.gallery.api import GalleryStore, NewTemplate, Person, Sample
from kiosk.gallery.archive import export_people

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Asks the operator yes/no: (title, question) -> True for yes.
Confirm = Callable[[str, str], bool]


class AdminState(Enum):
    """Whether an operation runs."""

    IDLE = "idle"
    BUSY = "busy"
    CLOSED = "closed"


class AdminChange(Flag):
    """What a notification touched (the window redraws only that)."""

    PEOPLE = auto()  # the list (search results, counts)
    DETAILS = auto()  # the person shown
    STATE = auto()  # busy/idle, the status line
    GALLERY = auto()  # the gallery was changed from here


AdminListener = Callable[[AdminChange], None]


def listed_names(names: Sequence[str], most: int = 5) -> str:
    """'Ada, Bob and 3 more' for a confirmation or a status line."""
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


class GalleryManagerController:
    """The gallery manager's state and operations (see the module doc)."""

    def __init__(self, gallery: GalleryStore, runner: ModelRunner, writer: Writer, *, post: Post = run_here,
                 match: MatchConfig | None = None) -> None:
        self.gallery = gallery
        self.runner = runner
        self.writer = writer
        self.post = post
        self.match = match
        self.listeners: list[AdminListener] = []
        self.search = ""
        self.people: list[Person] = []  # the people the search finds, by name
        self.total = 0  # everyone enrolled
        self.selected: list[int] = []
        self.current_id: int | None = None  # the person whose details are shown
        self.notice: Notice | None = None
        self._state = AdminState.IDLE
        self._jobs = itertools.count(1)
        self._job: int | None = None

    # -- reading ------------------------------------------------------------------------------

    @property
    def state(self) -> AdminState:
        """Whether an operation runs."""
        return self._state

    @property
    def busy(self) -> bool:
        """An operation runs (the window disables the others)."""
        return self._state is AdminState.BUSY

    @property
    def closed(self) -> bool:
        """`close()` was called."""
        return self._state is AdminState.CLOSED

    @property
    def count_text(self) -> str:
        """'3 people', or '2 of 3 people' while searching."""
        return f"{len(self.people)} of {self.total} people" if self.search.strip() else f"{self.total} people"

    def refresh(self, search: str | None = None) -> None:
        """Read the list again (with a new search text, when given)."""
        if self.closed:
            return
        if search is not None:
            self.search = search
        self.people = self.gallery.people(self.search)
        self.total = self.gallery.counts()["people"]
        shown = {p.id for p in self.people}
        self.selected = [i for i in self.selected if i in shown]
        changes = AdminChange.PEOPLE
        if self.current_id is not None and self.current_id not in shown:
            self.current_id = None
            changes |= AdminChange.DETAILS
        self._notify(changes)

    def find(self, person_id: int) -> Person | None:
        """A person of the current list."""
        return next((p for p in self.people if p.id == person_id), None)

    def person(self, person_id: int) -> Person:
        """One person, read now."""
        return self.gallery.get_person(person_id)

    def samples(self, person_id: int) -> list[Sample]:
        """A person's samples (crops, no templates)."""
        return self.gallery.samples(person_id)

    def thumbnail(self, person_id: int) -> np.ndarray | None:
        """A person's best sample crop (RGB), if any."""
        return self.gallery.thumbnail(person_id)

    def select(self, ids: Sequence[int]) -> None:
        """The selection changed: one person's details are shown, or none."""
        self.selected = list(ids)
        self.current_id = self.selected[0] if len(self.selected) == 1 else None
        self._notify(AdminChange.DETAILS | AdminChange.STATE)

    # -- changing the gallery -------------------------------------------------------------------

    def update_details(self, person_id: int, form: DetailsForm) -> bool:
        """Store edited details; False when another operation runs."""
        name = form.name.strip()
        gallery = self.gallery
        return self._write(
            f"Saving the details of {name}…",
            lambda: gallery.update_person(person_id, name=name, company=form.company.strip(),
                                          host=form.host.strip(), notes=form.notes.strip(),
                                          retention_until=form.retention_until),
            lambda _: Notice(f"Saved the details of {name}."),
            lambda exc: Notice(f"Not saved: {exc}", error=True),
        )

    def rename(self, person_id: int, name: str) -> bool:
        """Change only the name."""
        new = name.strip()
        gallery = self.gallery
        return self._write(f"Renaming to {new}…", lambda: gallery.update_person(person_id, name=new),
                           lambda _: Notice(f"Renamed to {new}."), lambda exc: Notice(f"Not renamed: {exc}", error=True))

    def remove_people(self, ids: Sequence[int], confirm: Confirm) -> bool:
        """Delete these people and every row of theirs, once `confirm` says yes."""
        ids = list(ids)
        if not ids or self.busy or self.closed:
            return False
        names = [p.name for i in ids if (p := self.find(i)) is not None]
        listed = listed_names(names)
        if not confirm("Delete", f"Delete {listed}?\n\nTheir photos, templates and visit log are removed "
                                 "for good. This cannot be undone."):
            return False
        gallery = self.gallery

        def remove() -> bool:
            complete = [gallery.remove_person(person_id) for person_id in ids]
            log.info("gallery manager: deleted %d people", len(ids))
            return all(complete)

        def done(complete: bool) -> Notice:
            # An erasure request is answered truthfully: rows are gone, but while another program
            # reads the gallery, old copies stay in its files until the next erase or purge.
            if complete:
                return Notice(f"Deleted {listed}.")
            return Notice(f"Deleted {listed}. Old copies stay in the gallery's files until the next erase "
                          "or purge (another program is reading it).")

        return self._write(f"Deleting {listed}…", remove, done, lambda exc: Notice(f"Not deleted: {exc}", error=True))

    def remove_sample(self, person_id: int, sample_id: int, confirm: Confirm) -> bool:
        """Delete one sample (and its templates), never a person's last one, once `confirm` says yes."""
        if self.busy or self.closed:
            return False
        person = self.gallery.get_person(person_id)
        if person.n_samples <= 1:
            self._show(Notice("This is the person's only sample; delete the person instead.", error=True))
            return False
        if not confirm("Remove sample", f"Remove this sample of {person.name} and its templates?"):
            return False
        gallery = self.gallery
        return self._write(f"Removing a sample of {person.name}…", lambda: gallery.remove_sample(sample_id),
                           lambda _: Notice(f"Removed a sample of {person.name}."),
                           lambda exc: Notice(f"Not removed: {exc}", error=True))

    def export(self, ids: Sequence[int], path: str | Path, passphrase: str | None, *,
               overwrite: bool = False) -> bool:
        """Write these people to an export file (on the writer: a consistent snapshot).

        Encrypted with `passphrase` (kiosk.security.export_crypto); None writes a plain zip,
        which the window offers only when the admin asked for it and confirmed. Never onto the
        gallery's own files; an existing file only with `overwrite` (a save dialog asked).
        """
        ids = list(ids)
        if not ids:
            return False
        gallery = self.gallery
        protected = gallery.own_files()  # the gallery, its keys, salt and spool are off limits
        kind = "encrypted" if passphrase is not None else "unencrypted: keep it safe"
        return self._write(f"Exporting {len(ids)} people…",
                           lambda: export_people(gallery, path, ids, passphrase=passphrase, overwrite=overwrite,
                                                 protected=protected),
                           lambda n: Notice(f"Exported {n} people to {path} ({kind})."),
                           lambda exc: Notice(f"Export failed: {exc}", error=True), changes_gallery=False)

    def import_people(self, path: str | Path, passphrase: str | None = None) -> bool:
        """Add everyone in an export who is not enrolled yet; made by another model, they are re-embedded.
        An encrypted export needs its `passphrase`.

        The import (one transaction) runs on the writer; the re-embedding it may need runs on
        the model thread, one sample at a time.
        """
        job = self._begin("Importing…")
        if job is None:
            return False
        gallery, match, runner = self.gallery, self.match, self.runner

        def reembed(aligned: np.ndarray, crop: np.ndarray | None, masked: bool) -> tuple[list[NewTemplate], np.ndarray]:
            # Runs on the writer thread, which waits for the model thread (never the other way round).
            return runner.run_on_worker(lambda p: templates_for_crops(p, aligned, crop, masked)).result()

        def failed(exc: BaseException) -> None:
            self._finish(job, Notice(f"Import failed, nothing was added: {exc}", error=True), changed=False)

        def done(report: ImportReport) -> None:
            skipped = ""
            if report.skipped:
                name, reason = report.skipped[0]
                more = "…" if len(report.skipped) > 1 else ""
                skipped = f"; {len(report.skipped)} skipped ({name}: {reason}{more})"
            self._finish(job, Notice(f"Imported {len(report.added)} people from {Path(path).name}{skipped}."),
                         changed=True)

        def write(version: str) -> None:
            if job != self._job:
                return
            deliver(self.post,
                    self.writer.submit(lambda: import_archive(gallery, path, version, match, reembed=reembed,
                                                              passphrase=passphrase)),
                    done, failed)

        deliver(self.post, runner.run_on_worker(lambda p: p.model_version), write, failed)
        return True

    def reembed(self) -> bool:
        """Re-make every template with the model in use, from the stored crops (one transaction).

        The templates are made on the model thread; the writer swaps them in.
        """
        job = self._begin("Re-making every template with the model in use…")
        if job is None:
            return False
        gallery = self.gallery

        def failed(exc: BaseException) -> None:
            self._finish(job, Notice(f"Re-embedding failed, nothing was changed: {exc}", error=True), changed=False)

        def done(report: ReembedReport) -> None:
            lost = f"; {len(report.failed)} samples could not be aligned again" if report.failed else ""
            self._finish(job, Notice(f"Re-embedded {report.samples} samples with {report.model_version}{lost}."),
                         changed=True)

        def write(new: RemadeTemplates) -> None:
            if job == self._job:
                deliver(self.post, self.writer.submit(lambda: store_templates(gallery, new)), done, failed)

        deliver(self.post, self.runner.run_on_worker(lambda p: remake_templates(p, gallery)), write, failed)
        return True

    def gallery_changed(self) -> None:
        """Someone else changed the gallery (an enrollment dialog saved): read it again."""
        if self.closed:
            return
        self.refresh()
        self._notify(AdminChange.DETAILS | AdminChange.GALLERY)

    def close(self) -> None:
        """Drop every pending outcome (idempotent). A write already running still completes."""
        self._state = AdminState.CLOSED
        self._job = None
        self.listeners.clear()

    # -- running operations ------------------------------------------------------------------------

    def _write(self, text: str, fn: Callable[[], T], ok: Callable[[T], Notice],
               fail: Callable[[BaseException], Notice], *, changes_gallery: bool = True) -> bool:
        job = self._begin(text)
        if job is None:
            return False
        future: Future[T] = self.writer.submit(fn)
        deliver(self.post, future, lambda value: self._finish(job, ok(value), changed=changes_gallery),
                lambda exc: self._finish(job, fail(exc), changed=False))
        return True

    def _begin(self, text: str) -> int | None:
        if self._state is not AdminState.IDLE:
            return None
        job = next(self._jobs)
        self._job = job
        self._state = AdminState.BUSY
        self.notice = Notice(text)
        self._notify(AdminChange.STATE)
        return job

    def _finish(self, job: int, notice: Notice, *, changed: bool) -> None:
        if job != self._job:
            return  # closed meanwhile
        self._job = None
        self._state = AdminState.IDLE
        self.notice = notice
        if changed:
            self.gallery_changed()
        self._notify(AdminChange.STATE)

    def _show(self, notice: Notice) -> None:
        self.notice = notice
        self._notify(AdminChange.STATE)

    def _notify(self, changes: AdminChange) -> None:
        if self.closed:
            return
        for listener in list(self.listeners):
            listener(changes)
