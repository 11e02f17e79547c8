"""`face-kiosk eval`: accuracy on ../shared/data at the app's own thresholds.

Everything goes through the app's own code: `FacePipeline.analyze` (detection, mask flag,
embedding), `make_sample` + `Gallery` for enrollment, `Matcher.identify` and `verify_pair`
with the shipped calibration. Masked probes are made by painting a synthetic mask through
the unmasked face's landmarks and running detection again on the painted image; the
pipeline's own mask flag then chooses the thresholds. A probe in which no face is found is a
miss (counted and reported), never dropped.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.gallery.api import GalleryStore, PersonDetails
from kiosk.vision.types import FaceAnalysis

if TYPE_CHECKING:  # loaded by the run itself (models)
    from kiosk.recognition.verdict import Verdict
    from kiosk.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

TARGETS = {
    "lfw_unmasked": 0.995,
    "lfw_masked": 0.985,
    "rank1_unmasked": 0.99,
    "rank1_masked": 0.97,
    "fpir": 0.005,
}
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


# -- metrics ---------------------------------------------------------------------------


def ten_fold_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> float:
    """LFW protocol: for each fold, the threshold best on the other 9 folds, tested on it."""
    accs = []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        candidates = np.unique(scores[train])
        # Cut half-way between neighbouring scores, so a test score equal to a training one is not on the edge.
        cuts = np.concatenate([[candidates[0] - 1e-6], (candidates[1:] + candidates[:-1]) / 2, [candidates[-1] + 1e-6]])
        train_acc = [np.mean((scores[train] >= t) == same[train]) for t in cuts]
        t = cuts[int(np.argmax(train_acc))]
        accs.append(np.mean((scores[test] >= t) == same[test]))
    return float(np.mean(accs))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """Genuine accept rate at the lowest threshold whose impostor accept rate is <= far."""
    impostor = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(impostor)))
    t = impostor[allowed] + 1e-6 if allowed < len(impostor) else -np.inf
    return float(np.mean(scores[same] >= t))


@dataclass
class PairResult:
    """1:1 numbers for one probe condition."""

    pairs: int
    ten_fold_accuracy: float
    accuracy_at_app_threshold: float
    tar_at_far_1e3: float
    false_accepts: int
    false_rejects: int
    no_face: int
    probe_flagged_masked: int
    app_thresholds: list[float] = field(default_factory=list)


def evaluate_pairs(cache: FaceCache, pairs: list[Pair], config: Config, model_version: str,
                   masked_probe: bool) -> PairResult:
    """Verify every pair with the app's verify_pair; the second image is the probe."""
    from kiosk.recognition.matching import verify_pair, verify_threshold

    scores, matches, flagged, no_face, used = [], [], 0, 0, set()
    for pair in pairs:
        fa = cache.face(pair.a)
        fb = cache.masked_face(pair.b) if masked_probe else cache.face(pair.b)
        if fa is None or fb is None:
            no_face += 1
            scores.append(-1.0)
            matches.append(False)
            continue
        flagged += fb.masked
        score, match = verify_pair(fa.embedding, fa.masked, fb.embedding, fb.masked, config.match, model_version)
        used.add(round(verify_threshold(config.match, fa.masked, fb.masked, model_version), 4))
        scores.append(score)
        matches.append(match)
    s, m = np.array(scores), np.array(matches)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    return PairResult(
        pairs=len(pairs),
        ten_fold_accuracy=ten_fold_accuracy(s, same, folds),
        accuracy_at_app_threshold=float(np.mean(m == same)),
        tar_at_far_1e3=tar_at_far(s, same, 1e-3),
        false_accepts=int(np.sum(m & ~same)),
        false_rejects=int(np.sum(~m & same)),
        no_face=no_face,
        probe_flagged_masked=int(flagged),
        app_thresholds=sorted(used),
    )


