"""Print the masked-face detection and mask-flag tables (dev-only: needs ../shared/data).

Detection: for each detector option, the share of masked-real/ photos in which at least one
face is found (training folders and held-out folders apart), boxes per photo on unmasked LFW and
deepface-pairs photos (each has one central face; extra boxes are background faces or false
faces, so fewer extras means fewer false faces), and the cost per photo and per 640x480 frame.

Mask flag: the largest face of each photo, aligned and scored by the vendored classifier:
recall on masked-real (held-out folders are the honest number), false flags on LFW people of
pairsDevTrain.txt who are not in identification.json (the classifier trains on those).

    python tools/measure_masks.py [--lfw 600] [--only detect|mask] [--classifier file.npz]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from kiosk.capture.images import load_rgb  # noqa: E402
from kiosk.errors import ImageError  # noqa: E402
from kiosk.vision.align import align_face  # noqa: E402
from kiosk.vision.detectors import MediaPipeDetector, YuNetDetector, create_detector  # noqa: E402
from kiosk.vision.masks import MaskClassifier  # noqa: E402
from kiosk.vision.types import Detections  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_mask_classifier import DATA, TRAINING_CLIPS, is_training_folder  # noqa: E402

MIN_FACE_PX = 40  # FacePipeline's default min_face_px: smaller boxes never reach recognition


def masked_real() -> list[tuple[Path, bool]]:
    """(photo, in a training folder) for every masked-real photo."""
    return [(file, is_training_folder(folder.name))
            for folder in sorted((DATA / "masked-real").iterdir()) if folder.is_dir()
            for file in sorted(folder.iterdir())]


def lfw_eval(limit: int) -> list[Path]:
    """First photo of each pairsDevTrain.txt person not in identification.json (unseen in training)."""
    root = DATA / "lfw-dev"
    trained = set(json.loads((root / "identification.json").read_text()))
    seen: set[str] = set()
    photos = []
    for line in (root / "pairsDevTrain.txt").read_text().splitlines()[1:]:
        parts = line.split("\t")
        for name, number in ((parts[0], parts[1]), (parts[2], parts[3])) if len(parts) == 4 else ((parts[0], parts[1]),):
            if name in trained or name in seen:
                continue
            seen.add(name)
            photos.append(root / "images" / name / f"{name}_{int(number):04d}.jpg")
    return photos[:limit]


def deepface() -> list[Path]:
    """The deepface-pairs portraits (unmasked, mostly one face each)."""
    return sorted((DATA / "deepface-pairs").glob("*.jpg"))


def video_faces(detector) -> np.ndarray:
    """Aligned faces (>= MIN_FACE_PX) from every frame of the video clips the classifier never saw."""
    crops = []
    for clip in sorted((DATA / "video").glob("*.gif")):
        if clip.name in TRAINING_CLIPS:
            continue
        capture = cv2.VideoCapture(str(clip))
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            found = detector.detect(rgb)
            crops += [align_face(rgb, found.keypoints[i]) for i in range(len(found))
                      if found.xyxy[i, 2] - found.xyxy[i, 0] >= MIN_FACE_PX]
        capture.release()
    return np.array(crops).reshape(-1, 112, 112, 3)


def _load(paths: list[Path]) -> list[np.ndarray]:
    images = []
    for path in paths:
        try:
            images.append(load_rgb(path))
        except ImageError as exc:
            logging.warning("skipped %s: %s", path, exc)
    return images


def _frames() -> list[np.ndarray]:
    """640x480 frames like a webcam's: deepface portraits letterboxed onto a grey canvas."""
    frames = []
    for rgb in _load(deepface()[:24]):
        canvas = np.full((480, 640, 3), 120, np.uint8)
        scale = min(400 / rgb.shape[0], 400 / rgb.shape[1])
        small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        y, x = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
        canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
        frames.append(canvas)
    return frames


def _wide(found: Detections) -> int:
    return int(((found.xyxy[:, 2] - found.xyxy[:, 0]) >= MIN_FACE_PX).sum()) if len(found) else 0


def detector_options() -> dict[str, Callable[[np.ndarray], Detections]]:
    """Every option worth comparing, by name (the first two are BlazeFace alone)."""
    full = MediaPipeDetector("mediapipe-full", merge=False, fallback=False)
    short = MediaPipeDetector("mediapipe-short", merge=False, fallback=False)
    old = MediaPipeDetector("mediapipe-full", merge=False, fallback=True, min_side=0)
    yunet_old = YuNetDetector(score_threshold=0.6)
    yunet_up = YuNetDetector(score_threshold=0.6, min_side=640)
    yunet_up5 = YuNetDetector(score_threshold=0.5, min_side=640)
    live = create_detector("mediapipe", "mediapipe-full")
    still = create_detector("mediapipe", "mediapipe-full", still=True)
    return {
        "mediapipe-full alone (+YuNet landmarks)": full.detect,
        "mediapipe-short alone (+YuNet landmarks)": short.detect,
        "old default: full, YuNet only if empty": old.detect,
        "yunet alone, t=0.6": yunet_old.detect,
        "yunet alone, small images up to 640, t=0.6": yunet_up.detect,
        "yunet alone, small images up to 640, t=0.5": yunet_up5.detect,
        "NEW live: full + YuNet merged": live.detect,
        "NEW still: full + short + YuNet merged": still.detect,
    }


