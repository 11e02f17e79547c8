"""Synthetic face masks, painted through the 5 landmarks (for templates, training and eval).

This makes data, it decides nothing at run time: the mask flag is `kiosk.vision.masks`.

The mask outline is drawn in ArcFace 112x112 template coordinates and warped onto the
image with the same similarity transform used for alignment, so it sits on the nose
bridge and covers mouth and chin whatever the head size or roll.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.vision.align import ARCFACE_112, similarity_transform

COLOURS = {
    "surgical-blue": (140, 190, 215),
    "surgical-green": (150, 200, 180),
    "white": (235, 235, 232),
    "black": (30, 30, 34),
    "grey": (128, 128, 130),
    "navy": (35, 45, 85),
    "pink": (230, 170, 185),
    "beige": (205, 185, 160),
    "red": (170, 40, 45),
}
SHAPES = ("surgical", "cloth", "n95")


@dataclass(frozen=True)
class MaskStyle:
    """How one synthetic mask looks."""

    shape: str = "surgical"
    colour: tuple[int, int, int] = COLOURS["surgical-blue"]
    top: float = 64.0  # template y of the upper edge at the cheeks (eyes at ~51.6, nose tip 71.7)
    width: float = 1.0  # horizontal scale around the face centre
    pattern: bool = False
    straps: bool = True

    @classmethod
    def random(cls, rng: np.random.Generator) -> MaskStyle:
        """A random but plausible mask."""
        name = str(rng.choice(list(COLOURS)))
        return cls(
            shape=str(rng.choice(SHAPES)),
            colour=COLOURS[name],
            top=float(rng.uniform(60.0, 69.0)),
            width=float(rng.uniform(0.92, 1.08)),
            pattern=bool(rng.random() < 0.2),
            straps=bool(rng.random() < 0.7),
        )


def _outline(style: MaskStyle) -> np.ndarray:
    """Polygon in template coordinates (may reach beyond the 112x112 crop)."""
    top = style.top
    if style.shape == "n95":
        pts = [(16, top + 6), (36, top - 3), (56, top - 7), (76, top - 3), (96, top + 6),
               (102, 92), (90, 114), (56, 126), (22, 114), (10, 92)]
    elif style.shape == "cloth":
        pts = [(12, top + 2), (34, top - 2), (56, top - 6), (78, top - 2), (100, top + 2),
               (105, 90), (92, 116), (56, 128), (20, 116), (7, 90)]
    else:  # surgical: straighter top, pleated
        pts = [(10, top), (56, top - 3), (102, top), (106, 88), (94, 116), (56, 124), (18, 116), (6, 88)]
    arr = np.asarray(pts, np.float32)
    arr[:, 0] = 56.0 + (arr[:, 0] - 56.0) * style.width
    return arr


def paint_mask(rgb: np.ndarray, landmarks: np.ndarray, style: MaskStyle | None = None,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """Return a copy of `rgb` with a mask painted on the face whose 5 landmarks are given.

    For an aligned 112x112 crop pass `ARCFACE_112` as the landmarks.
    """
    rng = rng or np.random.default_rng(0)
    style = style or MaskStyle.random(rng)
    to_image = cv2.invertAffineTransform(similarity_transform(landmarks, ARCFACE_112))
    scale = float(np.sqrt(abs(np.linalg.det(to_image[:, :2]))))
    poly = _outline(style)
    poly_img = (poly @ to_image[:, :2].T + to_image[:, 2]).astype(np.float32)

    h, w = rgb.shape[:2]
    region = np.zeros((h, w), np.uint8)
    cv2.fillPoly(region, [np.round(poly_img * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)

    colour = np.array(style.colour, np.float32)
    # Shading: lighter on top, darker towards the chin, plus fabric noise.
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    y0, y1 = poly_img[:, 1].min(), poly_img[:, 1].max()
    rel = np.clip((ys * (h - 1) - y0) / max(y1 - y0, 1.0), 0, 1)
    shade = 1.05 - 0.2 * rel
    texture = np.repeat(shade[:, :, None], 3, axis=2) * np.ones((h, w, 3), np.float32) * colour
    texture += rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    if style.pattern:
        stripes = (np.sin(np.arange(w, dtype=np.float32) / max(2.0, 3 * scale)) > 0)[None, :, None]
        texture = np.where(stripes, texture * 0.7, texture)
    if style.shape == "surgical":  # horizontal pleats
        for frac in (0.3, 0.5, 0.7):
            y = int(y0 + frac * (y1 - y0))
            cv2.line(texture, (0, y), (w - 1, y), tuple(float(c) * 0.8 for c in colour), max(1, int(scale * 1.5)))
    alpha = (region.astype(np.float32) / 255.0)[:, :, None]
    out = rgb.astype(np.float32) * (1 - alpha) + np.clip(texture, 0, 255) * alpha
    out = out.astype(np.uint8)
    if style.straps:
        for side in (0, 2):  # strap from the upper corners towards the ears
            start = poly_img[side if style.shape == "surgical" else (0 if side == 0 else 4)]
            ear = np.array([[-6.0 if side == 0 else 118.0, 60.0]], np.float32) @ to_image[:, :2].T + to_image[:, 2]
            cv2.line(out, tuple(int(v) for v in start), tuple(int(v) for v in ear[0]),
                     tuple(int(c) for c in style.colour), max(1, int(round(scale * 1.2))), cv2.LINE_AA)
    return out
