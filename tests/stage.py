"""The lobby in front of the kiosk's camera, for end-to-end tests: who stands there is the test's
to say (`enter(photo)`, `leave()`). A visitor walks up (kiosk.diagnostics.arrivals.walk_up_frames:
their photo composited onto a lobby wall, growing, drifting, with noise and now and then motion
blur) and then stands at the kiosk; an empty lobby is the bare wall.

Fed through the worker in lockstep, every frame is analysed at the clip's own time. What a frame
shows depends only on what the test said before it was read, never on how fast anything runs;
`Watcher` tells the test when the kiosk has seen the change (results arrive in order).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
from PySide6.QtCore import QObject

from kiosk.capture.sources import FrameSource
from kiosk.diagnostics.arrivals import FPS, lobby_background, walk_up_frames

#: Empty frames after which a visitor has certainly left (the tracker ends a track unseen for
#: TrackerConfig.max_missed_s = 1 s; this is 2 s of clip).
GONE_FRAMES = int(2 * FPS)


class Stage(FrameSource):
    """An endless camera of the lobby; the test sends visitors in and out."""

    fps = FPS

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)
        self._wall = lobby_background(np.random.default_rng(seed + 1)).astype(np.uint8)
        self._lock = threading.Lock()
        self._visitor: Iterator[np.ndarray] | None = None
        self.description = "the lobby (a test stage)"

    def enter(self, photo: np.ndarray) -> None:
        """Someone (this photo) walks up to the kiosk and stays."""
        with self._lock:
            self._visitor = walk_up_frames(photo, self._rng)

    def leave(self) -> None:
        """They walk away: the lobby is empty from the next frame on."""
        with self._lock:
            self._visitor = None

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        with self._lock:
            if self._visitor is None:
                noise = self._rng.normal(0, 3, self._wall.shape)
                return np.clip(self._wall + noise, 0, 255).astype(np.uint8)
            return next(self._visitor)

    def close(self) -> None:
        pass


class Watcher(QObject):
    """What the GUI thread has been shown so far (connect `seen` to the worker's result_ready).

    A QObject, like tests.test_gui_kiosk.MediaClock: a plain Python object's bound method as the
    slot of a cross-thread signal was seen freed under PySide6 6.11 while the test still held it
    (its attributes read back as other objects)."""

    def __init__(self) -> None:
        super().__init__()
        self.results = 0
        self.empty_in_a_row = 0
        self.tracks: list[int] = []  # every track id, in the order first seen
        self.embeddings: dict[int, list[np.ndarray]] = {}  # per track: every face vector made

    def seen(self, result) -> None:
        self.results += 1
        self.empty_in_a_row = 0 if result.faces else self.empty_in_a_row + 1
        for face in result.faces:
            if face.track_id not in self.tracks:
                self.tracks.append(face.track_id)
            if face.analysis.embedding.size:
                self.embeddings.setdefault(face.track_id, []).append(face.analysis.embedding.copy())

    def mark(self) -> int:
        """A point to wait from: the number of tracks seen so far."""
        return len(self.tracks)

    def new_track_since(self, mark: int) -> int | None:
        """The first track that appeared after `mark`, if any."""
        return self.tracks[mark] if len(self.tracks) > mark else None
