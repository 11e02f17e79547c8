"""The liveness check in the live loop: every face of every analysed frame goes to its track's
`LivenessMonitor` (kiosk.liveness), and the track's decision travels on the `TrackedFace`.

One `LivenessFeed` per `LiveRecognizer` (one worker thread): the monitor loads the passive model
on first use, never in `off` mode, where every face carries `NOT_CHECKED` (live, as before the
check existed) and nothing is computed. Frames must come in capture order: a track's decision
is built from its frames' timestamps (clip time for files, so a run is reproducible).

Active mode asks a visitor for a head turn (or a blink) and refuses one who does not do it in
time, so only the visitor the kiosk screen faces may be asked: `focus` is that track (the kiosk
session's `liveness_focus`, handed over after each frame; None: no screen asks anyone, as in the
staff's live window, and no face is ever refused for not answering).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from kiosk.capture.sources import Frame
from kiosk.config import LivenessConfig
from kiosk.liveness import (
    NOT_CHECKED,
    LivenessDecision,
    LivenessMonitor,
    PassiveScorer,
    settings_from_config,
)
from kiosk.vision.types import FaceAnalysis


class LivenessFeed:
    """Feeds the tracks' faces to the liveness check and hands back each face's decision."""

    def __init__(self, config: LivenessConfig, scorer: PassiveScorer | None = None) -> None:
        """`scorer`: the passive model when it was loaded already (kiosk.recognition.preload)."""
        self._scorer = scorer
        self.monitor = LivenessMonitor(settings_from_config(config), scorer)
        self.last_ms = 0.0  # time the latest frame's check took
        self.focus: int | None = None  # active mode: the track the kiosk screen may ask the challenge

    @property
    def checking(self) -> bool:
        """False while the check is off (every face counts as live)."""
        return self.monitor.settings.mode != "off"

    def update_config(self, config: LivenessConfig) -> None:
        """New settings: the tracks are judged again from their next frame under them (a
        changed mode or threshold is an administrator's decision); the same settings keep
        every track's decision."""
        settings = settings_from_config(config)
        if settings != self.monitor.settings:
            self.monitor = LivenessMonitor(settings, self._scorer)

    def observe(self, frame: Frame, track_ids: Sequence[int], faces: Sequence[FaceAnalysis],
                alive: Iterable[int]) -> list[LivenessDecision]:
        """The decision of each face's track after this frame (`track_ids[i]` is `faces[i]`'s
        track); `alive` is every track the tracker still follows (the others are forgotten)."""
        if not self.checking:
            self.last_ms = 0.0
            return [NOT_CHECKED] * len(faces)
        start = time.perf_counter()
        focus = self.focus
        decisions = [self.monitor.observe(tid, frame.timestamp, frame.rgb, face.box, face.mesh, may_ask=tid == focus)
                     for tid, face in zip(track_ids, faces)]
        self.monitor.retain(alive)
        self.last_ms = (time.perf_counter() - start) * 1e3
        return decisions
