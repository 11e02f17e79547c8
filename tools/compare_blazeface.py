"""How closely face-kiosk's BlazeFace (LiteRT, kiosk/vision/blazeface.py) agrees with MediaPipe's
Tasks runtime on the same model files, and how fast each is.

Needs the `mediapipe` package, which face-kiosk no longer depends on (its Tasks runtime posts
usage metrics to Google): install it into a scratch copy of the venv to run this, e.g.

    python3 -m venv /tmp/mp && /tmp/mp/bin/pip install -e . 'mediapipe==1.2.3'
    /tmp/mp/bin/python tools/compare_blazeface.py [--time] [--lfw-step 5]

Per model (full and short range) and per source (an LFW sample, deepface-pairs, all of
masked-real, every frame of the video clips), both run at the app's lowest threshold (0.35)
and faces are paired greedily by IoU (>= 0.5). Printed: faces found by each, the unpaired
ones with their scores, the paired boxes' IoU, the score differences and the keypoint error
(as a share of the box width). `--time` adds the per-call time of each runtime, interleaved
in one run, on a 640x480 frame and on a large photo. `--same-input` hands both runtimes the
same already-letterboxed square (so MediaPipe's own resize is the identity): what is left
then is anchors, decoding, suppression and inference alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.capture.images import load_rgb  # noqa: E402
from kiosk.capture.sources import VideoFileSource  # noqa: E402
from kiosk.models import verified_model_path  # noqa: E402
from kiosk.vision.blazeface import BlazeFace  # noqa: E402
from kiosk.vision.geometry import iou_matrix  # noqa: E402
from kiosk.vision.types import Detections  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
THRESHOLD = 0.35  # MediaPipeDetector's lowest: min(FusionRule.agree, FusionRule.strong_blazeface)
PAIR_IOU = 0.5


def as_tasks_boxes(xyxy: np.ndarray) -> np.ndarray:
    """Float boxes as the Tasks runtime returns them: origin and size truncated to whole pixels,
    then the origin clamped to the image while the size is kept (a box cut by the left or top
    edge comes out shifted inwards)."""
    x0, y0 = np.trunc(xyxy[:, 0]), np.trunc(xyxy[:, 1])
    w, h = np.trunc(xyxy[:, 2] - xyxy[:, 0]), np.trunc(xyxy[:, 3] - xyxy[:, 1])
    x0, y0 = np.maximum(x0, 0), np.maximum(y0, 0)
    return np.stack([x0, y0, x0 + w, y0 + h], 1)


class TasksBlazeFace:
    """The same model through MediaPipe's Tasks FaceDetector (what face-kiosk used before)."""

    def __init__(self, model: str, score_threshold: float) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=verified_model_path(model).read_bytes()),
            min_detection_confidence=score_threshold,
        )
        self._mp = mp
        self._task = vision.FaceDetector.create_from_options(options)

    def detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        found = self._task.detect(image).detections
        if not found:
            return Detections.empty(k=6)
        boxes = [[d.bounding_box.origin_x, d.bounding_box.origin_y, d.bounding_box.origin_x + d.bounding_box.width,
                  d.bounding_box.origin_y + d.bounding_box.height] for d in found]
        scores = [d.categories[0].score for d in found]
        kps = [[[k.x * w, k.y * h] for k in d.keypoints] for d in found]
        return Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32),
                          np.asarray(kps, np.float32).reshape(len(found), -1, 2))

    def close(self) -> None:
        self._task.close()


def images(lfw_step: int) -> Iterator[tuple[str, np.ndarray]]:
    """(source, RGB image) over the development data."""
    lfw = sorted((DATA / "lfw-dev" / "images").rglob("*.jpg"))[::lfw_step]
    for path in lfw:
        yield f"lfw-dev (every {lfw_step}th)", load_rgb(path)
    for path in sorted((DATA / "deepface-pairs").glob("*.jpg")):
        yield "deepface-pairs", load_rgb(path)
    for path in sorted(p for p in (DATA / "masked-real").rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}):
        yield "masked-real", load_rgb(path)
    for clip in sorted((DATA / "video").glob("*.gif")):
        source = VideoFileSource(clip, loop=False)
        source.open()
        while (frame := source.read()) is not None:
            yield "video frames", frame
        source.close()


