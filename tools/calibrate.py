"""Make resources/models/calibration.json and the adapters (nap_*.npz) from lfw-dev (dev-only).

For each embedder version (SFace, and SFace+mbf for the opt-in):

1. Train the adapter (centring mean + 16 NAP directions) on the lfw-dev people that eval never
   measures on (tools/train_nap.py).
2. Score impostors the way the matcher does (its own code, with that adapter): one probe photo
   per lfw-dev person, unmasked and with a painted mask (detection re-run, as a camera would
   see it), against every *other* person's template averaged from k photos (k = 1, 2, 3, 5):
   - unmasked: unmasked probe vs unmasked photos;
   - masked: masked probe vs unmasked photos (NAP space);
   - mask-vs-mask (+fused): tools/calibrate_own_mask.py (people outside eval's sets, everyone in
     the same mask; k = 1 only).
3. Fit each cell's upper tail above its 99th percentile with a generalised Pareto
   distribution (maximum likelihood; scipy, dev-only) and keep a few empirical quantiles below.

Nothing here looks at genuine scores or at eval's numbers: thresholds come from the impostor
tails alone, for the FAR (1:1) or the FPIR and gallery size (1:N) the app is configured for.

    python tools/calibrate.py [--data ../shared/data] [--out resources/models]

The SFace part of a fused SFace+mbf embedding is SFace's own vector (scaled by 1/sqrt 2), so one
pass of the fused pipeline serves both versions (checked on the first face).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import zlib
from pathlib import Path

import numpy as np
from scipy.stats import genpareto

from kiosk.diagnostics.eval_data import FaceCache, default_data_dir, person_photos
from kiosk.gallery.api import TemplateSet
from kiosk.recognition.calibration import (
    MASK_VS_MASK,
    MASKED,
    UNMASKED,
    Calibration,
    ImpostorTail,
    fused_cell,
    per_comparison_far,
)
from kiosk.recognition.matching import FULL, Matcher
from kiosk.vision.geometry import l2_normalise

CAL_SEED = 301  # painted masks of the calibration probes (eval uses another seed)
SIZES = (1, 2, 3, 5)  # photos per template
FUSED_PROBE = 3  # photos averaged into a fused probe (kiosk.recognition.calibration.FUSED_PROBE_FRAMES)
P_U = 0.01  # the GPD models exceedances above the impostor 99th percentile
QUANTILE_FARS = (0.5, 0.2, 0.1, 0.05, 0.02)

ROOT = Path(__file__).resolve().parent.parent


def fit_tail(scores: np.ndarray, p_u: float = P_U) -> ImpostorTail:
    """GPD fit of the exceedances above the (1 - p_u) quantile, plus empirical quantiles below."""
    scores = np.sort(np.asarray(scores, np.float64))
    n = len(scores)
    u = float(scores[int(np.floor(n * (1 - p_u)))])
    excess = scores[scores > u] - u
    xi, _, sigma = genpareto.fit(excess, floc=0)
    quantiles = tuple((far, float(np.quantile(scores, 1 - far))) for far in QUANTILE_FARS)
    return ImpostorTail(u=u, p_u=float(len(excess) / n), sigma=float(sigma), xi=float(xi),
                        quantiles=quantiles, n=n)


class View:
    """One embedder version seen through the fused pipeline's vectors."""

    def __init__(self, name: str, version: str, take) -> None:
        self.name, self.version, self.take = name, version, take


def impostor_scores(matcher: Matcher, probes: np.ndarray, masked: bool, probe_people: np.ndarray,
                    row_people: np.ndarray) -> np.ndarray:
    """Scores of probes against every row of a different person."""
    scores = matcher.person_scores(probes, np.full(len(probes), masked))
    lookup = {pid: i for i, pid in enumerate(matcher.people)}
    cols = np.array([lookup[p] for p in row_people])
    scores = scores[:, cols]
    return scores[probe_people[:, None] != row_people[None, :]]


