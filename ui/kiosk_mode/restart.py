"""Bringing the recognition worker back after it failed or ended, with a growing backoff.

The kiosk borrows the main window's LiveWorker; when it fails (a model error) or its thread
ends, the kiosk shows "temporarily unavailable" (KioskFlow.source_lost) and schedules a
restart here: the thread is started again if it ended, otherwise its models are reloaded.
Results flowing again (`healthy()`) reset the backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

#: Seconds before restart attempt 1, 2, 3, ... of a failed worker; the last value repeats.
RESTART_BACKOFF_S = (2.0, 5.0, 10.0, 30.0, 60.0)


class RestartableWorker(Protocol):
    """The part of ui.worker.LiveWorker a restart needs."""

    config: object

    def isFinished(self) -> bool: ...  # noqa: N802 - QThread's name

    def isRunning(self) -> bool: ...  # noqa: N802 - QThread's name

    def start(self) -> None: ...

    def apply_config(self, config) -> None: ...  # noqa: ANN001 - kiosk.config.Config


class WorkerRestarts(QObject):
    """One pending restart at a time; `closing()` true means: do nothing any more."""

    def __init__(self, worker: RestartableWorker, closing: Callable[[], bool], *,
                 backoff_s: tuple[float, ...] = RESTART_BACKOFF_S, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.closing = closing
        self.backoff_s = backoff_s
        self.attempt = 0
        self.pending = False

    def healthy(self) -> None:
        """The worker delivers results again: the next failure starts the backoff anew."""
        self.attempt = 0

    def schedule(self) -> None:
        """A restart after the next backoff delay (once, however often this is called meanwhile)."""
        if self.pending:
            return
        self.pending = True
        delay = self.backoff_s[min(self.attempt, len(self.backoff_s) - 1)]
        self.attempt += 1
        QTimer.singleShot(int(delay * 1000), self, self.restart_now)

    def restart_now(self) -> None:
        """Start the thread again if it ended, else reload its models."""
        self.pending = False
        if self.closing():
            return
        worker = self.worker
        if worker.isFinished() or not worker.isRunning():
            log.info("kiosk: starting the recognition thread again (attempt %d)", self.attempt)
            worker.start()
        else:
            log.info("kiosk: reloading the recognition models (attempt %d)", self.attempt)
            worker.apply_config(worker.config)
