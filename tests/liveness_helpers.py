"""Meshes for the liveness tests: a real face mesh moved as a photo, turned as a head, blinking."""

from __future__ import annotations

import math

import numpy as np

from kiosk.liveness.blinks import EYELIDS


def warped(mesh: np.ndarray, hom: np.ndarray) -> np.ndarray:
    """The mesh of the same picture mapped by a homography (a photo carried, turned or tilted):
    x, y through `hom`, the mesh's depth guess unchanged."""
    xy1 = np.hstack([mesh[:, :2].astype(np.float64), np.ones((len(mesh), 1))]) @ hom.T
    out = mesh.astype(np.float64).copy()
    out[:, :2] = xy1[:, :2] / xy1[:, 2:]
    return out.astype(np.float32)


def similarity(dx: float, dy: float, angle_deg: float = 0.0, scale: float = 1.0,
               centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A 3x3 similarity about `centre`, then shifted by (dx, dy)."""
    a = math.radians(angle_deg)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    cx, cy = centre
    return np.array([[c, -s, cx - c * cx + s * cy + dx], [s, c, cy - s * cx - c * cy + dy], [0, 0, 1]])


def turned(mesh: np.ndarray, yaw_deg: float, pitch_deg: float = 0.0) -> np.ndarray:
    """The mesh of the head turned by `yaw_deg` about the vertical axis and nodded by `pitch_deg`
    about the horizontal one, through its centroid (orthographic view, as the mesh's own depth)."""
    pts = mesh.astype(np.float64)
    c = pts.mean(0)
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    rot_y = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rot_x = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    return (((pts - c) @ (rot_x @ rot_y).T) + c).astype(np.float32)


def blinking(mesh: np.ndarray, openness: float, eyes: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """The mesh with the lids of the given eyes (0: image-left, 1: image-right) at `openness`
    (1 open as given, 0 shut): points near each eye pulled vertically onto its corner line."""
    out = mesh.astype(np.float64).copy()
    for e in eyes:
        c1, _, _, c2, _, _ = EYELIDS[e]
        centre = (out[c1, :2] + out[c2, :2]) / 2
        width = np.linalg.norm(out[c1, :2] - out[c2, :2])
        near = np.linalg.norm(out[:, :2] - centre, axis=1) < 0.75 * width
        out[near, 1] = centre[1] + (out[near, 1] - centre[1]) * openness
    return out.astype(np.float32)


def jittered(mesh: np.ndarray, rng: np.random.Generator, px: float) -> np.ndarray:
    """The mesh with independent noise of `px` pixels on every point (the model's jitter)."""
    out = mesh.astype(np.float64).copy()
    out[:, :2] += rng.normal(0, px, (len(mesh), 2))
    return out.astype(np.float32)
