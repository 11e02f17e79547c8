"""Helpers for the live-window tests: a scripted source and clip frames for enrollment."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from kiosk.capture.sources import FrameSource, SourceError
from kiosk.gallery.api import PersonDetails


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


def wait_for(predicate, limit_s: float = 30.0, step_s: float = 0.01) -> bool:
    """Poll until `predicate()` holds (a guard against hanging, not a timing assertion)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step_s)
    return bool(predicate())
