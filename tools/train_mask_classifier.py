"""Train the mask classifier and vendor its weights (dev-only: needs scikit-learn and ../shared/data).

Data (resources/models/README.md carries the data note that ships with the weights):
- negatives: aligned unmasked LFW faces of the people in identification.json (never the
  pairsDevTrain.txt people that tools/measure_masks.py evaluates on), plus the faces in the three
  head-pose clips of video/ (washed-out, tilted webcam faces that LFW lacks);
- positives: the same LFW photos with a synthetic mask painted on and detected again, plus the
  real masked faces (largest per photo) of the masked-real/ folders with int(name) % 4 == 0;
  the other folders are held out for measuring;
- every positive and negative also enters once more degraded (downscaled, washed out,
  desaturated, blurred, noisy, JPEG), so image quality alone does not tell masks apart.

C is chosen by 5-fold cross-validation grouped by person (photo for masked-real); the threshold
is where cross-validated false flags on the LFW training negatives reach 1.5%.

    python tools/train_mask_classifier.py [--out resources/models/mask_classifier.npz] [--cache crops.npz]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from kiosk.capture.images import load_rgb  # noqa: E402
from kiosk.errors import ImageError  # noqa: E402
from kiosk.vision.align import align_mesh  # noqa: E402
from kiosk.vision.detectors import create_detector  # noqa: E402
from kiosk.vision.landmarks import FaceMesh  # noqa: E402
from kiosk.vision.masks import MaskClassifier, mask_features  # noqa: E402
from kiosk.vision.pipeline import MIN_FACE_PROB  # noqa: E402
from kiosk.vision.synthetic_masks import MaskStyle, paint_mask  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
TRAINING_CLIPS = ("head-pose-face-detection-female-and-male.gif", "head-pose-face-detection-female.gif",
                  "head-pose-face-detection-male.gif")
FALSE_FLAG_TARGET = 0.015  # cross-validated, on training negatives


def is_training_folder(name: str) -> bool:
    """masked-real/ folders used for training (a quarter); the others are held out for measuring."""
    return int(name) % 4 == 0


def _largest(found) -> int:
    areas = (found.xyxy[:, 2] - found.xyxy[:, 0]) * (found.xyxy[:, 3] - found.xyxy[:, 1])
    return int(np.argmax(areas))


class _Aligner:
    """Detector boxes -> face mesh -> the pipeline's alignment (faces whose landmarks fail are skipped)."""

    def __init__(self, still: bool) -> None:
        self.detector = create_detector("mediapipe", still=still)
        self.mesh = FaceMesh()

    def faces(self, rgb: np.ndarray, largest_only: bool = True, min_px: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
        """(aligned crop, 5 points) of the largest face, or of every face at least `min_px` wide."""
        found = self.detector.detect(rgb)
        if not len(found):
            return []
        rows = [_largest(found)] if largest_only else range(len(found))
        out = []
        for i in rows:
            if found.xyxy[i, 2] - found.xyxy[i, 0] < min_px:
                continue
            m = self.mesh.landmarks(rgb, found.xyxy[i], found.keypoints[i][:2])
            if m.face_prob >= MIN_FACE_PROB:
                out.append((align_mesh(rgb, m.points), m.five()))
        return out


def collect(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Aligned crops and their groups: neg, syn (synthetic masks), real (masked-real), clip (video)."""
    still = _Aligner(still=True)
    live = _Aligner(still=False)
    ident = json.loads((DATA / "lfw-dev" / "identification.json").read_text())
    neg, syn, person, syn_person = [], [], [], []
    for name in sorted(ident):
        for rel in ident[name]:
            try:
                rgb = load_rgb(DATA / "lfw-dev" / "images" / rel)
            except ImageError:
                continue
            clean = still.faces(rgb)
            if not clean:
                continue
            crop, five = clean[0]
            neg.append(crop)
            person.append(name)
            masked = paint_mask(rgb, five, MaskStyle.random(rng), rng)
            found_m = live.faces(masked)  # detect again: landmarks on masked faces are noisier
            if found_m:
                syn.append(found_m[0][0])
                syn_person.append(name)
    real, photo = [], []
    for folder in sorted((DATA / "masked-real").iterdir()):
        if not is_training_folder(folder.name):
            continue
        for file in sorted(folder.iterdir()):
            try:
                rgb = load_rgb(file)
            except ImageError:
                continue
            found = still.faces(rgb)
            if found:
                real.append(found[0][0])
                photo.append(f"{folder.name}/{file.name}")
    clip_faces, clip_names = [], []
    for clip in TRAINING_CLIPS:
        capture = cv2.VideoCapture(str(DATA / "video" / clip))
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            for crop, _ in live.faces(rgb, largest_only=False, min_px=40):
                clip_faces.append(crop)
                clip_names.append(clip)
        capture.release()
    return {
        "neg": np.array(neg), "neg_group": np.array(person),
        "syn": np.array(syn), "syn_group": np.array(syn_person),
        "real": np.array(real), "real_group": np.array(photo),
        "clip": np.array(clip_faces).reshape(-1, 112, 112, 3), "clip_group": np.array(clip_names),
    }


def degrade(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random webcam-like damage: small, washed out, desaturated, colour cast, blur, noise, JPEG."""
    out = []
    for crop in crops:
        x = crop.astype(np.float32)
        if rng.random() < 0.7:
            side = int(rng.integers(24, 80))
            x = cv2.resize(cv2.resize(x, (side, side), interpolation=cv2.INTER_AREA), (112, 112))
        if rng.random() < 0.6:
            x = x.mean() + (x - x.mean()) * rng.uniform(0.35, 1.0)
        if rng.random() < 0.5:
            grey = x.mean(2, keepdims=True)
            x = grey + (x - grey) * rng.uniform(0.2, 1.2)
        if rng.random() < 0.5:
            x = 255 * (np.clip(x, 0, 255) / 255) ** rng.uniform(0.6, 1.6) * rng.uniform(0.85, 1.15, 3)
        if rng.random() < 0.3:
            x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.5))
        if rng.random() < 0.3:
            x = x + rng.normal(0, rng.uniform(2, 8), x.shape)
        x = np.clip(x, 0, 255).astype(np.uint8)
        if rng.random() < 0.4:
            _, jpeg = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 70))])
            x = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
        out.append(x)
    return np.array(out).reshape(-1, 112, 112, 3)


