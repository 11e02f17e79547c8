"""Train the mask classifier and vendor its weights (dev-only: needs scikit-learn and ../shared/data).

Data (see resources/models/README.md for the note that ships with the weights):
- negatives: aligned unmasked LFW faces (people of identification.json, not in the eval pairs);
- positives: the same faces with synthetic masks, plus real masked faces from the *even*
  folders of masked-real/ (the odd folders are held out to measure recall).

    python tools/train_mask_classifier.py [--out resources/models/mask_classifier.npz]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kiosk.config import VisionConfig
from kiosk.errors import ImageError
from kiosk.imageio import load_rgb
from kiosk.vision.align import align_face
from kiosk.vision.detectors import create_detector
from kiosk.vision.masks import MaskClassifier, MaskStyle, mask_features, paint_mask

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def is_training_folder(name: str) -> bool:
    """masked-real/ folders used for training (a quarter); the others are held out for measuring."""
    return int(name) % 4 == 0


def _largest(found):
    areas = (found.xyxy[:, 2] - found.xyxy[:, 0]) * (found.xyxy[:, 3] - found.xyxy[:, 1])
    return int(np.argmax(areas))


def collect(limit_people: int, rng: np.random.Generator):
    """Aligned crops: (negatives, synthetic positives, real positives)."""
    detector = create_detector(VisionConfig().detector)
    ident = json.loads((DATA / "lfw-dev" / "identification.json").read_text())
    neg, syn, real = [], [], []
    for name in sorted(ident)[:limit_people]:
        for rel in ident[name][:2]:
            path = DATA / "lfw-dev" / "images" / rel
            try:
                rgb = load_rgb(path)
            except ImageError:
                continue
            found = detector.detect(rgb)
            if not len(found):
                continue
            kps = found.keypoints[_largest(found)]
            neg.append(align_face(rgb, kps))
            masked = paint_mask(rgb, kps, MaskStyle.random(rng), rng)
            found_m = detector.detect(masked)
            if len(found_m):
                syn.append(align_face(masked, found_m.keypoints[_largest(found_m)]))
    for folder in sorted((DATA / "masked-real").iterdir()):
        if not is_training_folder(folder.name):
            continue
        for file in sorted(folder.iterdir()):
            try:
                rgb = load_rgb(file)
            except ImageError:
                continue
            found = detector.detect(rgb)
            if len(found):
                real.append(align_face(rgb, found.keypoints[_largest(found)]))
    return np.array(neg), np.array(syn), np.array(real)


def main() -> None:
    """Collect, fit, save."""
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="resources/models/mask_classifier.npz")
    parser.add_argument("--people", type=int, default=298)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    neg, syn, real = collect(args.people, rng)
    print(f"negatives {len(neg)}, synthetic positives {len(syn)}, real positives {len(real)}")
    x = mask_features(np.concatenate([neg, syn, real]))
    y = np.concatenate([np.zeros(len(neg)), np.ones(len(syn) + len(real))])
    weight = np.concatenate([np.ones(len(neg)), np.ones(len(syn)), np.full(len(real), 2.0)])
    mean, scale = x.mean(0), x.std(0) + 1e-6
    model = LogisticRegression(C=0.05, max_iter=3000).fit((x - mean) / scale, y, sample_weight=weight)
    clf = MaskClassifier(mean.astype(np.float32), scale.astype(np.float32),
                         model.coef_[0].astype(np.float32), float(model.intercept_[0]), 0.5)
    clf.save(args.out)
    print(f"train accuracy {model.score((x - mean) / scale, y):.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