@dataclass
class IdentResult:
    """1:N numbers for one enrollment size and probe condition."""

    enrolled: int
    enroll_failed: int
    probes: int
    unknowns: int
    rank1: float  # probes accepted as the right person
    wrong_person: float  # probes accepted as someone else
    fpir: float  # unknown visitors accepted as someone
    ask_unmask_genuine: float  # probes that would be asked to lower the mask
    ask_unmask_unknown: float
    rescued_by_unmask: float  # probes asked to unmask whose unmasked face then matches correctly
    probe_no_face: int
    unknown_no_face: int
    probe_flagged_masked: int
    threshold_unmasked: float
    threshold_masked: float


def _enroll(cache: FaceCache, gallery: GalleryStore, names: list[str], photos: dict[str, list[str]],
            k: int) -> int:
    """Enroll the first k photos of each person the way the app does; returns failures."""
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face

    failed = 0
    for name in names:
        samples = []
        for rel in photos[name][:k]:
            faces = cache.faces(rel)
            try:
                face = pick_enrollment_face(faces or [], rel, cache.shapes.get(rel))
            except KioskError:
                continue
            samples.append(make_sample(cache.pipeline, face, source=rel))
        if samples:
            gallery.add_person(PersonDetails(name), samples, cache.pipeline.model_version)
        else:
            failed += 1
    return failed


def evaluate_identification(cache: FaceCache, names: list[str], photos: dict[str, list[str]],
                            unknowns: list[str], k: int, config: Config) -> dict[str, IdentResult]:
    """Enroll k photos per person, probe with the rest and with unknown visitors, both mask states."""
    from kiosk.gallery import Gallery
    from kiosk.recognition.matching import Matcher

    with tempfile.TemporaryDirectory() as tmp, Gallery(Path(tmp) / "eval.db") as gallery:
        failed = _enroll(cache, gallery, names, photos, k)
        templates = gallery.templates(cache.pipeline.model_version)
        matcher = Matcher(templates, config.match)
        ids = {name: pid for pid, name in templates.names.items()}
    probes = [(rel, ids.get(name)) for name in names for rel in photos[name][k:]]
    out = {}
    for masked in (False, True):
        get = cache.masked_face if masked else cache.face

        def run(rels: list[str], get: Callable[[str], FaceAnalysis | None] = get
                ) -> tuple[list[Verdict | None], int, int]:
            faces = [get(r) for r in rels]
            present = [f for f in faces if f is not None]
            results = iter(matcher.identify(np.stack([f.embedding for f in present]),
                                            np.array([f.masked for f in present])) if present else [])
            return ([next(results) if f is not None else None for f in faces],
                    len(faces) - len(present), sum(f.masked for f in present))

        p_res, p_miss, p_flag = run([r for r, _ in probes])
        u_res, u_miss, _ = run(unknowns)
        truth = [pid for _, pid in probes]
        right = [r is not None and r.known and r.person_id == t for r, t in zip(p_res, truth)]
        wrong = [r is not None and r.known and r.person_id != t for r, t in zip(p_res, truth)]
        asked = [r is not None and r.ask_to_unmask for r in p_res]
        rescued = 0
        if masked:
            # An asked visitor lowers the mask: the unmasked probe is matched as usual.
            for (rel, t), was_asked in zip(probes, asked):
                face = cache.face(rel) if was_asked else None
                if face is not None:
                    r = matcher.identify(face.embedding[None], np.array([face.masked]))[0]
                    rescued += r.known and r.person_id == t
        out["masked" if masked else "unmasked"] = IdentResult(
            enrolled=len(names) - failed,
            enroll_failed=failed,
            probes=len(probes),
            unknowns=len(unknowns),
            rank1=float(np.mean(right)) if probes else 0.0,
            wrong_person=float(np.mean(wrong)) if probes else 0.0,
            fpir=float(np.mean([r is not None and r.known for r in u_res])) if unknowns else 0.0,
            ask_unmask_genuine=float(np.mean(asked)) if probes else 0.0,
            ask_unmask_unknown=float(np.mean([r is not None and r.ask_to_unmask for r in u_res])) if unknowns else 0.0,
            rescued_by_unmask=rescued / len(probes) if probes else 0.0,
            probe_no_face=p_miss,
            unknown_no_face=u_miss,
            probe_flagged_masked=p_flag,
            threshold_unmasked=round(matcher.thresholds(False, photos=k), 4),
            threshold_masked=round(matcher.thresholds(True, photos=k), 4),
        )
    return out