def calibrate_view(view: View, cache: FaceCache, lfw: Path, people: list[str], adapter: Calibration,
                   dim: int) -> dict:
    """Impostor tails of every cell and template size for one embedder version."""
    photos = {name: person_photos(lfw, name) for name in people}
    probe_faces = [(i, cache.face(photos[p][-1]), cache.masked_face(photos[p][-1])) for i, p in enumerate(people)]
    plain = [(i, f) for i, f, _ in probe_faces if f is not None]
    hidden = [(i, m) for i, _, m in probe_faces if m is not None]
    plain_ids = np.array([i for i, _ in plain])
    hidden_ids = np.array([i for i, _ in hidden])
    plain_vecs = view.take(np.stack([f.embedding for _, f in plain]))
    hidden_vecs = view.take(np.stack([m.embedding for _, m in hidden]))
    cells: dict[str, dict[str, dict]] = {UNMASKED: {}, MASKED: {}}
    for k in SIZES:
        ids, vecs = [], []
        for i, name in enumerate(people):
            faces = [cache.face(rel) for rel in photos[name][:k]]
            faces = [f for f in faces if f is not None]
            if len(faces) == k:
                ids += [i] * k
                vecs += [f.embedding for f in faces]
        rows = np.unique(ids)
        templates = TemplateSet(view.version, np.array(ids, np.int64), np.array([FULL] * len(ids)),
                                view.take(np.stack(vecs)))
        matcher = Matcher(templates, calibration=adapter)
        for cell, probes, probe_ids, masked in ((UNMASKED, plain_vecs, plain_ids, False),
                                                (MASKED, hidden_vecs, hidden_ids, True)):
            scores = impostor_scores(matcher, probes, masked, probe_ids, rows)
            cells[cell][str(k)] = fit_tail(scores).to_dict()
            print(f"  {view.name} {cell:<13} k={k}: {len(rows)} people, {len(scores):,} impostor scores",
                  flush=True)
    # Probes fused from FUSED_PROBE photos of one person (a track's best frames, averaged): vs
    # templates of k photos. Video frames of one track are far more alike than different photos,
    # so these tails are an upper bound for the fused probes the live window makes.
    fused_people = [i for i, name in enumerate(people) if len(photos[name]) >= FUSED_PROBE + 1]
    for cell, masked in ((UNMASKED, False), (MASKED, True)):
        ids, vecs = [], []
        for i in fused_people:
            rels = photos[people[i]][-FUSED_PROBE:]
            faces = [(cache.masked_face(r) if masked else cache.face(r)) for r in rels]
            faces = [f for f in faces if f is not None]
            if len(faces) == FUSED_PROBE:
                ids.append(i)
                vecs.append(l2_normalise(view.take(np.stack([f.embedding for f in faces])).mean(0)[None])[0])
        probe_ids, probes = np.array(ids), np.stack(vecs)
        for k in SIZES:
            tids, tvecs = [], []
            for i, name in enumerate(people):
                faces = [cache.face(rel) for rel in photos[name][:k]]
                faces = [f for f in faces if f is not None]
                if len(faces) == k:
                    tids += [i] * k
                    tvecs += [f.embedding for f in faces]
            templates = TemplateSet(view.version, np.array(tids, np.int64), np.array([FULL] * len(tids)),
                                    view.take(np.stack(tvecs)))
            matcher = Matcher(templates, calibration=adapter)
            scores = impostor_scores(matcher, probes, masked, probe_ids, np.unique(tids))
            cells.setdefault(fused_cell(cell), {})[str(k)] = fit_tail(scores).to_dict()
            print(f"  {view.name} {fused_cell(cell):<13} k={k}: {len(probes)} fused probes, "
                  f"{len(scores):,} impostor scores", flush=True)
    # Mask vs mask (own-mask rows, people enrolled only in a mask): tools/calibrate_own_mask.py,
    # on people outside eval's sets and everyone in the same mask (main() adds those cells).
    return {"dim": dim, "cells": cells}


def _adapter_of(out: Path, view: View) -> tuple[np.ndarray, np.ndarray]:
    """(mean, directions) of the adapter just written for `view`."""
    with np.load(out / f"nap_{view.name.replace('+', '_')}.npz") as data:
        return np.asarray(data["mean"], np.float32), np.asarray(data["directions"], np.float32)


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def summary(cal: Calibration) -> str:
    """Thresholds the app will use, for the record."""
    lines = [f"{cal.model_version}:",
             f"  verify (FAR 1e-3): unmasked {cal.threshold(UNMASKED, 1e-3):.3f}, masked "
             f"{cal.threshold(MASKED, 1e-3):.3f}, mask-vs-mask {cal.threshold(MASK_VS_MASK, 1e-3):.3f}",
             "  1:N at FPIR 0.5%, unmasked / masked probe, template of 1 | 3 photos:"]
    for n in (1, 10, 100, 300, 1000, 10_000, 100_000):
        far = per_comparison_far(0.005, n)
        lines.append(f"    N={n:>7,}: {cal.threshold(UNMASKED, far, 1):.3f} / {cal.threshold(MASKED, far, 1):.3f}"
                     f"  |  {cal.threshold(UNMASKED, far, 3):.3f} / {cal.threshold(MASKED, far, 3):.3f}")
    return "\n".join(lines)


