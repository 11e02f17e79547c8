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
from kiosk.gallery.store import Gallery, NewSample
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


@dataclass(frozen=True)
class PersonDetails:
    """What the receptionist typed about a new person."""

    name: str
    company: str = ""
    host: str = ""
    notes: str = ""
    consent_text: str = ""
    consent_at: str | None = None
    retention_until: str | None = None  # ISO date


def prepare_enrollment(pipeline: FacePipeline, gallery: Gallery, pending: Sequence[PendingSample],
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


def save_enrollment(gallery: Gallery, prepared: PreparedEnrollment, details: PersonDetails | None = None,
                    person_id: int | None = None) -> int:
    """Store the samples as a new person (`details`) or add them to `person_id`; one transaction.

    Returns the person's id.
    """
    if person_id is not None:
        gallery.add_samples(person_id, prepared.samples, prepared.model_version)
        return person_id
    if details is None:
        raise ValueError("a new person needs details")
    return gallery.add_person(
        details.name, prepared.samples, prepared.model_version,
        consent_text=details.consent_text, consent_at=details.consent_at, company=details.company,
        host=details.host, notes=details.notes, retention_until=details.retention_until,
    )
