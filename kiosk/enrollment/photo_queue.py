"""The photos imported into one enrollment session and their checks (kiosk.enrollment.photos),
for kiosk.enrollment.controller.EnrollmentController.

One photo is checked at a time on the model thread, so cancelling is quick and the live view
runs between photos. Each check is a job; an outcome whose job is no longer the one awaited
(cancelled, or the session closed) is dropped.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kiosk.enrollment.guided import GuidedCapture
from kiosk.enrollment.photos import PhotoCheck, check_photo
from kiosk.enrollment.session_state import Change, PhotoItem, PhotoStatus
from kiosk.enrollment.threads import ModelRunner, Post, deliver

log = logging.getLogger("kiosk.enrollment.controller")  # the session's one logger

#: Tells the session what changed (it notifies the view): the controller's `_changed`.
Changed = Callable[[Change, Sequence[PhotoItem]], None]


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


class PhotoQueue:
    """The session's imported photos, in the order they were added, and the queue of those
    still to check; `changed` is told after each check."""

    def __init__(self, runner: ModelRunner, post: Post, capture: GuidedCapture, jobs: itertools.count[int],
                 changed: Changed) -> None:
        self.runner = runner
        self.post = post
        self.capture = capture  # its gates judge the photos
        self.items: list[PhotoItem] = []
        self._jobs = jobs  # shared with the session's other jobs
        self._changed = changed
        self._queue: list[PhotoItem] = []
        self._round = _PhotoRound()
        self._job: _PhotoJob | None = None
        self._stopped = False

    @property
    def checking(self) -> bool:
        """Photos are being checked or wait to be."""
        return self._job is not None or bool(self._queue)

    @property
    def progress(self) -> tuple[int, int] | None:
        """(checked, total) of the photos being checked now; None when none are."""
        return (self._round.done, self._round.total) if self.checking else None

    def add(self, files: Sequence[Path]) -> list[PhotoItem]:
        """Queue these files for checking (the first starts now); returns their items."""
        items = [PhotoItem(path) for path in files]
        self.items += items
        self._queue += items
        self._round.total += len(items)
        self._check_next()
        return items

    def cancel(self) -> list[PhotoItem]:
        """Stop checking; those not checked yet are not used. Returns them."""
        stopped = list(self._queue)
        if self._job is not None:
            stopped.insert(0, self._job.item)
            self._job = None  # its outcome will be dropped
        self._queue = []
        for item in stopped:
            item.status = PhotoStatus.CANCELLED
        self._round = _PhotoRound()
        return stopped

    def remove(self, item: PhotoItem) -> bool:
        """Drop a photo (and its sample); False when it is not here."""
        if item not in self.items:
            return False
        self.items.remove(item)
        if item in self._queue:
            self._queue.remove(item)
            self._round.total -= 1
        return True

    def stop(self) -> None:
        """The session closed: drop the awaited outcome and check nothing more."""
        self._stopped = True
        self._job = None
        self._queue = []

    def _check_next(self) -> None:
        if self._job is not None or self._stopped:
            return
        if not self._queue:
            self._round = _PhotoRound()
            return
        item = self._queue.pop(0)
        item.status = PhotoStatus.CHECKING
        job = _PhotoJob(next(self._jobs), item)
        self._job = job
        path, gates = item.path, self.capture.settings.gates
        # One photo at a time: cancel is quick and the live view runs between photos.
        deliver(self.post, self.runner.run_on_worker(lambda pipeline: check_photo(pipeline, path, gates)),
                lambda check: self._on_checked(job, check, None),
                lambda exc: self._on_checked(job, None, exc))

    def _on_checked(self, job: _PhotoJob, check: PhotoCheck | None, error: BaseException | None) -> None:
        if job is not self._job:
            return  # cancelled, or the session closed
        self._job = None
        item = job.item
        self._round.done += 1
        if item in self.items:  # not removed while it was being checked
            if error is not None:
                item.status, item.error = PhotoStatus.FAILED, str(error)
                log.warning("enrollment: %s could not be checked: %s", item.path, error)
            else:
                item.status, item.check = PhotoStatus.CHECKED, check
        self._check_next()
        self._changed(Change.PHOTOS | Change.SAMPLES | Change.STATE, [item] if item in self.items else [])
