"""Turning detected faces into gallery samples: the templates each sample stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kiosk.errors import AmbiguousFaceError, FaceNotFoundError
from kiosk.gallery.store import NewSample, NewTemplate
from kiosk.imageio import load_rgb
from kiosk.matching import FULL, SYNTH_MASK
from kiosk.vision.align import ARCFACE_112
from kiosk.vision.masks import MaskStyle, paint_mask
from kiosk.vision.pipeline import FacePipeline
from kiosk.vision.types import FaceAnalysis

# Fixed styles (not random): the same photo always gives the same templates.
TEMPLATE_MASKS = (
    MaskStyle(shape="surgical", colour=(140, 190, 215), top=64.0),
    MaskStyle(shape="cloth", colour=(30, 30, 34), top=62.0),
    MaskStyle(shape="n95", colour=(235, 235, 232), top=66.0),
)


def quality_score(face: FaceAnalysis) -> float:
    """One number in 0..1 to rank samples (size, sharpness, frontal pose)."""
    q = face.quality
    size = min(1.0, q.face_px / 160.0)
    sharp = min(1.0, q.sharpness / 300.0)
    frontal = max(0.0, 1.0 - abs(q.yaw))
    return float(round((size + sharp + frontal) / 3.0, 4))


def make_sample(pipeline: FacePipeline, face: FaceAnalysis, source: str = "") -> NewSample:
    """The full-face template plus synthetic-mask templates of one unmasked face.

    A face that is already masked keeps only its own template (painting a second mask on it
    adds nothing).
    """
    templates = [NewTemplate(FULL, face.embedding, quality_score(face))]
    if not face.masked:
        rng = np.random.default_rng(0)
        painted = np.stack([paint_mask(face.aligned, ARCFACE_112, style, rng) for style in TEMPLATE_MASKS])
        for vec in pipeline.embed_aligned(painted):
            templates.append(NewTemplate(SYNTH_MASK, vec, quality_score(face)))
    return NewSample(
        aligned=face.aligned, templates=templates, source=source,
        quality=quality_score(face), masked=face.masked,
    )


def templates_for_aligned(pipeline: FacePipeline, aligned: np.ndarray, masked: bool) -> list[NewTemplate]:
    """Re-make the templates of a stored sample crop (used when re-embedding with another model)."""
    full = pipeline.embed_aligned(aligned[None])[0]
    templates = [NewTemplate(FULL, full)]
    if not masked:
        rng = np.random.default_rng(0)
        painted = np.stack([paint_mask(aligned, ARCFACE_112, style, rng) for style in TEMPLATE_MASKS])
        templates += [NewTemplate(SYNTH_MASK, v) for v in pipeline.embed_aligned(painted)]
    return templates


def pick_enrollment_face(faces: list[FaceAnalysis], label: str = "image") -> FaceAnalysis:
    """The face to enroll from a photo: the only one, or one clearly larger than the rest.

    A second face at least half the size of the largest makes the photo ambiguous.
    """
    if not faces:
        raise FaceNotFoundError(f"{label}: no face found")
    faces = sorted(faces, key=lambda f: f.area, reverse=True)
    if len(faces) > 1 and faces[1].area >= 0.5 * faces[0].area:
        raise AmbiguousFaceError(f"{label}: {len(faces)} faces of similar size; crop the photo to one person")
    return faces[0]


def sample_from_image(pipeline: FacePipeline, path: str | Path) -> NewSample:
    """Read a photo, pick its face, and make the sample (raises ImageError / FaceNotFoundError / ...)."""
    rgb = load_rgb(path)
    face = pick_enrollment_face(pipeline.analyze(rgb), str(path))
    return make_sample(pipeline, face, source=str(path))
