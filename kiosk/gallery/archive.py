"""Portable export/import of people (details, sample crops, templates) as one zip file.

Only the gallery's public API is used, so any backend exports and imports the same way.
Which imported people are written, and whether they look like someone already enrolled, is
the enrollment's job (kiosk.enrollment.importing); this module reads and writes the format.
"""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.errors import GalleryError
from kiosk.gallery.api import GalleryStore, NewSample, NewTemplate, PersonDetails, now_iso
from kiosk.gallery.schema import SCHEMA_VERSION
from kiosk.gallery.sqlite import decode_png, encode_png

FORMAT = "face-kiosk-export"
FORMAT_VERSION = 2  # 2: samples carry their loose face crop ("face_file")

# (aligned crop, loose face crop or None, masked) -> (templates, the loose crop they came from)
ReEmbed = Callable[[np.ndarray, np.ndarray | None, bool], tuple[list[NewTemplate], np.ndarray]]


@dataclass(frozen=True)
class ImportedPerson:
    """One person read from an export, ready to store."""

    details: PersonDetails
    samples: list[NewSample]


def export_people(gallery: GalleryStore, path: str | Path, person_ids: list[int] | None = None) -> int:
    """Write the chosen people (default: everyone) to a zip; returns how many were written."""
    people = gallery.people() if person_ids is None else [gallery.get_person(i) for i in person_ids]
    records = []
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for person in people:
            samples = []
            for sample in gallery.samples(person.id, with_templates=True):
                name = f"samples/{person.id}_{sample.id}.png"
                zf.writestr(name, encode_png(sample.aligned))
                face_file = None
                if sample.face_crop is not None:
                    face_file = f"faces/{person.id}_{sample.id}.png"
                    zf.writestr(face_file, encode_png(sample.face_crop))
                samples.append({
                    "file": name, "face_file": face_file, "source": sample.source, "quality": sample.quality,
                    "masked": sample.masked,
                    "templates": [{"kind": t.kind, "model_version": t.model_version,
                                   "embedding": base64.b64encode(t.embedding.astype(np.float32).tobytes()).decode(),
                                   "quality": t.quality} for t in sample.templates],
                })
            records.append({
                "name": person.name, "company": person.company, "host": person.host, "notes": person.notes,
                "consent_at": person.consent_at, "consent_text": person.consent_text,
                "retention_until": person.retention_until, "samples": samples,
            })
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "schema_version": SCHEMA_VERSION,
            "created_at": now_iso(), "people": len(records),
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
        zf.writestr("people.json", json.dumps(records))
    tmp.replace(path)
    return len(records)


def read_archive(path: str | Path) -> tuple[dict, list[dict], zipfile.ZipFile]:
    """Open an export, check its manifest; returns (manifest, people records, open zip)."""
    try:
        zf = zipfile.ZipFile(path)
        manifest = json.loads(zf.read("manifest.json"))
        records = json.loads(zf.read("people.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise GalleryError(f"{path}: not a face-kiosk export, or damaged ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise GalleryError(f"{path}: not a face-kiosk export")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise GalleryError(f"{path}: made by a newer face-kiosk; update face-kiosk to import it")
    return manifest, records, zf


def read_people(path: str | Path, model_version: str, reembed: ReEmbed | None = None) -> list[ImportedPerson]:
    """Everyone in an export, with templates of `model_version` (nothing is written).

    Templates of another model version are refused unless `reembed` is given, which makes
    fresh templates from the exported sample crops.
    """
    _, records, zf = read_archive(path)
    people = []
    with zf:
        for rec in records:
            samples = []
            for s in rec["samples"]:
                aligned = decode_png(zf.read(s["file"]))
                face_crop = decode_png(zf.read(s["face_file"])) if s.get("face_file") else None
                own = [t for t in s["templates"] if t["model_version"] == model_version]
                if own:
                    templates = [
                        NewTemplate(t["kind"], np.frombuffer(base64.b64decode(t["embedding"]), np.float32), t["quality"])
                        for t in own
                    ]
                elif reembed is not None:
                    templates, face_crop = reembed(aligned, face_crop, bool(s["masked"]))
                else:
                    found = sorted({t["model_version"] for t in s["templates"]})
                    raise GalleryError(
                        f"{path}: templates were made by {', '.join(found) or 'no model'}, not {model_version}; "
                        "import with --reembed to make new ones from the exported photos"
                    )
                samples.append(NewSample(aligned, templates, s["source"], s["quality"], bool(s["masked"]), face_crop))
            details = PersonDetails(
                rec["name"], rec.get("company", ""), rec.get("host", ""), rec.get("notes", ""),
                rec.get("consent_text", ""), rec.get("consent_at"), rec.get("retention_until"))
            people.append(ImportedPerson(details, samples))
    return people


def import_people(gallery: GalleryStore, path: str | Path, model_version: str, reembed: ReEmbed | None = None) -> int:
    """Add everyone in the export, in one transaction, without any duplicate check; returns how
    many people were added. The app imports through kiosk.enrollment.importing instead."""
    people = read_people(path, model_version, reembed)
    return len(gallery.add_people([(p.details, p.samples) for p in people], model_version))
