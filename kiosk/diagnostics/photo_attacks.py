"""Simulated presentation attacks: a still photo held up to the kiosk's camera, as clips.

This makes evaluation data; it decides nothing at run time (the check is `kiosk.liveness`).
No print or replay corpus can be had here, so the liveness check is measured on attacks made
from development photos, and the docs say they are simulated.

Two kinds, both from one still photo (bare, or with a painted mask):

- `walk_up` (`kiosk.diagnostics.arrivals.walk_up_frames`): the project's own walk-up clip. The
  photo moves in the image plane only (grows, drifts, turns a little), exactly as the clips the
  tests make from LFW photos: a photo carried up to the camera.
- `held_print`: a printed copy held by hand (`print_look`: paper margin, ink range, paper
  tint, halftone dots, a soft gloss) carried up to the camera and then held there with the small
  motions of a hand: drift, in-plane turns, scale and a perspective tilt of the sheet of up to
  `tilt_deg` about both axes, projected through a pinhole camera (640x480, f = 600 px).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.diagnostics.arrivals import FPS, FRAME_SIZE, lobby_background, walk_up_frames

FOCAL_PX = 600.0  # a 640x480 webcam with a ~56 degree horizontal field of view
SHEET_DISTANCE_MM = 450.0
ATTACK_KINDS = ("walk_up", "held_print")
PAPER = np.array([236.0, 232.0, 222.0], np.float32)  # RGB of office paper under indoor light


def print_look(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`photo` (RGB uint8) as it looks printed on office paper: a white margin, ink's narrower
    range (lifted blacks, dimmer whites), a little less colour, a paper tint, halftone dots and
    the printer's dot gain (a slight blur)."""
    h, w = photo.shape[:2]
    img = photo.astype(np.float32)
    luma = img @ np.array([0.299, 0.587, 0.114], np.float32)
    img = np.asarray(img + (luma[..., None] - img) * rng.uniform(0.1, 0.3), np.float32)  # inks: less colour
    black, white = rng.uniform(18, 40), rng.uniform(210, 235)
    img = black + img * (white - black) / 255.0
    img *= PAPER / PAPER.max()
    period = rng.uniform(2.2, 3.5)  # halftone screen of ~100-150 lpi at photo scale
    angle = math.radians(rng.choice([15.0, 45.0, 75.0]))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xs * math.cos(angle) + ys * math.sin(angle)) * 2 * math.pi / period
    v = (-xs * math.sin(angle) + ys * math.cos(angle)) * 2 * math.pi / period
    img *= (1.0 + rng.uniform(0.04, 0.1) * np.sin(u) * np.sin(v))[..., None]
    img = np.asarray(cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.9)), np.float32)
    margin = int(round(max(h, w) * rng.uniform(0.05, 0.12)))
    sheet = np.broadcast_to(PAPER, (h + 2 * margin, w + 2 * margin, 3)).copy()
    sheet[margin:margin + h, margin:margin + w] = img
    sheet += rng.normal(0, 2.0, sheet.shape).astype(np.float32)  # paper grain
    return np.clip(sheet, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class HandMotion:
    """How one simulated attacker moves the sheet: slow sways (sinusoids with random phases)."""

    drift_px: tuple[float, float]  # amplitude of the sideways / up-down sway, frame pixels
    roll_deg: float  # amplitude of the in-plane turn
    tilt_deg: tuple[float, float]  # amplitude of the tilt about the vertical / horizontal axis
    breathe: float  # amplitude of the to-and-fro motion, as a share of the distance
    rates_hz: tuple[float, ...]  # one rate per sway above (6)
    phases: tuple[float, ...]

    @classmethod
    def random(cls, rng: np.random.Generator, tilt_deg: float) -> HandMotion:
        """A plausible hand: sways of a few to ~20 px, up to 6 degrees of roll, tilts up to `tilt_deg`."""
        return cls(
            drift_px=(float(rng.uniform(3, 20)), float(rng.uniform(2, 12))),
            roll_deg=float(rng.uniform(1, 6)),
            tilt_deg=(float(rng.uniform(0.3, 1.0) * tilt_deg), float(rng.uniform(0.3, 1.0) * tilt_deg)),
            breathe=float(rng.uniform(0.01, 0.05)),
            rates_hz=tuple(float(r) for r in rng.uniform(0.15, 0.8, 6)),
            phases=tuple(float(p) for p in rng.uniform(0, 2 * math.pi, 6)),
        )

    def at(self, t: float) -> tuple[float, float, float, float, float, float]:
        """(dx px, dy px, roll deg, tilt about y deg, tilt about x deg, relative distance) at time t."""
        s = [math.sin(2 * math.pi * r * t + p) for r, p in zip(self.rates_hz, self.phases)]
        return (self.drift_px[0] * s[0], self.drift_px[1] * s[1], self.roll_deg * s[2],
                self.tilt_deg[0] * s[3], self.tilt_deg[1] * s[4], 1.0 + self.breathe * s[5])


def sheet_homography(sheet_size: tuple[int, int], face_scale: float, centre: tuple[float, float],
                     roll_deg: float, tilt_y_deg: float, tilt_x_deg: float, distance: float = 1.0) -> np.ndarray:
    """3x3 map from sheet pixels to frame pixels: the sheet's centre at frame point `centre`,
    drawn at `face_scale` frame pixels per sheet pixel when square to the camera, rotated by the
    three angles, `distance` times the nominal distance (pinhole camera, FOCAL_PX)."""
    w, h = FRAME_SIZE
    sw, sh = sheet_size
    pitch = face_scale * SHEET_DISTANCE_MM / FOCAL_PX  # mm per sheet pixel
    z = SHEET_DISTANCE_MM * distance
    rx, ry, rz = (math.radians(a) for a in (tilt_x_deg, tilt_y_deg, roll_deg))
    rot_x = np.array([[1, 0, 0], [0, math.cos(rx), -math.sin(rx)], [0, math.sin(rx), math.cos(rx)]])
    rot_y = np.array([[math.cos(ry), 0, math.sin(ry)], [0, 1, 0], [-math.sin(ry), 0, math.cos(ry)]])
    rot_z = np.array([[math.cos(rz), -math.sin(rz), 0], [math.sin(rz), math.cos(rz), 0], [0, 0, 1]])
    rot = rot_z @ rot_y @ rot_x
    k = np.array([[FOCAL_PX, 0, w / 2], [0, FOCAL_PX, h / 2], [0, 0, 1]])
    # Where the sheet's centre sits in 3-D for it to appear at `centre`.
    t = np.array([(centre[0] - w / 2) * z / FOCAL_PX, (centre[1] - h / 2) * z / FOCAL_PX, z])
    to_mm = np.array([[pitch, 0, -pitch * sw / 2], [0, pitch, -pitch * sh / 2], [0, 0, 1]])
    plane = np.column_stack([rot[:, 0], rot[:, 1], t])
    homography: np.ndarray = k @ plane @ to_mm
    normalised: np.ndarray = homography / homography[2, 2]
    return normalised


def held_print_frames(photo: np.ndarray, rng: np.random.Generator, seconds: float = 3.0,
                      tilt_deg: float = 12.0) -> Iterator[np.ndarray]:
    """Frames of a printed copy of `photo` carried up to the camera over `seconds`, then held
    there by hand (endless). The face grows from ~60 to ~120 px as in the walk-up clips."""
    w, h = FRAME_SIZE
    sheet = print_look(photo, rng)
    background = lobby_background(rng)
    hand = HandMotion.random(rng, tilt_deg)
    gain = rng.uniform(0.75, 1.15)
    drift = rng.uniform(-40, 40)
    gloss_at = rng.uniform(0.2, 0.8, 2)
    gloss = rng.uniform(0, 35)
    quality = int(rng.integers(70, 95))
    full = np.full(sheet.shape[:2], 255, np.uint8)
    n = max(2, int(seconds * FPS))
    # LFW's face is ~110 px of a 250 px photo: the walk-up's 0.55-1.1 of a 250 px photo
    scale0 = 0.55 * 250.0 / max(photo.shape[:2])
    i = 0
    while True:
        t = i / FPS
        p = min(1.0, i / (n - 1))
        dx, dy, roll, tilt_y, tilt_x, dist = hand.at(t)
        centre = (w / 2 + drift * (1 - p) + dx, h * 0.45 + dy)
        hom = sheet_homography((sheet.shape[1], sheet.shape[0]), scale0 * (1 + p), centre, roll, tilt_y,
                               tilt_x, dist)
        face = cv2.warpPerspective(sheet, hom, (w, h), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpPerspective(full, hom, (w, h), flags=cv2.INTER_LINEAR)[..., None].astype(np.float32) / 255
        frame = alpha * face + (1 - alpha) * background
        # A soft gloss on the sheet that slides as it tilts.
        gx = w * (gloss_at[0] + tilt_y / 60.0)
        gy = h * (gloss_at[1] + tilt_x / 60.0)
        ys, xs = np.ogrid[0:h, 0:w]
        frame += alpha * (gloss * np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * (0.2 * w) ** 2)))[..., None]
        frame = frame * (gain + rng.normal(0, 0.02)) + rng.normal(0, 4, frame.shape)
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        if rng.random() < 0.1:  # a jerk of the hand: motion blur
            k = int(rng.integers(3, 7))
            frame = cv2.filter2D(frame, -1, np.full((1, k), 1 / k, np.float32))
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])  # the webcam's MJPG
        decoded = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED) if ok else None
        yield np.asarray(decoded if decoded is not None else frame, np.uint8)
        i += 1


def attack_frames(kind: str, photo: np.ndarray, rng: np.random.Generator, seconds: float = 3.0) -> Iterator[np.ndarray]:
    """Frames of one simulated attack of `kind` (ATTACK_KINDS) made from `photo`."""
    if kind == "walk_up":
        return walk_up_frames(photo, rng, seconds)
    if kind == "held_print":
        return held_print_frames(photo, rng, seconds)
    raise ValueError(f"unknown attack kind {kind!r}; choose one of {', '.join(ATTACK_KINDS)}")
