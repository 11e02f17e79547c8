"""Similarity alignment to the 112x112 ArcFace geometry: from face-mesh points (the pipeline),
or from 5 points (painting synthetic masks, tools)."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from kiosk.errors import ModelError

# insightface utils/face_align.py::arcface_dst: left eye, right eye, nose, mouth left, mouth right.
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping src points onto dst, as a 2x3 matrix.

    All points count: RANSAC/LMEDS variants quietly drop the mouth corners, which
    tilts masked faces whose lower half is hidden behind cloth.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = (sig * np.diag(sign)).sum() / var_s if var_s > 0 else 1.0
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]]).astype(np.float32)


def align_face(rgb: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp the face with these 5 landmarks to a size x size crop (ArcFace geometry)."""
    dst = ARCFACE_112 * (size / 112.0)
    matrix = similarity_transform(landmarks, dst)
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


MESH_TEMPLATE_KEY = "mesh-template"
ALIGNED_POINTS = 468  # the face mesh's points without the 10 iris points


@cache
def mesh_template() -> np.ndarray:
    """(478, 2): where each face-mesh point sits, on average, in the 112x112 ArcFace crop.

    Learned by tools/make_mesh_template.py (median over lfw-dev faces outside eval's people,
    each aligned by its mesh eye centres, nose tip and mouth corners to ARCFACE_112), so a
    face aligned to it has the geometry the embedders were trained on.
    """
    from kiosk.models import verified_model_path

    template = np.load(verified_model_path(MESH_TEMPLATE_KEY))
    if template.shape != (478, 2):
        raise ModelError(f"face mesh template has shape {template.shape}, expected (478, 2)")
    points: np.ndarray = template.astype(np.float32)
    return points


def mesh_alignment(points: np.ndarray, size: int = 112) -> np.ndarray:
    """2x3 similarity taking a face's mesh points onto the template (all 468 face points, least squares).

    Measured on lfw-dev against 5-point and upper-face-only alignments (docs/matching.md): with a
    painted mask the many stable upper-face points outvote the guessed mouth, and one alignment
    serves bare and masked faces alike, so templates and probes are always aligned the same way.
    """
    dst = mesh_template()[:ALIGNED_POINTS] * (size / 112.0)
    return similarity_transform(np.asarray(points, np.float32)[:ALIGNED_POINTS, :2], dst)


def align_mesh(rgb: np.ndarray, points: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp the face with these mesh points to a size x size crop (ArcFace geometry)."""
    return cv2.warpAffine(rgb, mesh_alignment(points, size), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def mesh_template_five() -> np.ndarray:
    """The template's 5 points (eye centres from their corners, nose tip, mouth corners)."""
    from kiosk.vision.landmarks import (
        EYE_LEFT_INNER,
        EYE_LEFT_OUTER,
        EYE_RIGHT_INNER,
        EYE_RIGHT_OUTER,
        MOUTH_LEFT,
        MOUTH_RIGHT,
        NOSE_TIP,
    )

    t = mesh_template()
    return np.stack([(t[EYE_LEFT_OUTER] + t[EYE_LEFT_INNER]) / 2, (t[EYE_RIGHT_INNER] + t[EYE_RIGHT_OUTER]) / 2,
                     t[NOSE_TIP], t[MOUTH_LEFT], t[MOUTH_RIGHT]]).astype(np.float32)


def loose_crop_from_aligned(aligned: np.ndarray, side_px: int = 256) -> np.ndarray:
    """A loose face crop (as the face mesh wants it) rebuilt from an aligned 112x112 crop.

    Galleries from before schema version 2 kept only the aligned crop. Its face sits where the
    template puts it, so the mesh's own crop (the landmarks' extent x 1.5, upright) can be
    laid over it; what lies outside the 112 px is filled by repeating the edge. Re-embedding
    from it costs some accuracy against the original photo (docs/matching.md).
    """
    from kiosk.vision.landmarks import ROI_SCALE

    t = mesh_template()[:ALIGNED_POINTS]
    lo, hi = t.min(0), t.max(0)
    centre = (lo + hi) / 2
    scale = side_px / (ROI_SCALE * float(max(hi - lo)))
    matrix = np.array([[scale, 0, side_px / 2 - scale * centre[0]],
                       [0, scale, side_px / 2 - scale * centre[1]]], np.float32)
    return cv2.warpAffine(aligned, matrix, (side_px, side_px), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
