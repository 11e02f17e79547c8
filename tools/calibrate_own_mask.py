"""Calibrate the mask-vs-mask comparisons (own-mask rows) in calibration.json (dev-only).

A masked visitor compared with someone's own-mask sample (a photo in their own mask, or one
learned from an earlier visit) is a mask-vs-mask comparison: two masked strangers look alike,
more so in the same mask. This measures how alike, on lfw-dev impostors only:

- People: lfw-dev people neither in identification.json nor among eval's unknown visitors
  (`split_dev_people`'s second list: never eval's probes, nor the people the multi-visit
  measurement walks up).
- Masks: painted through the bare photo's landmarks, detection re-run (what a camera sees), two
  ways: "random" (each photo its own random style, from a seed eval never uses) and "same"
  (everyone in the same light-blue surgical mask: the commonest mask, and the worst case).
- Comparisons, templates of one masked photo (k = 1), scored as the matcher does (centred,
  NAP-projected cosine, `Calibration.masked_space`):
  - a masked photo vs another person's masked photo: the `mask-vs-mask` cell;
  - the mean of two masked photos of one person (a stand-in for a track's fused probe) vs
    another person's masked photo: printed only. Its tail came out *below* the single-photo one
    (0.447 vs 0.457 at FAR 1e-5 for SFace), so no `mask-vs-mask+fused` cell is shipped and a
    track's fused probe meets own-mask rows at the single-photo tail (the matcher's fallback).
- Shipped: both style sets pooled, fitted like every other cell (tools/calibrate.py's
  `fit_tail`); each set's own thresholds are printed too. Measured: the two differ by at most
  0.01 at FARs 1e-3 to 1e-5 (the NAP adapter projects out most of what a mask's look adds), so
  the tail holds for a lobby where everyone wears the same mask as well as for mixed masks.

    python tools/calibrate_own_mask.py [--data ../shared/data] [--cache /tmp/own-mask.npz]

Writes that cell of both embedder versions into resources/models/calibration.json (the other
cells untouched) and prints the file's new sha256 for kiosk/models.py. tools/calibrate.py
calls `own_mask_cells` too, so a full re-calibration makes the same cells.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kiosk.diagnostics.evaluation import default_data_dir, person_photos, split_dev_people
from kiosk.recognition.calibration import MASK_VS_MASK, Calibration, fused_cell
from kiosk.vision.geometry import l2_normalise
from kiosk.vision.synthetic_masks import MaskStyle, paint_mask

ROOT = Path(__file__).resolve().parent.parent
OWN_MASK_SEED = 401  # random styles of the "random" set (eval, calibrate.py and train_nap use others)
SAME_STYLE = MaskStyle()  # light-blue surgical: the commonest mask
FARS = (1e-3, 1e-4, 1e-5, 1e-6)
OWN_MASK_NOTE = ("mask-vs-mask cells: tools/calibrate_own_mask.py, lfw-dev people outside eval's sets, painted masks "
                 "of random styles and everyone in the same surgical mask, pooled")

Embed = Callable[[np.ndarray], np.ndarray]


def masked_embeddings(pipeline, lfw: Path, people: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per style set, (person index per photo, embeddings) of every photo of `people` with a
    painted mask the pipeline flags as masked (a miss or an unflagged mask is left out, as a
    camera would)."""
    from kiosk.capture.images import load_rgb

    out: dict[str, tuple[list[int], list[np.ndarray]]] = {"random": ([], []), "same": ([], [])}
    for i, name in enumerate(people):
        for rel in person_photos(lfw, name):
            rgb = load_rgb(lfw / "images" / rel)
            faces = pipeline.analyze(rgb, max_faces=1)
            if not faces:
                continue
            for style_set, (ids, vecs) in out.items():
                rng = np.random.default_rng([OWN_MASK_SEED, zlib.crc32(rel.encode())])
                style = SAME_STYLE if style_set == "same" else MaskStyle.random(rng)
                found = pipeline.analyze(paint_mask(rgb, faces[0].landmarks, style, rng), max_faces=1)
                if found and found[0].masked:
                    ids.append(i)
                    vecs.append(found[0].embedding)
    return {s: (np.asarray(ids, np.int64), np.asarray(vecs, np.float32)) for s, (ids, vecs) in out.items()}