class Tally:
    """What one model's two runtimes found on one source."""

    def __init__(self) -> None:
        self.images = 0
        self.tasks = self.litert = 0
        self.only_tasks: list[float] = []
        self.only_litert: list[float] = []
        self.iou: list[float] = []
        self.iou_as_tasks: list[float] = []  # with our boxes rounded and clamped as Tasks does
        self.score_diff: list[float] = []
        self.kp_err: list[float] = []  # max over the 6 keypoints, / box width
        self.kp_px: list[float] = []
        self.strong_disagree = 0  # paired or not, found at 0.5 by one runtime only

    def add(self, ref: Detections, ours: Detections) -> None:
        self.images += 1
        self.tasks += len(ref)
        self.litert += len(ours)
        iou = iou_matrix(ref.xyxy, ours.xyxy) if len(ref) and len(ours) else np.zeros((len(ref), len(ours)))
        pairs: list[tuple[int, int]] = []
        while iou.size and iou.max() >= PAIR_IOU:
            i, j = np.unravel_index(int(np.argmax(iou)), iou.shape)
            pairs.append((int(i), int(j)))
            self.iou.append(float(iou[i, j]))
            iou[i, :] = -1
            iou[:, j] = -1
        if pairs:
            like = iou_matrix(ref.xyxy, as_tasks_boxes(ours.xyxy))
            self.iou_as_tasks += [float(like[i, j]) for i, j in pairs]
        paired_ref = {i for i, _ in pairs}
        paired_ours = {j for _, j in pairs}
        self.only_tasks += [float(ref.score[i]) for i in range(len(ref)) if i not in paired_ref]
        self.only_litert += [float(ours.score[j]) for j in range(len(ours)) if j not in paired_ours]
        for i, j in pairs:
            self.score_diff.append(float(ours.score[j] - ref.score[i]))
            width = max(float(ref.xyxy[i, 2] - ref.xyxy[i, 0]), 1.0)
            err = float(np.linalg.norm(ours.keypoints[j] - ref.keypoints[i], axis=1).max())
            self.kp_px.append(err)
            self.kp_err.append(err / width)
            self.strong_disagree += (ref.score[i] >= 0.5) != (ours.score[j] >= 0.5)
        self.strong_disagree += sum(ref.score[i] >= 0.5 for i in range(len(ref)) if i not in paired_ref)
        self.strong_disagree += sum(ours.score[j] >= 0.5 for j in range(len(ours)) if j not in paired_ours)

    def lines(self) -> list[str]:
        def q(values: list[float], qs: tuple[float, ...]) -> str:
            if not values:
                return "-"
            return " / ".join(f"{np.percentile(values, p):.4f}" for p in qs)

        return [
            f"images {self.images}; faces: Tasks {self.tasks}, LiteRT {self.litert}, paired {len(self.iou)}",
            f"unpaired: Tasks only {len(self.only_tasks)} (scores {sorted(round(s, 3) for s in self.only_tasks)}), "
            f"LiteRT only {len(self.only_litert)} (scores {sorted(round(s, 3) for s in self.only_litert)})",
            f"faces on different sides of 0.5 (the strong threshold): {self.strong_disagree}",
            f"box IoU min / 1st / 5th / median pct: {q(self.iou, (0, 1, 5, 50))}; with our boxes in whole "
            f"pixels and clamped as Tasks does: {q(self.iou_as_tasks, (0, 1, 5, 50))}",
            f"|score diff| median / 99th pct / max: {q([abs(d) for d in self.score_diff], (50, 99, 100))}",
            f"keypoint error / box width median / 99th pct / max: {q(self.kp_err, (50, 99, 100))} "
            f"(pixels: {q(self.kp_px, (50, 99, 100))})",
        ]


