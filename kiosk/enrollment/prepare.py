"""The model half of saving an enrollment, Qt-free: samples with their templates, and the
possible-duplicate check. Runs on the thread that owns the pipeline; writes nothing.

Writing is a separate step (`save_enrollment`), one gallery transaction, so a cancel
between the two, or a crash anywhere, leaves no half-enrolled person.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.config import MatchConfig
from kiosk.enrollment.duplicates import DuplicateCandidate, find_duplicates
from kiosk.enrollment.samples import make_sample
from kiosk.errors import GalleryError
from kiosk.gallery.api import GalleryStore, NewSample, PersonDetails
from kiosk.vision.pipeline import FacePipeline
from kiosk.vision.types import FaceAnalysis


@dataclass(frozen=True)
class PendingSample:
    """A face chosen for enrollment (camera capture or photo) and where it came from."""

    face: FaceAnalysis
    source: str


@dataclass(frozen=True)
class PreparedEnrollment:
    """Samples ready to store, the model that made them and whom they already look like."""

    samples: list[NewSample]
    model_version: str
    duplicates: list[DuplicateCandidate]


def prepare_enrollment(pipeline: FacePipeline, gallery: GalleryStore, pending: Sequence[PendingSample],
                       match: MatchConfig | None = None, exclude: int | None = None) -> PreparedEnrollment:
    """Embed what is not embedded yet, make each sample's templates and look for duplicates."""
    faces = [p.face for p in pending]
    missing = [i for i, f in enumerate(faces) if f.embedding.size == 0]
    if missing:
        vectors = pipeline.embed_aligned(np.stack([faces[i].aligned for i in missing]))
        for i, vec in zip(missing, vectors):
            # Faces may be shared with the live worker's results: never mutate them.
            faces[i] = dataclasses.replace(faces[i], embedding=vec)
    samples = [make_sample(pipeline, face, source=p.source) for face, p in zip(faces, pending)]
    version = pipeline.model_version
    templates = gallery.templates(version)
    duplicates = find_duplicates(templates, np.stack([f.embedding for f in faces]),
                                 np.array([f.masked for f in faces]), match, exclude=exclude)
    return PreparedEnrollment(samples, version, duplicates)


class DuplicateError(GalleryError):
    """The new samples look like people already enrolled (and that was not confirmed)."""

    def __init__(self, candidates: list[DuplicateCandidate]) -> None:
        names = ", ".join(f"{c.name} (id {c.person_id}, score {c.score:.2f})" for c in candidates[:3])
        super().__init__(f"these photos look like someone already enrolled: {names}; add them to that "
                         "person, or confirm it is someone else")
        self.candidates = candidates


def save_enrollment(gallery: GalleryStore, prepared: PreparedEnrollment, details: PersonDetails | None = None,
                    person_id: int | None = None, *, allow_duplicate: bool = False) -> int:
    """Store the samples as a new person (`details`) or add them to `person_id`; one transaction.

    The one write path of every enrollment (dialog, CLI, import): it refuses samples that look
    like someone else already enrolled unless `allow_duplicate` (the operator confirmed it is a
    different person). Returns the person's id.
    """
    others = [d for d in prepared.duplicates if d.person_id != person_id]
    if others and not allow_duplicate:
        raise DuplicateError(others)
    if person_id is not None:
        gallery.add_samples(person_id, prepared.samples, prepared.model_version)
        return person_id
    if details is None:
        raise ValueError("a new person needs details")
    return gallery.add_person(details, prepared.samples, prepared.model_version)
