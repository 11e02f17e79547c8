"""`face-kiosk bench`: three people entering together, until the last one's name is shown.

Three faces appear at once on a 640x480 frame (the bench photo's face, mirrored and scaled, so
each is its own track; one enrolled person, so all three get a name). The frames go through
the live window's own code (`LiveRecognizer`: detection, mesh, tracking, votes) in lockstep,
as the live worker does with a camera faster than the models (the next frame is taken when
the previous one is done) and stamped with the wall clock, so the tracker sees the time the
frames really took. The row is the wall time from the first frame until every face has a
name, and the frames and CPU time that took.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.capture.sources import Frame
from kiosk.config import Config
from kiosk.enrollment.samples import make_sample, pick_enrollment_face
from kiosk.gallery.api import PersonDetails
from kiosk.recognition.live import LiveRecognizer
from kiosk.recognition.recognizer import Recognizer
from kiosk.vision.pipeline import FacePipeline

FRAME_SIZE = (640, 480)
PEOPLE = 3
MAX_FRAMES = 100  # a guard: the bench photo is named within a few frames


@dataclass(frozen=True)
class CrowdRun:
    """One entry of three people: wall and process CPU milliseconds until the last name, frames taken."""

    wall_ms: float
    cpu_ms: float
    frames: int


@dataclass(frozen=True)
class CrowdTiming:
    """Over the runs: median and p95 wall milliseconds, median CPU milliseconds and frames."""

    runs: int
    median_ms: float
    p95_ms: float
    cpu_ms: float
    frames: float
    named: int  # runs in which all three got a name (within MAX_FRAMES)


def crowd_frame(rgb: np.ndarray, face_box: np.ndarray) -> np.ndarray:
    """Three copies of the face in `face_box` side by side on a plain 640x480 frame (the middle
    one mirrored, the right one smaller), ~100-130 px of face each."""
    w, h = FRAME_SIZE
    frame = np.full((h, w, 3), 128, np.uint8)
    x1, y1, x2, y2 = (int(v) for v in face_box)
    pad = int(0.6 * (x2 - x1))
    face = rgb[max(0, y1 - pad):y2 + pad, max(0, x1 - pad):x2 + pad]
    for k, (scale, mirror) in enumerate(((1.0, False), (1.0, True), (0.8, False))):
        side = int(w / PEOPLE * scale)
        tile = cv2.resize(face[:, ::-1] if mirror else face, (side, side), interpolation=cv2.INTER_AREA)
        x0, y0 = k * w // PEOPLE + (w // PEOPLE - side) // 2, (h - side) // 2
        frame[y0:y0 + side, x0:x0 + side] = tile
    return frame


def crowd_timing(pipeline: FacePipeline, still: FacePipeline, rgb: np.ndarray, runs: int,
                 config: Config | None = None) -> CrowdTiming:
    """Time three people entering together `runs` times, each with a fresh live recognizer
    (new tracks) on `pipeline` (the live one); the person is enrolled from `rgb` by `still`."""
    from kiosk.gallery import Gallery

    config = config or Config()
    face = pick_enrollment_face(still.analyze(rgb))
    frame = crowd_frame(rgb, face.box)
    results: list[CrowdRun] = []
    with tempfile.TemporaryDirectory(prefix="face-kiosk-bench-") as tmp, Gallery(Path(tmp) / "bench.db") as gallery:
        gallery.add_person(PersonDetails("Bench Person"), [make_sample(still, face)], pipeline.model_version)
        for _ in range(runs):
            live = LiveRecognizer(Recognizer(config, gallery, pipeline))
            live.gallery_people()  # the matcher is built before the visitors arrive, as in the app
            results.append(_one_entry(live, frame))
    named = [r for r in results if r.frames <= MAX_FRAMES]
    walls = sorted(r.wall_ms for r in named) or [float("nan")]
    return CrowdTiming(
        runs=runs,
        median_ms=statistics.median(walls),
        p95_ms=walls[min(len(walls) - 1, int(0.95 * len(walls)))],
        cpu_ms=statistics.median(r.cpu_ms for r in named) if named else float("nan"),
        frames=statistics.median(r.frames for r in named) if named else float("nan"),
        named=len(named),
    )


def _one_entry(live: LiveRecognizer, frame: np.ndarray) -> CrowdRun:
    start, start_cpu = time.perf_counter(), time.process_time()
    for i in range(1, MAX_FRAMES + 1):
        result = live.process(Frame(i, frame, time.perf_counter() - start))
        if len(result.faces) >= PEOPLE and all(f.identity.known for f in result.faces):
            return CrowdRun((time.perf_counter() - start) * 1000, (time.process_time() - start_cpu) * 1000, i)
    return CrowdRun(float("inf"), float("inf"), MAX_FRAMES + 1)
