"""`face-kiosk eval`: accuracy on ../shared/data at the app's own thresholds.

Everything goes through the app's own code: `FacePipeline.analyze` (detection, mask flag,
embedding), `make_sample` + `Gallery` for enrollment, `Matcher.identify` and `verify_pair`
with the shipped calibration. Masked probes are made by painting a synthetic mask through
the unmasked face's landmarks and running detection again on the painted image; the
pipeline's own mask flag then chooses the thresholds. A probe in which no face is found is a
miss (counted and reported), never dropped.

The data and the face cache: kiosk.diagnostics.eval_data; the result types and the printed
table: kiosk.diagnostics.eval_report.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kiosk.config import Config, LivenessConfig
from kiosk.diagnostics.eval_data import (
    EVAL_MASK_SEED,
    PROFILES,
    EvalProfile,
    FaceCache,
    Pair,
    default_data_dir,
    person_photos,
    read_pairs,
    split_dev_people,
)
from kiosk.diagnostics.eval_report import (
    TARGETS,
    EvalReport,
    IdentResult,
    MaskResult,
    PairResult,
    format_report,
)
from kiosk.errors import KioskError
from kiosk.gallery.api import GalleryStore, PersonDetails
from kiosk.vision.types import FaceAnalysis

if TYPE_CHECKING:  # loaded by the run itself (models)
    from kiosk.recognition.verdict import Verdict

log = logging.getLogger(__name__)

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
    bare and masked. With the liveness check off: the visitors are photos (which the check rightly
    refuses); this measures recognition and the flow."""
    from kiosk.capture.images import load_rgb
    from kiosk.diagnostics.arrivals import as_dict, masked_copy, run_arrival, summarise
    from kiosk.gallery import Gallery

    config = config.model_copy(update={"liveness": LivenessConfig(mode="off")})
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

#: The liveness mode each section of the accuracy eval runs with, and why.
SECTION_LIVENESS = {
    "pairs, 1:N and the mask flag": "none (single photos: recognition only)",
    "walk-up arrivals": "off (their visitors are photos, which the check refuses: this measures recognition)",
}


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
        liveness=SECTION_LIVENESS if arrivals else {k: v for k, v in SECTION_LIVENESS.items() if k != "walk-up arrivals"},
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
