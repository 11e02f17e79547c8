"""The data `face-kiosk eval` runs on (../shared/data) and how much of it: the profiles, the LFW
pairs and the development split of people, and each photo's analysis, cached for one run
(masked probes painted from a fixed seed)."""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kiosk.errors import KioskError
from kiosk.vision.types import FaceAnalysis

if TYPE_CHECKING:  # loaded by the run itself (models)
    from kiosk.vision.pipeline import FacePipeline

log = logging.getLogger("kiosk.diagnostics.evaluation")  # one logger for the eval

# Mask styles of the eval are drawn from this seed and the image path, so every run (and
# every embedder) sees the same masks; tools/calibrate.py uses other seeds.
EVAL_MASK_SEED = 20240
N_UNKNOWN = 1000


@dataclass(frozen=True)
class EvalProfile:
    """How much of lfw-dev and masked-real one eval run uses (None: all of it)."""

    name: str
    pairs_per_fold: int | None  # same and different LFW pairs per fold (0: no pairs section)
    people: int | None  # people of identification.json, in name order
    photos_per_person: int | None  # photos per person: the enrolled ones, then the probes
    unknowns: int | None  # unknown visitors (one photo each)
    masked_real: int | None  # masked-real photos for the mask flag
    enrol_sizes: tuple[int, ...] = (1,)
    arrivals: int | None = 0  # synthetic walk-up clips per kind (enrolled/stranger x bare/masked)


PROFILES = {
    # A smoke test of every section (~10 s).
    "quick": EvalProfile("quick", 2, 12, 3, 24, 16),
    # The accuracy floors tests/test_accuracy_floors.py asserts: a gallery big enough for the
    # 1:N thresholds to bite, 1 enrolment photo, 60 pairs (~35 s on 2 cores).
    "ci": EvalProfile("ci", 3, 120, 2, 120, 64),
    "full": EvalProfile("full", None, None, None, None, None, (1, 3), arrivals=150),
}


def default_data_dir() -> Path:
    """../shared/data next to the project (the checkout's parent folder)."""
    return Path(__file__).resolve().parents[3] / "shared" / "data"  # kiosk/diagnostics/ -> checkout -> its parent


# -- data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """One LFW pair: two image paths relative to lfw-dev/images, same person or not, its fold."""

    a: str
    b: str
    same: bool
    fold: int


def lfw_image(name: str, number: int | str) -> str:
    """LFW's relative path of photo `number` of `name`."""
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: Path) -> list[Pair]:
    """pairsDevTrain.txt: N same pairs then N different ones; 10 folds of equal size each."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    n = int(lines[0].split()[0])
    pairs = []
    for i, line in enumerate(lines[1 : 1 + n]):
        name, a, b = line.split()
        pairs.append(Pair(lfw_image(name, a), lfw_image(name, b), True, i * 10 // n))
    for i, line in enumerate(lines[1 + n : 1 + 2 * n]):
        name_a, a, name_b, b = line.split()
        pairs.append(Pair(lfw_image(name_a, a), lfw_image(name_b, b), False, i * 10 // n))
    return pairs


def split_dev_people(lfw_dir: Path) -> tuple[list[str], list[str]]:
    """lfw-dev people outside identification.json: (unknown visitors for 1:N, NAP training people).

    A fixed hash order splits them, so the NAP adapter (tools/train_nap.py) never sees the
    people eval measures 1:N on; the first N_UNKNOWN are the unknown visitors.
    """
    ident = json.loads((lfw_dir / "identification.json").read_text(encoding="utf-8"))
    pairs = read_pairs(lfw_dir / "pairsDevTrain.txt")
    people = {p.a.split("/")[0] for p in pairs} | {p.b.split("/")[0] for p in pairs}
    others = sorted((p for p in people if p not in ident), key=lambda s: (zlib.crc32(s.encode()), s))
    return others[:N_UNKNOWN], others[N_UNKNOWN:]


def person_photos(lfw_dir: Path, name: str) -> list[str]:
    """The person's photos present in lfw-dev, in order."""
    return sorted(f"{name}/{p.name}" for p in (lfw_dir / "images" / name).glob("*.jpg"))


# -- per-image analysis, cached for one run ---------------------------------------------


class FaceCache:
    """Largest face of each image, unmasked and with a painted mask, computed once per run."""

    def __init__(self, pipeline: FacePipeline, root: Path, seed: int = EVAL_MASK_SEED) -> None:
        self.pipeline = pipeline
        self.root = root
        self.seed = seed
        self._faces: dict[str, list[FaceAnalysis] | None] = {}
        self._masked: dict[str, FaceAnalysis | None] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}

    def faces(self, rel: str) -> list[FaceAnalysis] | None:
        """Every face in the image, largest first (None: the file could not be read)."""
        if rel not in self._faces:
            from kiosk.capture.images import load_rgb

            try:
                rgb = load_rgb(self.root / rel)
                self.shapes[rel] = rgb.shape
                self._faces[rel] = self.pipeline.analyze(rgb)
            except KioskError as exc:
                log.warning("%s: %s", rel, exc)
                self._faces[rel] = None
        return self._faces[rel]

    def face(self, rel: str) -> FaceAnalysis | None:
        """The largest face, or None when none was found."""
        faces = self.faces(rel)
        return faces[0] if faces else None

    def masked_face(self, rel: str) -> FaceAnalysis | None:
        """The largest face after painting a mask on it and detecting again (None: a miss)."""
        if rel not in self._masked:
            from kiosk.capture.images import load_rgb
            from kiosk.vision.synthetic_masks import MaskStyle, paint_mask

            face = self.face(rel)
            result = None
            if face is not None:
                rng = np.random.default_rng([self.seed, zlib.crc32(rel.encode())])
                painted = paint_mask(load_rgb(self.root / rel), face.landmarks, MaskStyle.random(rng), rng)
                found = self.pipeline.analyze(painted, max_faces=1)
                result = found[0] if found else None
            self._masked[rel] = result
        return self._masked[rel]

    def unmasked_flags(self) -> tuple[int, int]:
        """(faces flagged masked, faces) over every LFW image analysed so far."""
        faces = [f[0] for rel, f in self._faces.items() if f and not Path(rel).is_absolute()]
        return sum(f.masked for f in faces), len(faces)


