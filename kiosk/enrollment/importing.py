"""Importing an export into the gallery by the rules every enrollment follows.

Each imported person is checked against the people already enrolled with the app's own matcher:
someone who is already there is skipped with a reason, so importing the same export twice adds
nobody twice. People within one export are not checked against each other (a backup of a
gallery restores as it was). `allow_duplicates` imports them anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kiosk.config import MatchConfig
from kiosk.enrollment.duplicates import find_duplicates
from kiosk.errors import GalleryError, ModelMismatchError
from kiosk.gallery.api import GalleryStore, NewSample, PersonDetails
from kiosk.gallery.archive import ReEmbed, read_people
from kiosk.recognition.matching import MASKED_PHOTO
from kiosk.security.audit import AuditAction
from kiosk.security.export_crypto import decrypted_temp, is_encrypted_export


@dataclass(frozen=True)
class ImportReport:
    """Who was added, and who was not (with why)."""

    added: list[int] = field(default_factory=list)  # person ids
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)


def import_archive(gallery: GalleryStore, path: str | Path, model_version: str, match: MatchConfig | None = None,
                   reembed: ReEmbed | None = None, allow_duplicates: bool = False, *,
                   passphrase: str | None = None, dim: int | None = None) -> ImportReport:
    """Add the people of an export (one transaction), skipping those already enrolled.

    An encrypted export needs its `passphrase` (it is decrypted to a private temporary file
    next to the gallery, overwritten and removed afterwards). `dim`: the template length the
    model makes (a template of another length is refused, never stored).
    """
    if is_encrypted_export(path):
        if passphrase is None:
            raise GalleryError(f"{path}: an encrypted export; give its passphrase")
        workdir = Path(getattr(gallery, "path", Path(path))).parent
        with decrypted_temp(path, passphrase, workdir=workdir) as plain:
            return import_archive(gallery, plain, model_version, match, reembed, allow_duplicates, dim=dim)
    people = read_people(path, model_version, reembed, dim)
    try:
        existing = gallery.templates(model_version)
    except ModelMismatchError:
        existing = None  # only other models' templates: nothing comparable to check against
    kept: list[tuple[PersonDetails, list[NewSample]]] = []
    skipped: list[tuple[str, str]] = []
    for person in people:
        vectors = [(t.embedding, t.kind == MASKED_PHOTO) for s in person.samples for t in s.templates]
        if not allow_duplicates and vectors and existing is not None and len(existing):
            dups = find_duplicates(existing, np.stack([v for v, _ in vectors]), np.array([m for _, m in vectors]), match)
            if dups:
                skipped.append((person.details.name, f"already enrolled as {dups[0].name} (id {dups[0].person_id})"))
                continue
        kept.append((person.details, person.samples))
    added = gallery.add_people(kept, model_version) if kept else []
    gallery.record_event(AuditAction.IMPORT, "import", {"people": len(added), "skipped": len(skipped)})
    return ImportReport(added, skipped)