def main() -> None:
    """Train adapters, fit tails, write the files and print their sha256."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from train_nap import REDETECT_SEEDS, collect_pairs, fit_adapter, save_adapter

    from kiosk.config import VisionConfig
    from kiosk.vision.pipeline import FacePipeline, template_version

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(default_data_dir()))
    parser.add_argument("--out", default=str(ROOT / "resources" / "models"))
    parser.add_argument("--dirs", type=int, default=16, help="NAP directions")
    parser.add_argument("--people", type=int, help="calibrate on this many people (a fixed hash-ordered subset)")
    parser.add_argument("--nap-photos", type=int, help="train the adapters on this many photos")
    args = parser.parse_args()
    lfw = Path(args.data) / "lfw-dev"
    out = Path(args.out)
    start = time.perf_counter()

    pipeline = FacePipeline(VisionConfig(embedder="sface+mbf"), still=True)  # photos, as eval and the CLI
    sface = pipeline.embedding.models[0]
    sface_dim = sface.dim
    views = [
        View("sface", template_version(sface.version), lambda v: l2_normalise(np.asarray(v)[..., :sface_dim])),
        View("sface+mbf", pipeline.model_version, lambda v: np.asarray(v, np.float32)),
    ]
    cache = FaceCache(pipeline, lfw / "images", seed=CAL_SEED)
    people = sorted(p.name for p in (lfw / "images").iterdir() if p.is_dir())
    if args.people:
        people = sorted(sorted(people, key=lambda s: (zlib.crc32(s.encode()), s))[: args.people])
    first = next(f for f in (cache.face(person_photos(lfw, p)[0]) for p in people) if f is not None)
    own = sface.embed(first.aligned[None])[0]
    if not np.allclose(views[0].take(first.embedding[None])[0], own, atol=1e-4):
        raise SystemExit("the fused vector's first part is not SFace's own: update tools/calibrate.py")

    nap_caches = [FaceCache(pipeline, lfw / "images", seed=s) for s in REDETECT_SEEDS]
    nap_caches[0]._faces = cache._faces  # same unmasked analysis, other mask seeds
    plain_pairs, masked_pairs = collect_pairs(pipeline, lfw, args.nap_photos, nap_caches)
    print(f"NAP pairs: {len(plain_pairs)} ({time.perf_counter() - start:.0f} s)", flush=True)

    document = {
        "format": 1,
        "made_by": "tools/calibrate.py",
        "data": "lfw-dev (../shared/data): impostor scores of every person's last photo, unmasked and with a "
                "painted mask (detection re-run), against every other person's template of k photos",
        "fit": f"generalised Pareto above the impostor {100 * (1 - P_U):g}th percentile; empirical quantiles below",
        "embedders": {},
    }
    for view in views:
        mean, directions = fit_adapter(view.take(plain_pairs), view.take(masked_pairs), args.dirs)
        key = f"nap-{view.name}"
        path = out / f"nap_{view.name.replace('+', '_')}.npz"
        save_adapter(path, mean, directions, view.version, len(plain_pairs))
        dim = mean.shape[0]
        adapter = Calibration(view.version, {}, mean, directions)
        entry = calibrate_view(view, cache, lfw, people, adapter, dim)
        entry["adapter"] = key
        entry["nap_pairs"] = len(plain_pairs)
        document["embedders"][view.version] = entry
        print(f"{path.name}: sha256 {sha256(path)}", flush=True)
    from calibrate_own_mask import OWN_MASK_NOTE, own_mask_cells

    adapters = {view.version: (view.take, Calibration(view.version, {}, *_adapter_of(out, view))) for view in views}
    for version, by_cell in own_mask_cells(pipeline, lfw, adapters).items():
        document["embedders"][version]["cells"].update(by_cell)
    document["own_mask"] = OWN_MASK_NOTE
    cal_path = out / "calibration.json"
    cal_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"{cal_path.name}: sha256 {sha256(cal_path)}")
    for view in views:
        entry = document["embedders"][view.version]
        tails = {c: {int(k): ImpostorTail.from_dict(d) for k, d in by_k.items()} for c, by_k in entry["cells"].items()}
        print(summary(Calibration(view.version, tails)))
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
