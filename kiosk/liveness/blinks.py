"""Blinks, from the face mesh's eyelid points: a photo cannot blink.

Each eye's openness is its eye aspect ratio (EAR: the two upper-to-lower lid distances over
twice the corner-to-corner width, Soukupova and Cech 2016) on the mesh's six points per eye.
A blink: both eyes close to at most `closed_ratio` of their own recent open level, and open
again to `open_ratio` of it within `max_closed_s`. Both eyes, because a blurred or noisy frame
of a photo can make the mesh squeeze one eye (seen on the simulated photo clips: single frames
at 0.54-0.69 of the open level); an eye shut for longer is a squint or a look down, not a blink.

Nor does a drop count on an unsteady frame: one where the points away from the eyes moved off
the homography from the frame before by more than `unsteady` times the mesh's jitter (given by
the caller: `PlanarityCue.jitter_px`; a bad mesh pass moves the whole mesh, a blink moves the
lids only), or one less sharp than
`min_sharpness` of the recent frames (motion blur smears the lids shut on a photo: seen at
0.54-0.58 of the open level on the simulated walk-ups, where real blinks went to 0.40-0.50).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from kiosk.liveness.mesh_motion import eye_distance, homography_residual

#: Six mesh points per eye: corner, upper lid x2, other corner, lower lid x2 (EAR order p1..p6).
EYELIDS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (33, 160, 158, 133, 153, 144),  # the eye on the image's left
    (362, 385, 387, 263, 373, 380),  # the eye on the image's right
)


def eye_openness(points: np.ndarray) -> tuple[float, float]:
    """Each eye's aspect ratio (about 0.25-0.35 open, under 0.15 shut)."""
    p = np.asarray(points, np.float64)[:, :2]
    out = []
    for c1, u1, u2, c2, l2, l1 in EYELIDS:
        width = max(float(np.linalg.norm(p[c1] - p[c2])), 1e-6)
        out.append(float(np.linalg.norm(p[u1] - p[l1]) + np.linalg.norm(p[u2] - p[l2])) / (2 * width))
    return out[0], out[1]


@dataclass(frozen=True)
class BlinkRule:
    """What counts as a blink (see the module docstring)."""

    closed_ratio: float = 0.55
    open_ratio: float = 0.85
    max_closed_s: float = 0.5
    baseline_s: float = 2.0  # the open level: median of the open frames of this last stretch
    min_baseline_frames: int = 4
    unsteady: float = 2.5
    min_sharpness: float = 0.6
    eye_radius: float = 0.45  # "away from the eyes": farther than this many eye distances from both


class BlinkCounter:
    """Counts one face's blinks, frame by frame."""

    def __init__(self, rule: BlinkRule | None = None) -> None:
        self.rule = rule or BlinkRule()
        self._open: deque[tuple[float, float, float]] = deque()  # (t, left, right) of open frames
        self._closed_at: float | None = None  # when both eyes closed (None: open)
        self._shut_long = False  # closed for longer than a blink
        self.blinks = 0
        self.last_blink: float | None = None
        self._previous: np.ndarray | None = None
        self._sharpness: deque[tuple[float, float]] = deque()  # (t, sharpness)

    def baseline(self) -> tuple[float, float] | None:
        """Each eye's recent open level, or None while too few frames were seen."""
        if len(self._open) < self.rule.min_baseline_frames:
            return None
        arr = np.array([(left, right) for _, left, right in self._open])
        med = np.median(arr, axis=0)
        return float(med[0]), float(med[1])

    def _steady(self, points: np.ndarray, previous: np.ndarray | None, jitter_px: float | None) -> bool:
        """Whether the face away from the eyes held still against the frame before (computed on
        candidate frames only: it costs a homography fit)."""
        if jitter_px is None:
            return True
        if previous is None:
            return False
        pts = np.asarray(previous, np.float64)[:, :2]
        scale = eye_distance(previous)
        centres = [(pts[c1] + pts[c2]) / 2 for c1, _, _, c2, _, _ in EYELIDS]
        away = np.min([np.linalg.norm(pts - c, axis=1) for c in centres], axis=0) > self.rule.eye_radius * scale
        residual = homography_residual(previous[away], points[away])
        return bool(np.isfinite(residual)) and residual <= self.rule.unsteady * max(jitter_px, 0.05)

    def _sharp(self, t: float, sharpness: float | None) -> bool:
        """Whether the frame is about as sharp as the recent ones (None: not measured)."""
        if sharpness is None:
            return True
        while self._sharpness and self._sharpness[0][0] < t - self.rule.baseline_s:
            self._sharpness.popleft()
        usual = float(np.median([v for _, v in self._sharpness])) if self._sharpness else sharpness
        self._sharpness.append((t, sharpness))
        return sharpness >= self.rule.min_sharpness * usual

    def update(self, t: float, points: np.ndarray, sharpness: float | None = None,
               jitter_px: float | None = None) -> bool:
        """Feed one frame's mesh (time `t` in seconds) and, if known, the face's sharpness (any
        measure, e.g. the Laplacian's variance) and the mesh's jitter in pixels (None: every
        frame counts as steady); True when a blink ended on this frame."""
        points = np.asarray(points, np.float32)
        previous, self._previous = self._previous, points
        sharp = self._sharp(t, sharpness)
        left, right = eye_openness(points)
        while self._open and self._open[0][0] < t - self.rule.baseline_s:
            self._open.popleft()
        base = self.baseline()
        if base is None:
            self._open.append((t, left, right))
            return False
        ratio = max(left / max(base[0], 1e-6), right / max(base[1], 1e-6))  # the more open eye
        if ratio >= self.rule.open_ratio:
            blinked = (self._closed_at is not None and not self._shut_long
                       and t - self._closed_at <= self.rule.max_closed_s)
            self._closed_at, self._shut_long = None, False
            self._open.append((t, left, right))
            if blinked:
                self.blinks += 1
                self.last_blink = t
            return blinked
        if self._closed_at is not None and t - self._closed_at > self.rule.max_closed_s:
            self._shut_long = True  # a squint or a look down: no blink until the eyes open again
        elif (self._closed_at is None and ratio <= self.rule.closed_ratio and sharp
              and self._steady(points, previous, jitter_px)):
            self._closed_at = t
        return False
