"""The active challenge: the screen asks for a small head turn (or a blink), the mesh checks it.

A Qt-free state machine per track: `Challenge(kind, started_at)`, fed every frame of the track
with its mesh points; it ends PASSED, FAILED or TIMED_OUT and stays there.

- TURN passes when the head turned at least `turn_deg` out of the image plane from where it was
  when asked (the 3-D mesh's rigid rotation) *and* the face's shape changed like a head's (the
  homography residual against the asking frame at least e^`head_log_ratio` times the mesh's jitter).
  A photo tilted in answer turns in 3-D but stays a plane; the mesh reads a tilt of a print
  as a few degrees of turn at most (2-6 on the simulated clips), a head as what it is.
- It FAILS when the face moved in answer (`answer_shift` eye distances from the asking frame
  on `answer_frames` frames) but stayed flat on every one: a picture turned or carried about.
- BLINK passes on a blink (`kiosk.liveness.blinks`) after the question; it cannot fail, only
  time out (a replayed video blinks too, now and then: TURN is the stronger question).
- Nothing within `timeout_s`: TIMED_OUT.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from kiosk.liveness.decision import ChallengeKind
from kiosk.liveness.mesh_motion import eye_distance, homography_residual, out_of_plane_turn


class ChallengeState(enum.Enum):
    """Where a challenge stands."""

    ASKING = "asking"
    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed out"

    @property
    def over(self) -> bool:
        """True once it passed, failed or timed out."""
        return self is not ChallengeState.ASKING


@dataclass(frozen=True)
class ChallengeRule:
    """How a challenge is judged (module docstring)."""

    timeout_s: float = 5.0
    turn_deg: float = 12.0
    head_log_ratio: float = 0.7
    answer_shift: float = 0.3
    answer_frames: int = 3
    flat_log_ratio: float = 0.3


class Challenge:
    """One question to one track's visitor."""

    def __init__(self, kind: ChallengeKind, started_at: float, rule: ChallengeRule | None = None) -> None:
        self.kind = kind
        self.started_at = started_at
        self.rule = rule or ChallengeRule()
        self.state = ChallengeState.ASKING
        self._start_mesh: np.ndarray | None = None
        self._flat_answers = 0
        self.best_turn_deg = 0.0

    def update(self, t: float, mesh: np.ndarray | None, blinked: bool = False, jitter_px: float = 1.0) -> ChallengeState:
        """Feed one frame of the track: its mesh (or None), whether a blink ended on it, and the
        mesh's current jitter in pixels (`PlanarityCue.jitter_px`)."""
        if self.state.over:
            return self.state
        if t - self.started_at > self.rule.timeout_s:
            self.state = ChallengeState.TIMED_OUT
            return self.state
        if self.kind is ChallengeKind.BLINK:
            if blinked:
                self.state = ChallengeState.PASSED
            return self.state
        if mesh is None:
            return self.state
        mesh = np.asarray(mesh, np.float32)
        if self._start_mesh is None:
            self._start_mesh = mesh
            return self.state
        turn = out_of_plane_turn(self._start_mesh, mesh)
        self.best_turn_deg = max(self.best_turn_deg, turn)
        change = homography_residual(self._start_mesh, mesh)
        log_ratio = math.log(max(change, 1e-9) / max(jitter_px, 1e-6)) if math.isfinite(change) else 0.0
        if turn >= self.rule.turn_deg and log_ratio >= self.rule.head_log_ratio:
            self.state = ChallengeState.PASSED
            return self.state
        shift = float(np.sqrt(np.mean(np.sum((mesh[:, :2] - self._start_mesh[:, :2]) ** 2, axis=1))))
        if shift / eye_distance(mesh) >= self.rule.answer_shift and log_ratio <= self.rule.flat_log_ratio:
            self._flat_answers += 1
            if self._flat_answers >= self.rule.answer_frames:
                self.state = ChallengeState.FAILED
        return self.state
