"""Portable export/import of people (details, sample crops, templates) as one zip file."""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kiosk.errors import GalleryError
from kiosk.gallery.schema import SCHEMA_VERSION
from kiosk.gallery.store import Gallery, NewSample, NewTemplate, decode_png, encode_png, now_iso

FORMAT = "face-kiosk-export"
FORMAT_VERSION = 2  # 2: samples carry their loose face crop ("face_file")

# (aligned crop, loose face crop or None, masked) -> (templates, the loose crop they came from)
ReEmbed = Callable[[np.ndarray, np.ndarray | None, bool], tuple[list[NewTemplate], np.ndarray]]


def export_people(gallery: Gallery, path: str | Path, person_ids: list[int] | None = None) -> int:
    """Write the chosen people (default: everyone) to a zip; returns how many were written."""
    people = gallery.people() if person_ids is None else [gallery.get_person(i) for i in person_ids]
    records = []
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for person in people:
            samples = []
            crops = {s.id: s.face_crop for s in gallery.all_samples() if s.person_id == person.id}
            for sample_id, aligned, source, quality, masked in gallery.samples(person.id):
                name = f"samples/{person.id}_{sample_id}.png"
                zf.writestr(name, encode_png(aligned))
                face_file = None
                if crops.get(sample_id) is not None:
                    face_file = f"faces/{person.id}_{sample_id}.png"
                    zf.writestr(face_file, encode_png(crops[sample_id]))
                rows = gallery._conn.execute(
                    "SELECT kind, model_version, embedding, quality FROM templates WHERE sample_id=?",
                    (sample_id,),
                ).fetchall()
                samples.append({
                    "file": name, "face_file": face_file, "source": source, "quality": quality, "masked": masked,
                    "templates": [
                        {"kind": k, "model_version": v, "embedding": base64.b64encode(e).decode(), "quality": q}
                        for k, v, e, q in rows
                    ],
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


def import_people(gallery: Gallery, path: str | Path, model_version: str, reembed: ReEmbed | None = None) -> int:
    """Add everyone in the export, in one transaction; returns how many people were added.

    Templates of another model version are refused unless `reembed` is given, which makes
    fresh templates from the exported sample crops.
    """
    _, records, zf = read_archive(path)
    with zf:
        staged = []
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
            staged.append((rec, samples))
    with gallery._transaction():
        stamp = now_iso()
        for rec, samples in staged:
            cur = gallery._conn.execute(
                "INSERT INTO people(name, company, host, notes, consent_at, consent_text, retention_until,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (rec["name"], rec.get("company", ""), rec.get("host", ""), rec.get("notes", ""),
                 rec.get("consent_at"), rec.get("consent_text", ""), rec.get("retention_until"), stamp, stamp),
            )
            gallery._insert_samples(int(cur.lastrowid), samples, model_version, stamp)
    return len(staged)
