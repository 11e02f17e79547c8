"""Portable export/import of people (details, sample crops, templates) as one zip file.

Only the gallery's public API is used, so any backend exports and imports the same way.
Which imported people are written, and whether they look like someone already enrolled, is
the enrollment's job (kiosk.enrollment.importing); this module reads and writes the format.
The front desk's part: a person's kind (staff or visitor) travels; people with no face data
(visitors who signed in without consent), hosts' flags and contacts, invitations and visits do
not: they are a site's visit log, carried by `gallery copy` (kiosk.gallery.copy_frontdesk).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kiosk.errors import GalleryError
from kiosk.gallery.api import (
    GalleryStore,
    NewSample,
    NewTemplate,
    PersonDetails,
    clean_name,
    now_iso,
)
from kiosk.gallery.frontdesk_api import STAFF, VISITOR
from kiosk.gallery.schema import SCHEMA_VERSION
from kiosk.gallery.stored_faces import decode_png, encode_png
from kiosk.security.audit import AuditAction
from kiosk.security.export_crypto import encrypting_writer
from kiosk.security.private_files import private_output

FORMAT = "face-kiosk-export"
FORMAT_VERSION = 2  # 2: samples carry their loose face crop ("face_file")

# (aligned crop, loose face crop or None, masked) -> (templates, the loose crop they came from)
ReEmbed = Callable[[np.ndarray, np.ndarray | None, bool], tuple[list[NewTemplate], np.ndarray]]


class _ZipOutput(Protocol):
    """Where an export's zip is written: a private file, or the encrypting writer in front of one."""

    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class ImportedPerson:
    """One person read from an export, ready to store."""

    details: PersonDetails
    samples: list[NewSample]


def export_people(gallery: GalleryStore, path: str | Path, person_ids: list[int] | None = None, *,
                  passphrase: str | None = None, overwrite: bool = False,
                  protected: Iterable[str | Path] = ()) -> int:
    """Write the chosen people (default: everyone) to an export; returns how many were written.

    With a `passphrase` the file is encrypted (kiosk.security.export_crypto: scrypt + AES-GCM,
    streamed); without, a plain zip. Either way it is written privately (0600) through a
    temporary file that is removed on any failure, never follows a symlink, never replaces
    an existing file unless `overwrite`, and never one of the `protected` files (the gallery).
    The export is audited.
    """
    if passphrase is not None:
        with encrypting_writer(path, passphrase, overwrite=overwrite, protected=protected) as out:
            n = _write_zip(gallery, out, person_ids)
    else:
        with private_output(path, overwrite=overwrite, protected=protected) as out:
            n = _write_zip(gallery, out, person_ids)
    gallery.record_event(AuditAction.EXPORT, "export", {"people": n, "encrypted": passphrase is not None})
    return n


def _write_zip(gallery: GalleryStore, out: _ZipOutput, person_ids: list[int] | None) -> int:
    people = gallery.people() if person_ids is None else [gallery.get_person(i) for i in person_ids]
    records = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for person in people:
            if not person.n_samples:
                # A visitor who signed in without face consent is a visit-log record, not a face
                # to carry to another gallery (`gallery copy` carries them).
                continue
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
                "retention_until": person.retention_until, "kind": person.kind, "samples": samples,
            })
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "schema_version": SCHEMA_VERSION,
            "created_at": now_iso(), "people": len(records),
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
        zf.writestr("people.json", json.dumps(records))
    return len(records)


# Limits an export must keep (a hand-made zip is refused, not half-read): sizes per member, the
# whole, and how much a member may inflate (a 1 MB zip holding 1 GiB is a bomb).
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # people.json of ~50k people
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_TOTAL_BYTES = 8 * 1024 * 1024 * 1024
MAX_RATIO = 200
UNIT_NORM = (0.99, 1.01)  # float32 unit vectors come back within 1e-6 of 1
ALIGNED_SHAPE = (112, 112, 3)
FACE_SHAPE = (256, 256, 3)