def evaluate_masked_samples(cache: FaceCache, names: list[str], photos: dict[str, list[str]],
                            unknowns: list[str], config: Config) -> dict[str, dict[str, float]]:
    """Does an enrolment sample in the person's own mask help? 3 bare photos plus photo 4 with a
    painted mask enrolled; probes are photos 5+; matched with `use_masked_samples` off and on."""
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face
    from kiosk.gallery import Gallery
    from kiosk.recognition.matching import Matcher

    out: dict[str, dict[str, float]] = {}
    people = [n for n in names if len(photos[n]) >= 5]
    with tempfile.TemporaryDirectory() as tmp, Gallery(Path(tmp) / "masked-samples.db") as gallery:
        ids = {}
        for name in people:
            samples = []
            for rel in photos[name][:3]:
                try:
                    samples.append(make_sample(cache.pipeline, pick_enrollment_face(cache.faces(rel) or [], rel)))
                except KioskError:
                    continue
            own_mask = cache.masked_face(photos[name][3])
            if samples and own_mask is not None:
                ids[name] = gallery.add_person(PersonDetails(name), [*samples, make_sample(cache.pipeline, own_mask)],
                                               cache.pipeline.model_version)
        templates = gallery.templates(cache.pipeline.model_version)
    probes = [(rel, ids[n]) for n in people if n in ids for rel in photos[n][4:]]
    for label, on in (("off", False), ("on", True)):
        matcher = Matcher(templates, config.match.model_copy(update={"use_masked_samples": on}))
        res: dict[str, float] = {"people": float(len(ids)), "probes": float(len(probes))}
        for state, get in (("masked", cache.masked_face), ("unmasked", cache.face)):
            seen = [(get(rel), pid) for rel, pid in probes]
            faces = [(f, pid) for f, pid in seen if f is not None]
            got = matcher.identify(np.stack([f.embedding for f, _ in faces]), np.array([f.masked for f, _ in faces]))
            res[f"rank1_{state}"] = float(np.mean([r.person_id == pid for r, (_, pid) in zip(got, faces)]))
            strangers = [f for f in (get(r) for r in unknowns) if f is not None]
            got_u = matcher.identify(np.stack([f.embedding for f in strangers]), np.array([f.masked for f in strangers]))
            res[f"fpir_{state}"] = float(np.mean([r.known for r in got_u]))
        out[label] = res
    return out


def evaluate_arrivals(cache: FaceCache, names: list[str], photos: dict[str, list[str]], unknowns: list[str],
                      k: int, config: Config, per_kind: int) -> dict[str, dict[str, float]]:
    """Walk-up clips through the live recognizer and the kiosk flow (kiosk.diagnostics.arrivals): k photos
    enrolled per person; arrivals made from each person's next photo and from unknown visitors,
    bare and masked."""
    from kiosk.capture.images import load_rgb
    from kiosk.diagnostics.arrivals import as_dict, masked_copy, run_arrival, summarise
    from kiosk.gallery import Gallery

    rng = np.random.default_rng(EVAL_MASK_SEED + 7)
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, Gallery(Path(tmp) / "arrivals.db") as gallery:
        _enroll(cache, gallery, names, photos, k)
        ids = {p.name: p.id for p in gallery.people()}
        enrolled = [(photos[n][k], ids[n]) for n in names if n in ids and len(photos[n]) > k][:per_kind]
        strangers = [(rel, None) for rel in unknowns[:per_kind]]
        for kind, items in (("enrolled", enrolled), ("stranger", strangers)):
            for state in ("bare", "masked"):
                outcomes = []
                for rel, truth in items:
                    bare = load_rgb(cache.root / rel)
                    masked = masked_copy(cache.pipeline, bare, rng) if state == "masked" else None
                    if state == "masked" and masked is None:
                        continue
                    outcomes.append(run_arrival(cache.pipeline, gallery, config, bare, masked, truth, rng))
                out[f"{kind}_{state}"] = as_dict(summarise(outcomes))
    return out


