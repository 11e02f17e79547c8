"""Helpers for the live-window tests: a scripted source, clip frames for enrollment, the live
window in lockstep.

Lockstep: the window's worker hands every frame of a file (or of a scripted source) to the
models in order and stamps it with the media's own time (kiosk.capture.reader.FrameReader), and
kiosk mode decides on that time (kiosk.checkin.session.MediaClock). A busy machine then changes
how long a test takes, never what it sees. Waits poll for a state; HANG_GUARD_MS only turns a
hang into a failure.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from kiosk.capture.sources import FrameSource, SourceError
from kiosk.gallery.api import PersonDetails

#: How long a GUI test waits for a state before it fails (a hang guard, not a timing: the
#: slowest wait takes a few seconds on an idle 2-core PC, well under a minute under load).
HANG_GUARD_MS = 120_000


class ScriptedSource(FrameSource):
    """A synthetic source: frames from `make_frame(i)`, failing after `fail_after` frames on
    the first `failures` connections; records which thread opened, read and closed it."""

    def __init__(self, make_frame=None, *, fail_after: int | None = None, failures: int = 1,
                 fail_open: bool = False, fps: float | None = 50.0, length: int | None = None,
                 log: dict | None = None) -> None:
        self.make_frame = make_frame or (lambda i: np.full((48, 64, 3), i % 256, np.uint8))
        self.fail_after = fail_after
        self.fail_open = fail_open
        self.fps = fps
        self.length = length
        self.description = "scripted"
        self.log = log if log is not None else {"opens": 0, "closes": 0, "threads": set()}
        self.log.setdefault("opens", 0)
        self.log.setdefault("closes", 0)
        self.log.setdefault("threads", set())
        self._failures = failures
        self._i = 0

    def open(self) -> None:
        self.log["threads"].add(threading.get_ident())
        if self.fail_open:
            raise SourceError("no such device (scripted)")
        self.log["opens"] += 1
        self._i = 0

    def read(self):
        self.log["threads"].add(threading.get_ident())
        if self.fail_after is not None and self._i >= self.fail_after and self.log["opens"] <= self._failures:
            raise SourceError("unplugged (scripted)")
        if self.length is not None and self._i >= self.length:
            return None
        frame = self.make_frame(self._i)
        self._i += 1
        return frame

    def close(self) -> None:
        self.log["threads"].add(threading.get_ident())
        self.log["closes"] += 1


def clip_frames(path: Path, indices: list[int] | None = None) -> list[np.ndarray]:
    """RGB frames of a clip (all, or the given indices)."""
    from kiosk.capture.sources import open_source

    frames = []
    with open_source(str(path), loop=False) as source:
        while (rgb := source.read()) is not None:
            frames.append(rgb)
    return frames if indices is None else [frames[i] for i in indices]


def enroll_from_frames(pipeline, gallery, name: str, frames: list[np.ndarray]) -> int:
    """Enroll the largest face of each frame as one person; returns the person id."""
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face

    samples = [make_sample(pipeline, pick_enrollment_face(pipeline.analyze(rgb))) for rgb in frames]
    return gallery.add_person(PersonDetails(name), samples, pipeline.model_version)


def wait_for(predicate, limit_s: float = 60.0, step_s: float = 0.01) -> bool:
    """Poll until `predicate()` holds (a guard against hanging, not a timing assertion)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step_s)
    return bool(predicate())


def open_live_window(qtbot, tmp_path, gallery, source, *, config=None, lockstep: bool = True,
                     start: bool = True):
    """The live window (ui.main_window.MainWindow) on `source`, shown, and started unless
    `start=False` (connect to the worker's signals first, then call `window.start()`: nothing
    the worker says is missed, however quickly it says it).

    `lockstep=True` (the default) replays files and scripted sources frame by frame at their
    own time; `lockstep=False` is the camera's path (real time, newest frame wins), for the
    tests whose outcome does not depend on which frames get analysed.
    """
    from kiosk.config import Config
    from ui.main_window import MainWindow

    window = MainWindow(config or Config(), gallery, source, config_path=tmp_path / "config.json",
                        lockstep=lockstep)
    qtbot.addWidget(window)
    window.resize(800, 560)
    window.show()
    if start:
        window.start()
    return window