def read_archive(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]], zipfile.ZipFile]:
    """Open an export, check its manifest and sizes; returns (manifest, people records, open zip)."""
    try:
        zf = zipfile.ZipFile(path)
        _check_sizes(zf, path)
        manifest = json.loads(zf.read("manifest.json"))
        records = json.loads(zf.read("people.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GalleryError(f"{path}: not a face-kiosk export, or damaged ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GalleryError(f"{path}: not a face-kiosk export")
    if not isinstance(manifest.get("format_version"), int) or manifest["format_version"] > FORMAT_VERSION:
        raise GalleryError(f"{path}: made by a newer face-kiosk; update face-kiosk to import it")
    if not isinstance(records, list):
        raise GalleryError(f"{path}: people.json is not a list of people")
    return manifest, records, zf


def _check_sizes(zf: zipfile.ZipFile, path: str | Path) -> None:
    total = 0
    seen: set[str] = set()
    for info in zf.infolist():
        # Two members of one name: zipfile reads the last, another tool the first. Refused, so
        # nobody can show one list of people and import another.
        if info.filename in seen:
            raise GalleryError(f"{path}: {info.filename} appears twice in the archive; not imported")
        seen.add(info.filename)
        limit = MAX_IMAGE_BYTES if info.filename.endswith(".png") else MAX_MEMBER_BYTES
        total += info.file_size
        if info.file_size > limit or total > MAX_TOTAL_BYTES:
            raise GalleryError(f"{path}: {info.filename} is too large ({info.file_size:,} bytes); not imported")
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise GalleryError(f"{path}: {info.filename} inflates {info.file_size // info.compress_size}x "
                               "(a zip bomb?); not imported")


def read_people(path: str | Path, model_version: str, reembed: ReEmbed | None = None,
                dim: int | None = None) -> list[ImportedPerson]:
    """Everyone in an export, validated, with templates of `model_version` (nothing is written).

    Templates of another model version are refused unless `reembed` is given, which makes
    fresh templates from the exported sample crops. `dim`: the length templates of
    `model_version` must have. Any malformed entry refuses the whole file with a one-line
    error naming the entry.
    """
    _, records, zf = read_archive(path)
    people = []
    seen: dict[bytes, int] = {}  # an entry's fingerprint -> its index
    with zf:
        for index, rec in enumerate(records, 1):
            try:
                person = _person(zf, rec, model_version, reembed, dim)
                first = seen.setdefault(_fingerprint(zf, rec, person), index)
                if first != index:
                    raise GalleryError(f"an exact copy of person {first} (the same details and face data); "
                                       "not imported")
                people.append(person)
            except GalleryError as exc:
                raise GalleryError(f"{path}: person {index}: {exc}") from None
            except (KeyError, TypeError, ValueError, AttributeError, binascii.Error, zipfile.BadZipFile) as exc:
                raise GalleryError(f"{path}: person {index}: malformed entry ({type(exc).__name__}: {exc})") from None
    return people


def _fingerprint(zf: zipfile.ZipFile, rec: dict[str, Any], person: ImportedPerson) -> bytes:
    """What makes an entry the same person as another: the same details, crops and templates
    (an archive of 5000 copies of one person is refused). Two people who only share a photo
    stay apart: a gallery may hold them (enrolled with --allow-duplicate) and its backup must
    restore them."""
    digest = hashlib.sha256(repr(person.details).encode("utf-8", "surrogatepass"))
    for s in rec["samples"]:
        for member in (s["file"], s.get("face_file")):
            digest.update(hashlib.sha256(zf.read(member)).digest() if member else b"-")
    for sample in person.samples:
        for t in sample.templates:
            digest.update(t.kind.encode() + np.asarray(t.embedding, np.float32).tobytes())
    return digest.digest()


def _person(zf: zipfile.ZipFile, rec: dict[str, Any], model_version: str, reembed: ReEmbed | None,
            dim: int | None) -> ImportedPerson:
    name = rec["name"]
    if not isinstance(name, str) or not clean_name(name):
        raise GalleryError("no name")
    samples = []
    for s in rec["samples"]:
        aligned = _image(zf, s["file"], ALIGNED_SHAPE)
        face_crop = _image(zf, s["face_file"], FACE_SHAPE) if s.get("face_file") else None
        own = [t for t in s["templates"] if t["model_version"] == model_version]
        if own:
            templates = []
            for t in own:
                vec = np.frombuffer(base64.b64decode(t["embedding"], validate=True), np.float32)
                if dim is not None and vec.shape != (dim,):
                    raise GalleryError(f"a template has {vec.size} numbers, {model_version} makes {dim}")
                _check_template(vec)
                templates.append(NewTemplate(str(t["kind"]), vec, float(t["quality"])))
        elif reembed is not None:
            templates, face_crop = reembed(aligned, face_crop, bool(s["masked"]))
        else:
            found = sorted({str(t["model_version"]) for t in s["templates"]})
            raise GalleryError(
                f"templates were made by {', '.join(found) or 'no model'}, not {model_version}; "
                "import with --reembed to make new ones from the exported photos"
            )
        samples.append(NewSample(aligned, templates, str(s.get("source", "")), float(s.get("quality", 0.0)),
                                 bool(s["masked"]), face_crop))
    details = PersonDetails(
        clean_name(name), _text(rec.get("company")), _text(rec.get("host")), _text(rec.get("notes")),
        _text(rec.get("consent_text")), rec.get("consent_at") or None, rec.get("retention_until") or None,
        VISITOR if rec.get("kind") == VISITOR else STAFF)
    return ImportedPerson(details, samples)


def _check_template(vec: np.ndarray) -> None:
    """An exported template is a unit vector (the gallery stores them so): NaN, infinity or a
    length far from 1 (1e38s, zeros) is a made-up entry, refused rather than stored as noise."""
    if not vec.size or not np.isfinite(vec).all():
        raise GalleryError("a template holds NaN or infinity")
    norm = float(np.linalg.norm(vec.astype(np.float64)))
    if not UNIT_NORM[0] <= norm <= UNIT_NORM[1]:
        raise GalleryError(f"a template has length {norm:.3g}, not 1 (exported templates are unit vectors)")



def _image(zf: zipfile.ZipFile, member: str, shape: tuple[int, int, int]) -> np.ndarray:
    data = zf.read(member)
    # The size a PNG claims is in its header: check it before decoding (a 2 MB PNG can hold
    # 20000x20000 pixels, 1.2 GB decoded).
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise GalleryError(f"{member} is not a PNG image")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if (height, width) != shape[:2]:
        raise GalleryError(f"{member} is {width}x{height}, not {shape[1]}x{shape[0]}")
    rgb = decode_png(data)
    if rgb.shape != shape:
        raise GalleryError(f"{member} is {rgb.shape[1]}x{rgb.shape[0]}, not {shape[1]}x{shape[0]}")
    return rgb


def _text(value: object) -> str:
    return clean_name(value) if isinstance(value, str) else ""


def import_people(gallery: GalleryStore, path: str | Path, model_version: str, reembed: ReEmbed | None = None) -> int:
    """Add everyone in the export, in one transaction, without any duplicate check; returns how
    many people were added. The app imports through kiosk.enrollment.importing instead."""
    people = read_people(path, model_version, reembed)
    return len(gallery.add_people([(p.details, p.samples) for p in people], model_version))