@dataclass
class MaskResult:
    """Mask flag on real masked photos and on unmasked LFW faces."""

    masked_real_photos: int
    masked_real_no_face: int
    masked_real_flagged: int
    lfw_faces: int
    lfw_flagged: int

    @property
    def recall(self) -> float:
        """Masked photos flagged masked (a photo with no face found counts as a miss)."""
        return self.masked_real_flagged / max(1, self.masked_real_photos)

    @property
    def false_flag_rate(self) -> float:
        """Unmasked LFW faces flagged masked."""
        return self.lfw_flagged / max(1, self.lfw_faces)


def masked_real_files(masked_real: Path, limit: int | None = None) -> list[Path]:
    """The photos of masked-real/, in a fixed order."""
    files = sorted(p for p in masked_real.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    return files[:limit] if limit else files


def evaluate_masks(cache: FaceCache, files: list[Path]) -> tuple[int, int, int]:
    """(photos, no face, flagged masked) on real masked photos (largest face of each)."""
    no_face = flagged = 0
    for path in files:
        face = cache.face(str(path))  # absolute: the cache's root does not apply
        if face is None:
            no_face += 1
        else:
            flagged += face.masked
    return len(files), no_face, flagged


# -- the command -----------------------------------------------------------------------


@dataclass
class EvalReport:
    """All numbers of one eval run (written by --json)."""

    model_version: str
    detector: str
    profile: str
    seconds: float
    pairs: dict[str, PairResult]  # empty when the profile has no pairs
    identification: dict[str, dict[str, IdentResult]]
    masks: MaskResult
    targets: dict[str, float]
    arrivals: dict[str, dict[str, float]] = field(default_factory=dict)  # kind -> shares (kiosk.diagnostics.arrivals)
    masked_samples: dict[str, dict[str, float]] = field(default_factory=dict)  # "off"/"on" -> numbers


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _mark(value: float, target: float, lower_is_better: bool = False) -> str:
    ok = value <= target if lower_is_better else value >= target
    return "ok" if ok else "short"


def format_report(r: EvalReport) -> str:
    """The table `face-kiosk eval` prints."""
    subset = "" if r.profile == "full" else f" ({r.profile} subset)"
    lines = [f"face-kiosk eval: {r.model_version}, detector {r.detector}{subset}, {r.seconds:.0f} s", ""]
    if r.pairs:
        lines += _pairs_lines(r)
    lines += _ident_lines(r)
    if r.masked_samples:
        lines += _masked_sample_lines(r)
    if r.arrivals:
        lines += _arrival_lines(r)
    mk = r.masks
    lines += [
        "Mask flag (the pipeline's own)",
        f"  mask recall on masked-real: {_pct(mk.recall)} of {mk.masked_real_photos} photos "
        f"({mk.masked_real_no_face} with no face found, counted as misses)",
        f"  false mask flags on LFW: {_pct(mk.false_flag_rate)} of {mk.lfw_faces} unmasked faces",
    ]
    return "\n".join(lines)


def _pairs_lines(r: EvalReport) -> list[str]:
    u, m = r.pairs["unmasked"], r.pairs["masked"]
    return [
        f"LFW View 1 DevTrain pairs ({u.pairs} pairs; masked: mask painted on the second photo)",
        f"  {'':<44}{'unmasked':>10}{'masked':>10}",
        f"  {'10-fold accuracy (threshold from 9 folds)':<44}{_pct(u.ten_fold_accuracy):>10}{_pct(m.ten_fold_accuracy):>10}",
        f"  {'accuracy at the app threshold':<44}{_pct(u.accuracy_at_app_threshold):>10}"
        f"{_pct(m.accuracy_at_app_threshold):>10}   target {_pct(r.targets['lfw_unmasked'])} / "
        f"{_pct(r.targets['lfw_masked'])}: {_mark(u.accuracy_at_app_threshold, r.targets['lfw_unmasked'])} / "
        f"{_mark(m.accuracy_at_app_threshold, r.targets['lfw_masked'])}",
        f"  {'TAR at FAR 1e-3':<44}{_pct(u.tar_at_far_1e3):>10}{_pct(m.tar_at_far_1e3):>10}",
        f"  {'false accepts / false rejects (app)':<44}{f'{u.false_accepts}/{u.false_rejects}':>10}"
        f"{f'{m.false_accepts}/{m.false_rejects}':>10}",
        f"  {'probes flagged masked':<44}{u.probe_flagged_masked:>10}{m.probe_flagged_masked:>10}",
        f"  {'pairs with no face found (counted as misses)':<44}{u.no_face:>10}{m.no_face:>10}",
        f"  {'app thresholds used (unmasked | masked)':<44}{', '.join(f'{t:.3f}' for t in u.app_thresholds)}"
        f" | {', '.join(f'{t:.3f}' for t in m.app_thresholds)}",
        "",
    ]


def _masked_sample_lines(r: EvalReport) -> list[str]:
    off, on = r.masked_samples["off"], r.masked_samples["on"]
    lines = [f"Own-mask enrolment sample (3 bare photos + 1 in a painted mask; {int(off['people'])} people, "
             f"{int(off['probes'])} probes)",
             f"  {'use_masked_samples':<44}{'off':>10}{'on':>10}"]
    for key, label in (("rank1_masked", "rank-1, masked probes"), ("fpir_masked", "FPIR, masked unknown visitors"),
                       ("rank1_unmasked", "rank-1, unmasked probes"), ("fpir_unmasked", "FPIR, unmasked visitors")):
        lines.append(f"  {label:<44}{_pct(off[key]):>10}{_pct(on[key]):>10}")
    return [*lines, ""]


def _arrival_lines(r: EvalReport) -> list[str]:
    k = max(int(x) for x in r.identification)
    lines = [f"Walk-up arrivals at the kiosk ({k} enrolment photo(s); live recognizer + kiosk flow at clip time)",
             f"  {'':<18}{'arrivals':>9}{'greeted right':>15}{'greeted wrong':>15}{'receptionist':>14}"
             f"{'asked to unmask':>17}{'undecided':>11}{'median s':>10}"]
    for kind, a in r.arrivals.items():
        lines.append(f"  {kind.replace('_', ', '):<18}{int(a['arrivals']):>9}{_pct(a['greeted_right']):>15}"
                     f"{_pct(a['greeted_wrong']):>15}{_pct(a['receptionist']):>14}{_pct(a['asked_to_unmask']):>17}"
                     f"{_pct(a['undecided']):>11}{a['median_s']:>10.1f}")
    return [*lines, ""]


def _ident_lines(r: EvalReport) -> list[str]:
    lines: list[str] = []
    for k, res in r.identification.items():
        a, b = res["unmasked"], res["masked"]
        lines += [
            f"1:N identification, {k} enrolment photo(s): {a.enrolled} enrolled ({a.enroll_failed} failed), "
            f"{a.probes} probes, {a.unknowns} unknown visitors",
            f"  {'':<44}{'unmasked':>10}{'masked':>10}",
            f"  {'rank-1 (right person accepted)':<44}{_pct(a.rank1):>10}{_pct(b.rank1):>10}   target "
            f"{_pct(r.targets['rank1_unmasked'])} / {_pct(r.targets['rank1_masked'])}: "
            f"{_mark(a.rank1, r.targets['rank1_unmasked'])} / {_mark(b.rank1, r.targets['rank1_masked'])}",
            f"  {'FPIR (unknown visitors accepted)':<44}{_pct(a.fpir):>10}{_pct(b.fpir):>10}   target <= "
            f"{_pct(r.targets['fpir'])}: {_mark(a.fpir, r.targets['fpir'], True)} / "
            f"{_mark(b.fpir, r.targets['fpir'], True)}",
            f"  {'wrong person accepted':<44}{_pct(a.wrong_person):>10}{_pct(b.wrong_person):>10}",
            f"  {'asked to lower the mask: probes / unknowns':<44}{'':>10}"
            f"{_pct(b.ask_unmask_genuine) + ' / ' + _pct(b.ask_unmask_unknown):>18}",
            f"  {'right person after lowering the mask':<44}{'':>10}{_pct(b.rank1 + b.rescued_by_unmask):>10}",
            f"  {'probes / unknowns with no face found':<44}{f'{a.probe_no_face}/{a.unknown_no_face}':>10}"
            f"{f'{b.probe_no_face}/{b.unknown_no_face}':>10}",
            f"  {'probes flagged masked':<44}{a.probe_flagged_masked:>10}{b.probe_flagged_masked:>10}",
            f"  {'thresholds (unmasked / masked probe)':<44}{f'{a.threshold_unmasked:.3f} / {a.threshold_masked:.3f}':>20}",
            "",
        ]
    return lines


def run_eval(config: Config, data: Path, profile: EvalProfile | str = "full",
             cache: FaceCache | None = None) -> EvalReport:
    """Compute every number of the eval (`cache`: analyses made earlier by the same pipeline)."""
    from kiosk.vision.pipeline import FacePipeline

    prof = PROFILES[profile] if isinstance(profile, str) else profile
    lfw = data / "lfw-dev"
    for need in (lfw / "pairsDevTrain.txt", lfw / "identification.json", data / "masked-real"):
        if not need.exists():
            raise KioskError(f"eval needs {need} (the shared data folder; give it with --data)")
    start = time.perf_counter()
    if cache is None:
        cache = FaceCache(FacePipeline(config.vision, still=True), lfw / "images")
    pipeline = cache.pipeline
    pairs = read_pairs(lfw / "pairsDevTrain.txt")
    if prof.pairs_per_fold is not None:
        taken: dict[tuple[int, bool], int] = {}
        subset = []
        for p in pairs:
            if taken.get((p.fold, p.same), 0) < prof.pairs_per_fold:
                taken[(p.fold, p.same)] = taken.get((p.fold, p.same), 0) + 1
                subset.append(p)
        pairs = subset
    ident = json.loads((lfw / "identification.json").read_text(encoding="utf-8"))
    names = sorted(ident)[: prof.people]
    unknown_people = split_dev_people(lfw)[0][: prof.unknowns]
    photos = {name: list(ident[name])[: prof.photos_per_person] for name in names}
    unknowns = [person_photos(lfw, p)[0] for p in unknown_people]

    pair_results = {}
    if pairs:
        pair_results = {
            "unmasked": evaluate_pairs(cache, pairs, config, pipeline.model_version, masked_probe=False),
            "masked": evaluate_pairs(cache, pairs, config, pipeline.model_version, masked_probe=True),
        }
    idents = {str(k): evaluate_identification(cache, names, photos, unknowns, k, config) for k in prof.enrol_sizes}
    masked_samples = {}
    if prof.name == "full":
        masked_samples = evaluate_masked_samples(cache, names, photos, unknowns, config)
    arrivals = {}
    if prof.arrivals is None or prof.arrivals > 0:
        arrivals = evaluate_arrivals(cache, names, photos, unknowns, max(prof.enrol_sizes), config,
                                     prof.arrivals or len(names))
    flagged, faces = cache.unmasked_flags()
    n_real, no_face, real_flagged = evaluate_masks(cache, masked_real_files(data / "masked-real", prof.masked_real))
    return EvalReport(
        model_version=pipeline.model_version,
        detector=config.vision.detector,
        profile=prof.name,
        seconds=time.perf_counter() - start,
        pairs=pair_results,
        identification=idents,
        masks=MaskResult(n_real, no_face, real_flagged, faces, flagged),
        targets=dict(TARGETS),
        arrivals=arrivals,
        masked_samples=masked_samples,
    )


def main_eval(args: argparse.Namespace, config: Config) -> int:
    """`face-kiosk eval [--data DIR] [--quick] [--json FILE]`."""
    data = Path(args.data) if getattr(args, "data", None) else default_data_dir()
    profile = getattr(args, "profile", None) or ("quick" if getattr(args, "quick", False) else "full")
    report = run_eval(config, data, profile)
    print(format_report(report))
    if getattr(args, "json", None):
        payload = asdict(report)
        payload["masks"]["recall"] = report.masks.recall
        payload["masks"]["false_flag_rate"] = report.masks.false_flag_rate
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0