def training_set(crops: dict[str, np.ndarray], rng: np.random.Generator):
    """Features, labels, groups, weights and a 'calibrate' mask (LFW negatives) for fitting."""
    parts = [("neg", 0, 1.0, True), ("syn", 1, 1.0, False), ("real", 1, 2.0, False), ("clip", 0, 1.0, False)]
    xs, ys, groups, weights, calibrate = [], [], [], [], []
    for key, label, weight, is_calibration in parts:
        for images in (crops[key], degrade(crops[key], rng)):
            xs.append(mask_features(images))
            ys.append(np.full(len(images), label))
            groups.append(crops[f"{key}_group"])
            weights.append(np.full(len(images), weight))
            calibrate.append(np.full(len(images), is_calibration))
    return (np.concatenate(xs), np.concatenate(ys), np.concatenate(groups), np.concatenate(weights),
            np.concatenate(calibrate))


def fit(x, y, groups, weights, calibrate) -> tuple[MaskClassifier, dict[str, float]]:
    """Pick C by grouped CV log-loss, fit on everything, threshold from CV scores."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    mean, scale = x.mean(0), x.std(0) + 1e-6
    xn = (x - mean) / scale
    best = None
    for c in (0.0003, 0.001, 0.003, 0.01):
        cv = np.zeros(len(y))
        for train, test in GroupKFold(5).split(xn, y, groups):
            model = LogisticRegression(C=c, max_iter=5000).fit(xn[train], y[train], sample_weight=weights[train])
            cv[test] = model.decision_function(xn[test])
        loss = float(np.mean(np.logaddexp(0, -np.where(y == 1, cv, -cv))))
        if best is None or loss < best[0]:
            best = (loss, c, cv)
    loss, c, cv = best
    model = LogisticRegression(C=c, max_iter=5000).fit(xn, y, sample_weight=weights)
    logit = float(np.quantile(cv[calibrate], 1 - FALSE_FLAG_TARGET))
    threshold = float(1 / (1 + np.exp(-logit)))
    stats = {"C": c, "cv_log_loss": loss, "threshold": threshold,
             "cv_false_flags_lfw": float((cv[calibrate] >= logit).mean()),
             "cv_false_flags_all": float((cv[y == 0] >= logit).mean()),
             "cv_recall_all": float((cv[y == 1] >= logit).mean())}
    clf = MaskClassifier(mean.astype(np.float32), scale.astype(np.float32), model.coef_[0].astype(np.float32),
                         float(model.intercept_[0]), threshold)
    return clf, stats


def main() -> None:
    """Collect (or load cached crops), fit, save."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="resources/models/mask_classifier.npz")
    parser.add_argument("--cache", help="npz of collected crops: read if present, else written")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rng = np.random.default_rng(0)
    if args.cache and Path(args.cache).is_file():
        with np.load(args.cache) as data:
            crops = {k: data[k] for k in data.files}
    else:
        crops = collect(rng)
        if args.cache:
            np.savez_compressed(args.cache, **crops)
    print(", ".join(f"{k} {len(v)}" for k, v in crops.items() if not k.endswith("_group")))
    clf, stats = fit(*training_set(crops, np.random.default_rng(1)))
    clf.save(args.out)
    print(" ".join(f"{k}={v:.4g}" for k, v in stats.items()) + f"; wrote {args.out}")


if __name__ == "__main__":
    main()
