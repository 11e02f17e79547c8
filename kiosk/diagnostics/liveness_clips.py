"""Clips for the liveness eval, recorded once through the live loop's vision and tracker.

A clip (real, or a simulated attack from `kiosk.diagnostics.photo_attacks`) is run through the
live pipeline (detection, face mesh following each track's last landmarks, the IoU tracker) at
the clip's own time; each track keeps, per frame, what `LivenessMonitor` is fed: time, box,
mesh and the two passive crops. The check can then be replayed on the recording with any
settings without running the vision again (the passive model's scores are cached per frame).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kiosk.capture.images import load_rgb
from kiosk.capture.sources import open_source
from kiosk.diagnostics.arrivals import FPS, masked_copy
from kiosk.diagnostics.photo_attacks import ATTACK_KINDS, attack_frames
from kiosk.liveness.passive import PassiveInput, PassiveScorer, passive_box
from kiosk.recognition.tracking import Tracker, TrackerConfig
from kiosk.vision.pipeline import FacePipeline

CLIP_SECONDS = 6.0  # simulated attacks: a 3 s walk-up, then 3 s held in front of the camera


@dataclass
class FaceFrame:
    """One face on one frame, as the liveness check sees it."""

    t: float
    box: np.ndarray
    mesh: np.ndarray | None
    face: PassiveInput
    p_real: float | None = None  # the passive model's score, once asked


@dataclass
class RecordedClip:
    """A clip's tracks (track id -> frames) and what it shows."""

    name: str
    truth: str  # "real", or the attack kind ("walk_up", "held_print")
    look: str  # "bare", "masked" or "" (real clips: as filmed)
    tracks: dict[int, list[FaceFrame]] = field(default_factory=dict)
    frames: int = 0

    @property
    def attack(self) -> bool:
        """True for a simulated attack."""
        return self.truth != "real"


def record(pipeline: FacePipeline, frames: Iterable[np.ndarray], fps: float, name: str, truth: str,
           look: str = "", min_frames: int = 5) -> RecordedClip:
    """Run `frames` (RGB) through the live vision and tracker at `fps`; keep tracks of at least
    `min_frames` frames (shorter ones are passers-by the kiosk would not greet either)."""
    tracker = Tracker(TrackerConfig())
    clip = RecordedClip(name, truth, look)
    for i, rgb in enumerate(frames):
        t = i / fps
        found = pipeline.detect(rgb)
        previous = [tracker.last_mesh(tid) if tid is not None else None for tid in tracker.peek(found.xyxy)]
        faces = pipeline.analyze_detections(rgb, found, embed=False, previous=previous).faces
        boxes = np.stack([f.box for f in faces]) if faces else np.zeros((0, 4), np.float32)
        ids = tracker.update(boxes, t, np.array([f.mask_score for f in faces], np.float32))
        for tid, face in zip(ids, faces):
            tracker.tracks[tid].mesh = face.mesh
            cut_box = passive_box(face.mesh) if face.mesh is not None else face.box
            clip.tracks.setdefault(tid, []).append(FaceFrame(t, face.box, face.mesh, PassiveInput.cut(rgb, cut_box)))
        clip.frames = i + 1
    clip.tracks = {tid: fr for tid, fr in clip.tracks.items() if len(fr) >= min_frames}
    return clip


def score_frame(frame: FaceFrame, scorer: PassiveScorer) -> float:
    """The passive model's p(real) of a recorded face (computed once)."""
    if frame.p_real is None:
        frame.p_real = scorer.score_input(frame.face)
    return frame.p_real


def real_clips(video_dir: Path) -> list[tuple[str, list[np.ndarray], float]]:
    """(name, RGB frames, fps) of every clip in `video_dir` (the development clips are GIFs)."""
    out = []
    for path in sorted(p for p in video_dir.iterdir() if p.suffix.lower() in (".gif", ".mp4", ".avi")):
        frames = []
        with open_source(str(path), loop=False) as source:
            fps = float(getattr(source, "fps", None) or 12.5)
            while (rgb := source.read()) is not None:
                frames.append(np.ascontiguousarray(rgb))
        out.append((path.name, frames, fps))
    return out


def split_people(lfw_images: Path, part: str) -> list[str]:
    """lfw-dev people in two fixed halves by a hash of the name: "calibration" (the thresholds
    were set looking at these) and "report" (the eval's numbers)."""
    people = sorted(p.name for p in lfw_images.iterdir() if p.is_dir())
    want = 0 if part == "calibration" else 1
    return [p for p in people if zlib.crc32(p.encode()) % 2 == want]


def first_photo(lfw_images: Path, person: str) -> Path:
    """The person's first photo."""
    return sorted((lfw_images / person).glob("*.jpg"))[0]


def attack_recordings(live: FacePipeline, still: FacePipeline, lfw_images: Path, people: list[str],
                      seed: int = 19, seconds: float = CLIP_SECONDS) -> Iterator[RecordedClip]:
    """Simulated attacks made from each person's first photo: every kind, bare and with a
    painted mask, recorded through the live loop."""
    rng = np.random.default_rng(seed)
    for person in people:
        bare = load_rgb(first_photo(lfw_images, person))
        masked = masked_copy(still, bare, rng)
        for look, photo in (("bare", bare), ("masked", masked)):
            if photo is None:
                continue
            for kind in ATTACK_KINDS:
                gen = attack_frames(kind, photo, np.random.default_rng(int(rng.integers(1 << 31))))
                frames = (next(gen) for _ in range(int(seconds * FPS)))
                yield record(live, frames, FPS, f"{kind}/{look}/{person}", kind, look)
