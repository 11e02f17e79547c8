"""Is a track's face flat? The mesh's homography residual over a second, against its own jitter.

For each frame, two residuals (`kiosk.liveness.mesh_motion`), in pixels:

- the *jitter*: against the frame ~`short_lag_s` before. Over a tenth of a second neither a photo
  nor a head changes shape much, so this is mostly the mesh's own noise, which depends on the
  face's size, sharpness, compression and mask;
- the *change*: against the frame ~`long_lag_s` before. A photo leaves the jitter again however
  far it was carried, turned or tilted; a head that turned, nodded, talked or smiled leaves more.

Their log ratio (the change over the jitter at both frames' times) is ~0 for a plane and grows
with the head's 3-D motion and expressions; its median over the last `window_s` is the cue.
Measured on development data (`docs/liveness.md`): simulated photo clips 0.0-0.45 (walk-ups
~0, hand-held tilted prints up to ~0.45: the mesh reads some tilt as a head turn), real heads
0.3-1.9 (the lowest: a small face walking straight at the camera).

"Moved enough": a flat ratio only counts against a face that moved, by at least `moved` eye
distances (RMS over the points) between the two frames: a face held still is flat whether it is
a photo or not. A high ratio counts however little the face moved (expressions are not flat).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from kiosk.liveness.mesh_motion import eye_distance, homography_residual


@dataclass(frozen=True)
class PlanarityRule:
    """Lags, window and "moved enough" (see the module docstring)."""

    short_lag_s: float = 0.1  # the jitter's lag (at least one frame back)
    long_lag_s: float = 1.0  # the change's lag; 0.6 s separated real from photo clips less
    lag_tolerance_s: float = 0.07  # how far from the wanted lag a frame may be
    jitter_window_s: float = 1.0  # the jitter at a time: median of this last stretch
    window_s: float = 2.0  # the cue: median over the frames of this last stretch
    min_frames: int = 6  # frames needed in that window before the cue speaks
    moved: float = 0.1  # eye distances (RMS point displacement over the long lag)
    min_jitter_px: float = 0.05  # floor: a perfectly still synthetic picture has no jitter at all
    # The mesh's shape drifts a little with the face's size in the image (its resolution): on the
    # simulated photo clips the log ratio was 0.06-0.10 (median) for pairs of frames within 5% of
    # each other's size, 0.19-0.26 when the size had changed by 5-40%. That much is subtracted:
    # `scale_bias` times the size change (log) over `scale_bias_at`, at most `scale_bias`.
    scale_bias: float = 0.15
    scale_bias_at: float = 0.1


@dataclass(frozen=True)
class PlanarityReading:
    """The cue now: `value` (median log ratio; None while too few frames), the share of its
    frames on which the face had moved enough, how many frames it rests on, and the face's
    median eye distance over them (pixels)."""

    value: float | None
    moved: float
    frames: int
    eye_px: float = 0.0


class PlanarityCue:
    """One track's planarity, fed frame by frame with its mesh points."""

    def __init__(self, rule: PlanarityRule | None = None) -> None:
        self.rule = rule or PlanarityRule()
        keep = self.rule.long_lag_s + self.rule.lag_tolerance_s + 0.05
        self._keep_s = keep
        self._meshes: deque[tuple[float, np.ndarray]] = deque()
        self._jitter: deque[tuple[float, float]] = deque()  # (t, jitter px) per frame
        self._jitter_at: deque[tuple[float, float]] = deque()  # (t, median jitter px then)
        self._ratios: deque[tuple[float, float, bool, float]] = deque()  # (t, log ratio, moved, eye px)

    def _frame_near(self, t: float, lag: float, at_least_one: bool = False) -> np.ndarray | None:
        best: tuple[float, np.ndarray] | None = None
        for tf, mesh in self._meshes:
            err = abs(t - lag - tf)
            if err <= self.rule.lag_tolerance_s + (0.1 if at_least_one else 0.0) and (best is None or err < best[0]):
                best = (err, mesh)
        return None if best is None else best[1]

    def _jitter_near(self, t: float) -> float | None:
        near = [(abs(tf - t), j) for tf, j in self._jitter_at if abs(tf - t) <= self.rule.lag_tolerance_s]
        return min(near)[1] if near else None

    def update(self, t: float, mesh: np.ndarray) -> PlanarityReading:
        """Feed one frame (time in seconds, (478, 3) mesh in pixels); returns the cue now."""
        rule = self.rule
        mesh = np.asarray(mesh, np.float32)
        short = self._frame_near(t, rule.short_lag_s, at_least_one=True)
        if short is not None:
            self._jitter.append((t, homography_residual(short, mesh)))
        while self._jitter and self._jitter[0][0] < t - rule.jitter_window_s:
            self._jitter.popleft()
        finite = [j for _, j in self._jitter if math.isfinite(j)]
        if finite:
            self._jitter_at.append((t, max(float(np.median(finite)), rule.min_jitter_px)))
        old = self._frame_near(t, rule.long_lag_s)
        jitter_now = self._jitter_near(t)
        jitter_then = self._jitter_near(t - rule.long_lag_s)
        if old is not None and jitter_now is not None and jitter_then is not None:
            change = homography_residual(old, mesh)
            if math.isfinite(change):
                jitter = math.sqrt((jitter_now ** 2 + jitter_then ** 2) / 2)
                eyes = eye_distance(mesh)
                shift = float(np.sqrt(np.mean(np.sum((mesh[:, :2] - old[:, :2]) ** 2, axis=1)))) / eyes
                resized = abs(math.log(eyes / eye_distance(old)))
                bias = rule.scale_bias * min(1.0, resized / rule.scale_bias_at)
                self._ratios.append((t, math.log(max(change, 1e-9) / jitter) - bias, shift >= rule.moved, eyes))
        self._meshes.append((t, mesh))
        for q in (self._meshes, self._jitter_at):
            while q and q[0][0] < t - self._keep_s:
                q.popleft()
        while self._ratios and self._ratios[0][0] < t - rule.window_s:
            self._ratios.popleft()
        return self.reading()

    @property
    def jitter_px(self) -> float | None:
        """The mesh's current jitter (median short-lag residual, pixels), None before the second frame."""
        return self._jitter_at[-1][1] if self._jitter_at else None

    def reading(self) -> PlanarityReading:
        """The cue from the frames seen so far."""
        n = len(self._ratios)
        if n < self.rule.min_frames:
            return PlanarityReading(None, 0.0, n)
        values = np.array([r for _, r, _, _ in self._ratios])
        moved = float(np.mean([m for _, _, m, _ in self._ratios]))
        eyes = float(np.median([e for _, _, _, e in self._ratios]))
        return PlanarityReading(float(np.median(values)), moved, n, eyes)