def own_mask_scores(ids: np.ndarray, vecs: np.ndarray, adapter: Calibration) -> dict[str, np.ndarray]:
    """Impostor scores of both cells: single masked photos, and two-photo means, vs other people's
    masked photos (in the matcher's masked space)."""
    space = adapter.masked_space(vecs)
    single = space @ space.T
    single = single[np.triu(ids[:, None] != ids[None, :], 1)]
    fused_ids, fused = [], []
    for i in np.unique(ids):
        rows = np.flatnonzero(ids == i)
        if len(rows) >= 2:
            fused_ids.append(i)
            fused.append(l2_normalise(vecs[rows[:2]].mean(0)[None])[0])
    probes = adapter.masked_space(np.asarray(fused, np.float32))
    scores = probes @ space.T
    fused_scores = scores[np.asarray(fused_ids)[:, None] != ids[None, :]]
    return {MASK_VS_MASK: single, fused_cell(MASK_VS_MASK): fused_scores}


def own_mask_cells(pipeline, lfw: Path, views: dict[str, tuple[Embed, Calibration]],
                   cache: Path | None = None) -> dict[str, dict[str, dict[str, dict]]]:
    """{model_version: {cell: {"1": tail}}} for both own-mask cells, both style sets pooled; prints
    each set's thresholds too."""
    sys.path.insert(0, str(ROOT / "tools"))
    from calibrate import fit_tail

    _, people = split_dev_people(lfw)
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if cache is not None and cache.exists():
        with np.load(cache) as data:
            sets = {s: (data[f"{s}_ids"], data[f"{s}_vecs"]) for s in ("random", "same")}
    if not sets:
        start = time.perf_counter()
        sets = masked_embeddings(pipeline, lfw, people)
        print(f"  {', '.join(f'{s}: {len(i)}' for s, (i, _) in sets.items())} masked photos of {len(people)} "
              f"people ({time.perf_counter() - start:.0f} s)", flush=True)
    if cache is not None:
        np.savez(cache, **{f"{s}_{k}": v for s, (i, e) in sets.items() for k, v in (("ids", i), ("vecs", e))})
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for version, (take, adapter) in views.items():
        pooled: dict[str, list[np.ndarray]] = {}
        for style_set, (ids, vecs) in sets.items():
            for cell, scores in own_mask_scores(ids, take(vecs), adapter).items():
                pooled.setdefault(cell, []).append(scores)
                print(f"  {version} {style_set:<6} {_line(cell, fit_tail(scores), len(scores))}")
        cells = {}
        for cell, parts in pooled.items():
            scores = np.concatenate(parts)
            tail = fit_tail(scores)
            print(f"  {version} pooled {_line(cell, tail, len(scores))}")
            if cell == MASK_VS_MASK:  # the fused stand-in came out lower: fused probes use this one too
                cells[cell] = {"1": tail.to_dict()}
        out[version] = cells
    return out


def _line(cell: str, tail, n: int) -> str:
    return f"{cell:<19} {n:>9,} impostor scores; " + ", ".join(f"{far:g}: {tail.threshold(far):.3f}" for far in FARS)


def main() -> None:
    """Measure, fit, write calibration.json's own-mask cells and print its sha256."""
    from kiosk.config import VisionConfig
    from kiosk.recognition.calibration import load_calibration
    from kiosk.vision.pipeline import FacePipeline, template_version

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(default_data_dir()))
    parser.add_argument("--out", default=str(ROOT / "resources" / "models" / "calibration.json"))
    parser.add_argument("--cache", help="keep the masked embeddings here (a second run only fits)")
    args = parser.parse_args()
    lfw = Path(args.data) / "lfw-dev"
    pipeline = FacePipeline(VisionConfig(embedder="sface+mbf"), still=True)  # both versions in one pass
    sface_dim = pipeline.embedding.models[0].dim
    sface = template_version(pipeline.embedding.models[0].version)
    views: dict[str, tuple[Embed, Calibration]] = {}
    for version, take in ((sface, lambda v: l2_normalise(np.asarray(v)[..., :sface_dim])),
                          (pipeline.model_version, lambda v: np.asarray(v, np.float32))):
        adapter = load_calibration(version)
        if adapter is None:
            raise SystemExit(f"no calibration for {version}: run tools/calibrate.py first")
        views[version] = (take, adapter)
    cells = own_mask_cells(pipeline, lfw, views, Path(args.cache) if args.cache else None)
    out = Path(args.out)
    document = json.loads(out.read_text(encoding="utf-8"))
    for version, by_cell in cells.items():
        document["embedders"][version]["cells"].update(by_cell)
    document["own_mask"] = OWN_MASK_NOTE
    out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"{out.name}: sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