def _median_ms(fn: Callable[[np.ndarray], object], images: list[np.ndarray], repeat: int = 3) -> float:
    """Median over images of the best of `repeat` runs: robust to other jobs sharing the CPU."""
    fn(images[0])  # warm up
    times = []
    for rgb in images:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            fn(rgb)
            best = min(best, (time.perf_counter() - start) * 1000)
        times.append(best)
    return float(np.median(times))


def detection_table(lfw_limit: int) -> None:
    """Detection rate and cost of every option."""
    photos = masked_real()
    images = _load([p for p, _ in photos])
    training = np.array([t for _, t in photos])
    unmasked = _load(lfw_eval(lfw_limit)) + _load(deepface())
    frames = _frames()
    print(f"\nDetection: masked-real {len(images)} photos ({training.sum()} in training folders, "
          f"{(~training).sum()} held out); {len(unmasked)} unmasked LFW + deepface photos; "
          f"{len(frames)} 640x480 frames")
    print(f"{'option':<46}{'held-out':>9}{'train':>7}{'all':>7}{'boxes/unmasked':>16}"
          f"{'ms/photo':>10}{'ms/frame':>10}")
    for name, detect in detector_options().items():
        found = np.array([len(detect(rgb)) > 0 for rgb in images])
        boxes = np.mean([_wide(detect(rgb)) for rgb in unmasked])
        photo_ms = _median_ms(detect, images[::10])
        frame_ms = _median_ms(detect, frames)
        print(f"{name:<46}{found[~training].mean():>9.3f}{found[training].mean():>7.3f}{found.mean():>7.3f}"
              f"{boxes:>16.3f}{photo_ms:>10.1f}{frame_ms:>10.1f}")
    print(f"(boxes/unmasked: boxes >= {MIN_FACE_PX} px per photo; 1.0 would be the central face only)")


def _largest_aligned(detector, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crop of the largest face per image, and which images had one."""
    crops, found = [], []
    for rgb in images:
        det = detector.detect(rgb)
        found.append(len(det) > 0)
        if len(det):
            areas = (det.xyxy[:, 2] - det.xyxy[:, 0]) * (det.xyxy[:, 3] - det.xyxy[:, 1])
            crops.append(align_face(rgb, det.keypoints[int(np.argmax(areas))]))
    return np.array(crops).reshape(-1, 112, 112, 3), np.array(found)


def mask_table(lfw_limit: int, classifier_path: str | None) -> None:
    """Mask-flag recall and false-flag rate of the classifier."""
    clf = MaskClassifier.load(classifier_path)
    detector = create_detector("mediapipe", "mediapipe-full", still=True)
    photos = masked_real()
    rows = []
    for held_out in (True, False):
        images = _load([p for p, t in photos if t != held_out])
        crops, _ = _largest_aligned(detector, images)
        rows.append((f"masked-real, {'held-out' if held_out else 'training'} folders", crops, True))
    lfw_crops, _ = _largest_aligned(detector, _load(lfw_eval(lfw_limit)))
    rows.append(("LFW, people unseen in training", lfw_crops, False))
    dp_crops, _ = _largest_aligned(detector, _load(deepface()))
    rows.append(("deepface-pairs (unmasked)", dp_crops, False))
    rows.append(("video clips unseen in training (frames)", video_faces(create_detector("mediapipe")), False))
    print(f"\nMask flag (threshold {clf.threshold:.3f}), largest face per photo")
    print(f"{'set':<40}{'faces':>7}{'flagged masked':>16}")
    for name, crops, _ in rows:
        flags = clf.predict(crops) >= clf.threshold
        print(f"{name:<40}{len(crops):>7}{flags.mean():>16.3f}")
    one = rows[0][1][:1]
    print(f"cost per face: {_median_ms(lambda c: clf.predict(c), [one] * 50):.2f} ms")


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=int, default=600, help="LFW photos to use")
    parser.add_argument("--only", choices=("detect", "mask"))
    parser.add_argument("--classifier", help="weights to measure instead of the vendored ones")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.only != "mask":
        detection_table(args.lfw)
    if args.only != "detect":
        mask_table(args.lfw, args.classifier)


if __name__ == "__main__":
    main()
