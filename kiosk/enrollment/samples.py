"""Turning detected faces into gallery samples: the templates each sample stores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.capture.images import load_rgb
from kiosk.errors import AmbiguousFaceError, FaceNotFoundError
from kiosk.gallery.api import GalleryStore, NewSample, NewTemplate
from kiosk.recognition.matching import FULL, MASKED_PHOTO
from kiosk.vision.align import loose_crop_from_aligned
from kiosk.vision.pipeline import FacePipeline
from kiosk.vision.quality import quality_score
from kiosk.vision.synthetic_masks import MaskStyle
from kiosk.vision.types import FaceAnalysis

# Painted-mask templates stored per unmasked sample: none. Measured on lfw-dev (docs/matching.md):
# with per-cell calibrated thresholds, matching masked probes against painted-mask templates
# (alone or averaged with the full face) did not beat the NAP-adapted full-face template
# (-2 to +1 points masked rank-1), and they cost three more embeddings per sample.
# Galleries made before this still hold "synthetic-mask" templates; the matcher ignores them.
TEMPLATE_MASKS: tuple[MaskStyle, ...] = ()


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
        quality=quality_score(face), masked=face.masked, face_crop=face.face_crop,
    )


def templates_for_crops(pipeline: FacePipeline, aligned: np.ndarray, face_crop: np.ndarray | None,
                        masked: bool) -> tuple[list[NewTemplate], np.ndarray]:
    """Re-make a stored sample's template (re-embedding, importing with --reembed).

    Returns the templates and the loose crop they came from: the stored one, or for a sample
    from before schema 2 one rebuilt from its aligned crop. FaceNotFoundError when the face
    cannot be aligned again.
    """
    crop = face_crop if face_crop is not None else loose_crop_from_aligned(aligned)
    face = pipeline.analyze_crop(crop)
    if face is None:
        raise FaceNotFoundError("a stored face could not be aligned again")
    return [NewTemplate(template_kind(masked), face.embedding, quality_score(face))], crop


@dataclass(frozen=True)
class ReembedReport:
    """What `reembed_gallery` did."""

    samples: int  # samples re-embedded
    from_old_crops: int  # of them, samples from before schema 2 (re-aligned from their 112 px crop)
    failed: list[int]  # sample ids whose face could not be aligned again (their templates are gone)
    model_version: str


@dataclass(frozen=True)
class RemadeTemplates:
    """Re-embedding's model half: the templates to store (`remake_templates`)."""

    model_version: str
    per_sample: dict[int, list[NewTemplate]]
    crops: dict[int, np.ndarray]  # loose crops rebuilt for samples stored before schema 2
    failed: list[int]  # sample ids whose face could not be aligned again


def remake_templates(pipeline: FacePipeline, gallery: GalleryStore) -> RemadeTemplates:
    """Every sample's templates made again with `pipeline`, from its stored crops (reads only;
    the gallery manager runs it on the model thread, then `store_templates` on the writer)."""
    per_sample: dict[int, list[NewTemplate]] = {}
    crops: dict[int, np.ndarray] = {}
    failed: list[int] = []
    for sample in gallery.samples():
        try:
            templates, crop = templates_for_crops(pipeline, sample.aligned, sample.face_crop, sample.masked)
        except FaceNotFoundError:
            failed.append(sample.id)
            continue
        per_sample[sample.id] = templates
        if sample.face_crop is None:
            crops[sample.id] = crop
    return RemadeTemplates(pipeline.model_version, per_sample, crops, failed)


def store_templates(gallery: GalleryStore, new: RemadeTemplates) -> ReembedReport:
    """Store re-made templates in one transaction: every template of another version goes, so
    nothing old is ever compared with the new ones; rebuilt loose crops are kept."""
    gallery.replace_templates(new.model_version, new.per_sample, new.crops)
    return ReembedReport(len(new.per_sample), len(new.crops), new.failed, new.model_version)


def reembed_gallery(pipeline: FacePipeline, gallery: GalleryStore) -> ReembedReport:
    """Re-make every template with the pipeline in use, from each sample's stored crops.

    One transaction: every template of another version goes, so nothing old is ever compared
    with the new ones. Samples stored before schema 2 get their loose crop rebuilt from the
    aligned crop (and kept, so the next re-embed starts from it).
    """
    return store_templates(gallery, remake_templates(pipeline, gallery))


#: Another face at least this share as prominent as the first makes a photo or frame ambiguous.
SECOND_FACE_RATIO = 0.5


def prominence(face: FaceAnalysis, image_shape: tuple[int, ...] | None) -> float:
    """Area, weighted down the further the face sits from the image's centre."""
    if image_shape is None:
        return face.area
    h, w = image_shape[:2]
    x1, y1, x2, y2 = face.box
    offset = np.hypot((x1 + x2) / 2 - w / 2, (y1 + y2) / 2 - h / 2) / max(np.hypot(w / 2, h / 2), 1.0)
    return face.area * float(np.clip(1.0 - offset, 0.1, 1.0))


def the_person(faces: Sequence[FaceAnalysis], image_shape: tuple[int, ...] | None,
               ratio: float = SECOND_FACE_RATIO) -> FaceAnalysis | None:
    """The one rule for "which face is the person" (photo enrollment, photo import, guided capture).

    The only face, or the one clearly more prominent than the rest (area weighted by how central
    it is: a portrait with a passer-by at the edge is not ambiguous; measured: the area rule
    alone refused 23 of 298 LFW portraits once background faces were detected, this one 4).
    None when there is no face, or a second one is at least `ratio` as prominent.
    """
    if not faces:
        return None
    ranked = sorted(faces, key=lambda f: prominence(f, image_shape), reverse=True)
    if len(ranked) > 1 and prominence(ranked[1], image_shape) >= ratio * prominence(ranked[0], image_shape):
        return None
    return ranked[0]


def pick_enrollment_face(faces: list[FaceAnalysis], label: str = "image",
                         image_shape: tuple[int, ...] | None = None) -> FaceAnalysis:
    """The face to enroll from a photo (`the_person`), or a one-line error saying why not."""
    if not faces:
        raise FaceNotFoundError(f"{label}: no face found")
    person = the_person(faces, image_shape)
    if person is None:
        raise AmbiguousFaceError(f"{label}: {len(faces)} faces of similar size; crop the photo to one person")
    return person


def face_from_image(pipeline: FacePipeline, path: str | Path) -> FaceAnalysis:
    """Read a photo and pick the face to enroll (raises ImageError / FaceNotFoundError / ...)."""
    rgb = load_rgb(path)
    frame = pipeline.analyze_frame(rgb)
    if not frame.faces and frame.rejected:
        raise FaceNotFoundError(f"{path}: {frame.rejected[0].reason}")
    return pick_enrollment_face(frame.faces, str(path), rgb.shape)


def sample_from_image(pipeline: FacePipeline, path: str | Path) -> NewSample:
    """Read a photo, pick its face, and make the sample."""
    return make_sample(pipeline, face_from_image(pipeline, path), source=str(path))
