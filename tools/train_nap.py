"""Learn the score adapter of one embedder: a centring mean and the NAP directions (dev-only).

NAP ("nuisance attribute projection") needs no identity labels: take photos of people who
are *not* among those eval measures on (`kiosk.diagnostics.eval_data.split_dev_people`), embed each
without and with a painted mask, and keep the top principal directions of
(masked - unmasked). The matcher projects them out of both sides of every comparison that
has a masked side. The mean of the unmasked embeddings is subtracted first, which centres
impostor scores on 0 (otherwise they rise with the number of photos averaged into a template).

Masks come two ways, both from seeds eval never uses: painted on the whole photo with
detection run again (what a camera sees: alignment shifts under a mask), and painted on the
aligned crop (the mask alone, perfectly aligned).

    python tools/train_nap.py [--embedder sface] [--dirs 16] [--out resources/models/nap_sface.npz]

tools/calibrate.py calls `collect_pairs` / `fit_adapter` itself (the calibration must be made
with the adapter it ships with); this script is for training or inspecting an adapter alone.
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np

from kiosk.diagnostics.eval_data import FaceCache, default_data_dir, person_photos, split_dev_people
from kiosk.vision.align import ARCFACE_112
from kiosk.vision.geometry import l2_normalise
from kiosk.vision.synthetic_masks import MaskStyle, paint_mask

REDETECT_SEEDS = (101,)  # masks painted on the photo, detection re-run
CROP_SEEDS = (201, 202)  # masks painted on the aligned crop


def collect_pairs(pipeline, lfw_dir: Path, limit: int | None = None,
                  caches: list[FaceCache] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(unmasked, masked) embeddings of the same photos of the NAP-training people."""
    _, people = split_dev_people(lfw_dir)
    rels = [rel for name in people for rel in person_photos(lfw_dir, name)]
    rels = rels[:limit] if limit else rels
    caches = caches or [FaceCache(pipeline, lfw_dir / "images", seed=s) for s in REDETECT_SEEDS]
    plain, masked = [], []
    for rel in rels:
        face = caches[0].face(rel)
        if face is None:
            continue
        for cache in caches:
            m = cache.masked_face(rel)
            if m is not None:
                plain.append(face.embedding)
                masked.append(m.embedding)
        crops = []
        for seed in CROP_SEEDS:
            rng = np.random.default_rng([seed, zlib.crc32(rel.encode())])
            crops.append(paint_mask(face.aligned, ARCFACE_112, MaskStyle.random(rng), rng))
        for vec in pipeline.embed_aligned(np.stack(crops)):
            plain.append(face.embedding)
            masked.append(vec)
    return np.asarray(plain, np.float32), np.asarray(masked, np.float32)


def fit_adapter(plain: np.ndarray, masked: np.ndarray, n_dirs: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(mean, directions): the centring mean and the top `n_dirs` directions of masked - unmasked."""
    mean = plain.mean(axis=0).astype(np.float32)
    diffs = l2_normalise(masked - mean) - l2_normalise(plain - mean)
    # Uncentred SVD: the average shift a mask causes is a nuisance direction too.
    _, _, vt = np.linalg.svd(diffs, full_matrices=False)
    return mean, vt[:n_dirs].astype(np.float32)


def save_adapter(path: Path, mean: np.ndarray, directions: np.ndarray, model_version: str, n_pairs: int) -> None:
    """Write the adapter file the app loads (sha256-checked through kiosk/models.py)."""
    np.savez(path, mean=mean, directions=directions, model_version=np.array(model_version),
             n_pairs=np.int64(n_pairs))


def main() -> None:
    """Train and write one adapter."""
    from kiosk.config import VisionConfig
    from kiosk.vision.pipeline import FacePipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", default="sface", choices=["sface", "sface+mbf"])
    parser.add_argument("--dirs", type=int, default=16)
    parser.add_argument("--data", default=str(default_data_dir()))
    parser.add_argument("--limit", type=int, help="only this many photos (a smoke run)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    pipeline = FacePipeline(VisionConfig(embedder=args.embedder), still=True)
    plain, masked = collect_pairs(pipeline, Path(args.data) / "lfw-dev", args.limit)
    mean, directions = fit_adapter(plain, masked, args.dirs)
    save_adapter(Path(args.out), mean, directions, pipeline.model_version, len(plain))
    print(f"{args.out}: {len(plain)} (unmasked, masked) pairs, {len(directions)} directions, "
          f"|mean| {np.linalg.norm(mean):.3f}")


if __name__ == "__main__":
    main()
