"""Where a gallery dialog (enrolment, the gallery manager) runs its work: model work on the
runner it was given, else the live window's worker, else a private PipelineThread; writes on
the writer it was given, else a writer thread of its own. What it made itself, it closes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kiosk.config import Config
from kiosk.enrollment.threads import ModelRunner, Writer
from ui.jobs import PipelineThread, gallery_writer


class DialogJobs:
    """A dialog's runner and writer; `close()` stops the ones it made (idempotent)."""

    def __init__(self, config: Config, runner: ModelRunner | None, writer: Writer | None) -> None:
        self._own_runner: PipelineThread | None = None
        self._own_writer: ThreadPoolExecutor | None = None
        if runner is None:  # the models load only when a job needs them (an import, a dialog's photos)
            runner = self._own_runner = PipelineThread(config)
        if writer is None:
            writer = self._own_writer = gallery_writer()
        self.runner: ModelRunner = runner
        self.writer: Writer = writer

    def close(self) -> None:
        """Stop the writer and the runner this made (a write already running completes)."""
        if self._own_writer is not None:
            self._own_writer.shutdown(wait=True, cancel_futures=True)
            self._own_writer = None
        if self._own_runner is not None:
            self._own_runner.close()
            self._own_runner = None
