"""Turning detected faces into gallery samples: the templates each sample stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kiosk.errors import AmbiguousFaceError, FaceNotFoundError
from kiosk.gallery.store import NewSample, NewTemplate
from kiosk.imageio import load_rgb
from kiosk.matching import FULL, MASKED_PHOTO
from kiosk.vision.masks import MaskStyle
from kiosk.vision.pipeline import FacePipeline
from kiosk.vision.types import FaceAnalysis

# Painted-mask templates stored per unmasked sample: none. Measured on lfw-dev (docs/matching.md):
# with per-cell calibrated thresholds, matching masked probes against painted-mask templates
# (alone or averaged with the full face) did not beat the NAP-adapted full-face template
# (-2 to +1 points masked rank-1), and they cost three more embeddings per sample.
# Galleries made before this still hold "synthetic-mask" templates; the matcher ignores them.
TEMPLATE_MASKS: tuple[MaskStyle, ...] = ()


def quality_score(face: FaceAnalysis) -> float:
    """One number in 0..1 to rank samples (size, sharpness, frontal pose)."""
    q = face.quality
    size = min(1.0, q.face_px / 160.0)
    sharp = min(1.0, q.sharpness / 300.0)
    frontal = max(0.0, 1.0 - abs(q.yaw))
    return float(round((size + sharp + frontal) / 3.0, 4))


def template_kind(masked: bool) -> str:
    """The template kind of a sample: a photo with or without a mask."""
    return MASKED_PHOTO if masked else FULL


def make_sample(pipeline: FacePipeline, face: FaceAnalysis, source: str = "") -> NewSample:
    """One sample of an analysed face: its crop and one template, marked masked or not.

    The matcher averages a person's unmasked-photo templates (masked-photo ones only when the
    person has no unmasked photo), so every extra good sample makes the person easier to find.
    """
    templates = [NewTemplate(template_kind(face.masked), face.embedding, quality_score(face))]
    return NewSample(
        aligned=face.aligned, templates=templates, source=source,
        quality=quality_score(face), masked=face.masked,
    )


def templates_for_aligned(pipeline: FacePipeline, aligned: np.ndarray, masked: bool) -> list[NewTemplate]:
    """Re-make the templates of a stored sample crop (used when re-embedding with another model)."""
    vec = pipeline.embed_aligned(aligned[None])[0]
    return [NewTemplate(template_kind(masked), vec)]


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