def compare(lfw_step: int) -> None:
    models = ("mediapipe-full", "mediapipe-short")
    runtimes = {m: (TasksBlazeFace(m, THRESHOLD), BlazeFace(m, THRESHOLD)) for m in models}
    tallies: dict[tuple[str, str], Tally] = {}
    for source, rgb in images(lfw_step):
        for model, (ref, ours) in runtimes.items():
            tallies.setdefault((model, source), Tally()).add(ref.detect(rgb), ours.detect(rgb))
    for (model, source), tally in tallies.items():
        print(f"\n{model} on {source}:")
        for line in tally.lines():
            print("  " + line)
    for ref, _ in runtimes.values():
        ref.close()


def same_input() -> None:
    import cv2

    from kiosk.vision.blazeface import letterbox

    paths = sorted((DATA / "deepface-pairs").glob("*.jpg")) + sorted((DATA / "masked-real").rglob("*.jpg"))[::10]
    for model in ("mediapipe-full", "mediapipe-short"):
        ref, ours = TasksBlazeFace(model, THRESHOLD), BlazeFace(model, THRESHOLD)
        side = ours.spec.side
        faces, unmatched, score_diff, kp_diff = 0, 0, 0.0, 0.0
        for path in paths:
            rgb = load_rgb(path)
            square = cv2.warpAffine(rgb, letterbox(rgb.shape[1], rgb.shape[0], side), (side, side),
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            a, b = ref.detect(square), ours.detect(square)
            faces += len(a)
            if len(a) != len(b):
                unmatched += abs(len(a) - len(b))
                continue
            ia, ib = np.argsort(-a.score), np.argsort(-b.score)
            if len(a):
                score_diff = max(score_diff, float(np.abs(a.score[ia] - b.score[ib]).max()))
                kp_diff = max(kp_diff, float(np.abs(a.keypoints[ia] - b.keypoints[ib]).max()))
        print(f"{model}, the same input square, {len(paths)} images: {faces} faces, {unmatched} unmatched, "
              f"largest score difference {score_diff:.2e}, largest keypoint difference {kp_diff:.2e} px")
        ref.close()


def per_call(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and mean CPU (this process, all threads) milliseconds per call."""
    walls = []
    cpu0 = time.process_time()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    return 1000 * float(np.median(walls)), 1000 * (time.process_time() - cpu0) / repeat


def timing(repeat: int) -> None:
    frame = load_rgb(DATA / "deepface-pairs" / "couple.jpg")
    import cv2

    small = cv2.resize(frame, (640, 480), interpolation=cv2.INTER_AREA)
    for model in ("mediapipe-full", "mediapipe-short"):
        t0 = time.perf_counter()
        ref = TasksBlazeFace(model, THRESHOLD)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = BlazeFace(model, THRESHOLD)
        t_ours = time.perf_counter() - t0
        print(f"\n{model}: construct Tasks {1000 * t_ref:.1f} ms, LiteRT {1000 * t_ours:.1f} ms")
        for label, rgb in (("640x480 frame", small), (f"{frame.shape[1]}x{frame.shape[0]} photo", frame)):
            ref.detect(rgb), ours.detect(rgb)  # warm up
            rows: dict[str, list[tuple[float, float]]] = {"Tasks": [], "LiteRT": []}
            for _ in range(5):  # interleaved blocks: the machine's load falls on both alike
                rows["Tasks"].append(per_call(lambda rgb=rgb, d=ref: d.detect(rgb), repeat // 5))
                rows["LiteRT"].append(per_call(lambda rgb=rgb, d=ours: d.detect(rgb), repeat // 5))
            for name, values in rows.items():
                wall = float(np.median([v[0] for v in values]))
                cpu = float(np.mean([v[1] for v in values]))
                print(f"  {label:>18} {name:>6}: {wall:6.2f} ms per call (median), CPU {cpu:6.2f} ms")
        ref.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-step", type=int, default=5, help="every n-th LFW photo (default 5)")
    parser.add_argument("--time", action="store_true", help="time both runtimes instead of comparing")
    parser.add_argument("--same-input", action="store_true", help="hand both the same letterboxed square")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    if args.same_input:
        same_input()
    elif args.time:
        timing(args.repeat)
    else:
        compare(args.lfw_step)


if __name__ == "__main__":
    main()
