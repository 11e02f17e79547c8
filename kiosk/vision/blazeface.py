"""MediaPipe's BlazeFace face detectors in LiteRT, with MediaPipe's own pre- and post-processing.

The Tasks runtime (the `mediapipe` package) wraps these models in a graph whose library also
posts usage metrics to Google (clearcut over HTTPS, from native threads). The model files are
plain TFLite, so they run here in LiteRT like the face mesh, and the graph's steps are
reproduced from its options (MediaPipe's `face_detection_short_range.pbtxt` /
`face_detection_full_range.pbtxt` and the Tasks `face_detector_graph.cc`):

1. ImageToTensor: the whole image letterboxed into the square input (keep_aspect_ratio, the
   image centred, BORDER_ZERO: black bars), RGB scaled to [-1, 1] (the models' metadata: mean
   127.5, std 127.5). Bilinear exactly as the OpenCV inside MediaPipe resamples
   (`warpPerspective`: each source position rounded to 1/32 pixel, fixed-point weights), done
   here with `cv2.remap` on such a map. (OpenCV 5.1's own `warpAffine` rounds differently: a
   grey level off on ~17% of the pixels, enough to move a score by up to 0.005.)
2. SsdAnchors with fixed_anchor_size: one anchor per cell centre and per layer, plus an
   interpolated one where interpolated_scale_aspect_ratio is 1. Short range: 128 px input,
   strides 8, 16, 16, 16 (896 anchors); full range: 192 px input, stride 4 (2304).
3. TensorsToDetections: reverse_output_order (x before y), boxes and the 6 keypoints are
   offsets in input pixels from the anchor (x/y/w/h_scale = the input side), scores are
   logits clipped to +-100 then a sigmoid; boxes under the score threshold, or with a
   negative or NaN size, are dropped.
4. NonMaxSuppression, WEIGHTED, IoU: the best box takes every box that overlaps it by IoU
   above 0.3 and becomes their score-weighted mean (box corners and keypoints), keeping its
   own score.
5. Projection back through the letterbox to image pixels; the boxes then take the Tasks API's
   whole-pixel form (`tasks_boxes`), the keypoints stay in float.

tools/compare_blazeface.py measured the agreement with the Tasks runtime on the development
photos (resources/models/README.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache

import cv2
import numpy as np

from kiosk.errors import ModelError
from kiosk.models import verified_model_path
from kiosk.vision.litert import QuietInterpreter
from kiosk.vision.types import Detections

SCORE_CLIP = 100.0  # TensorsToDetections' score_clipping_thresh
SUPPRESS_IOU = 0.3  # FaceDetectorOptions.min_suppression_threshold's default
N_KEYPOINTS = 6  # eyes (image-left, image-right), nose tip, mouth centre, ear tragions
WARP_BLOCK = 64  # columns OpenCV's warpPerspective maps per block for a 128/192 px output
MAX_SIDE = 32767  # the remap maps hold pixel positions as int16


@dataclass(frozen=True)
class BlazeFaceSpec:
    """What MediaPipe's graph knows about one BlazeFace model: its input side and SSD anchors."""

    side: int  # square RGB input, pixels
    strides: tuple[int, ...]  # one per SSD layer
    interpolated_anchor: bool  # interpolated_scale_aspect_ratio == 1: two anchors per layer and cell


SPECS: dict[str, BlazeFaceSpec] = {
    "mediapipe-short": BlazeFaceSpec(side=128, strides=(8, 16, 16, 16), interpolated_anchor=True),
    "mediapipe-full": BlazeFaceSpec(side=192, strides=(4,), interpolated_anchor=False),
}


@cache
def anchor_centres(spec: BlazeFaceSpec) -> np.ndarray:
    """(n, 2) anchor centres (x, y) in [0, 1], in the model's output order.

    MediaPipe's SsdAnchorsCalculator: consecutive layers of one stride share a feature map; per
    cell it emits one anchor per layer (aspect ratio 1) plus an interpolated one if enabled, all
    centred on the cell (anchor_offset 0.5). With fixed_anchor_size their size is 1, so only
    the centres matter.
    """
    centres: list[np.ndarray] = []
    layer = 0
    while layer < len(spec.strides):
        stride = spec.strides[layer]
        same = 0
        while layer < len(spec.strides) and spec.strides[layer] == stride:
            same += 1
            layer += 1
        per_cell = same * (2 if spec.interpolated_anchor else 1)
        cells = math.ceil(spec.side / stride)
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = (np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) / cells
        centres.append(np.repeat(grid, per_cell, axis=0))
    anchors = np.concatenate(centres).astype(np.float32)
    anchors.flags.writeable = False  # shared by every caller
    return anchors


def letterbox(width: int, height: int, side: int) -> np.ndarray:
    """2x3 affine map from image pixels to the square input: the image scaled to fit, centred."""
    long_side = max(width, height)
    scale = side / long_side
    return np.array([[scale, 0.0, (long_side - width) / 2 * scale],
                     [0.0, scale, (long_side - height) / 2 * scale]], np.float64)


@lru_cache(maxsize=8)  # one per frame size: a camera's never changes
def letterbox_maps(width: int, height: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """`cv2.remap` maps that sample the letterboxed square exactly as MediaPipe's ImageToTensor
    does on the CPU: OpenCV's `warpPerspective` from the ROI's corners (float32) to the
    square's, its inverse evaluated per 64-column block as OpenCV does, each source position
    rounded to 1/32 pixel (the maps' fixed-point form: whole pixels, then that fraction)."""
    long_side = float(max(width, height))
    centre = (float(np.float32(0.5) * np.float32(width)), float(np.float32(0.5) * np.float32(height)))
    roi = cv2.boxPoints((centre, (long_side, long_side), 0.0)).astype(np.float32)
    square = np.array([[0, side], [0, 0], [side, 0], [side, side]], np.float32)
    _, inverse = cv2.invert(cv2.getPerspectiveTransform(roi, square), flags=cv2.DECOMP_LU)
    m = inverse.ravel()
    column = np.arange(side)
    block = (column - column % WARP_BLOCK).astype(np.float64)[None, :]
    within = (column % WARP_BLOCK).astype(np.float64)[None, :]
    row = np.arange(side, dtype=np.float64)[:, None]
    x0 = m[0] * block + m[1] * row + m[2]
    y0 = m[3] * block + m[4] * row + m[5]
    per = 32.0 / (m[6] * block + m[7] * row + m[8] + m[6] * within)
    fx = np.rint((x0 + m[0] * within) * per).astype(np.int64)
    fy = np.rint((y0 + m[3] * within) * per).astype(np.int64)
    whole = np.stack([fx >> 5, fy >> 5], axis=-1).astype(np.int16)
    fraction = ((fy & 31) * 32 + (fx & 31)).astype(np.uint16)
    whole.flags.writeable = fraction.flags.writeable = False  # shared by every caller
    return whole, fraction


def decode(raw: np.ndarray, logits: np.ndarray, spec: BlazeFaceSpec,
           threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (n, 4 xyxy), scores (n,) and keypoints (n, 6, 2), in input-normalised [0, 1]
    coordinates, of the anchors scoring at least `threshold`."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
    keep = np.flatnonzero(scores >= threshold)
    anchors = anchor_centres(spec)[keep]
    values = raw.reshape(len(scores), -1)[keep].astype(np.float64) / spec.side
    centre = values[:, 0:2] + anchors
    half = values[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], 1)
    kps = values[:, 4 : 4 + 2 * N_KEYPOINTS].reshape(-1, N_KEYPOINTS, 2) + anchors[:, None, :]
    sized = (values[:, 2] >= 0) & (values[:, 3] >= 0)  # NaN compares False: dropped too
    return boxes[sized], scores[keep][sized], kps[sized]


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray,
                 iou: float = SUPPRESS_IOU) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores, kps = boxes[order], scores[order], kps[order]
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    left = np.arange(len(scores))
    out_boxes, out_scores, out_kps = [], [], []
    while len(left):
        top = left[0]
        lo = np.maximum(boxes[left, :2], boxes[top, :2])
        hi = np.minimum(boxes[left, 2:], boxes[top, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        union = areas[left] + areas[top] - inter
        overlap = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        group = left[overlap > iou]
        group = group if len(group) else np.array([top])  # a box of no area still stands
        weights = scores[group] / scores[group].sum()
        out_boxes.append(weights @ boxes[group])
        out_kps.append(np.tensordot(weights, kps[group], axes=1))
        out_scores.append(scores[top])
        left = left[overlap <= iou]
        left = left[left != top]
    return np.asarray(out_boxes).reshape(-1, 4), np.asarray(out_scores), np.asarray(out_kps).reshape(-1, N_KEYPOINTS, 2)


class BlazeFace:
    """One MediaPipe BlazeFace model: boxes and its 6 keypoints (eyes, nose, mouth, ears).

    `score_threshold` is MediaPipe's min_detection_confidence. One per thread (LiteRT
    interpreters are not shared); one LiteRT thread, like the face mesh.
    """

    def __init__(self, model: str = "mediapipe-full", score_threshold: float = 0.5) -> None:
        if model not in SPECS:
            raise ModelError(f"no BlazeFace model {model!r}; known: {', '.join(SPECS)}")
        self.spec = SPECS[model]
        self.score_threshold = score_threshold
        path = verified_model_path(model)
        self._model = QuietInterpreter(path.read_bytes(), path.name, threads=1)
        # The contract MediaPipe's graph assumes: a square RGB input, then the regressors
        # (1, anchors, 16) and the classificators (1, anchors, 1), in this order.
        n = len(anchor_centres(self.spec))
        self._raw, self._logits = list(self._model.outputs.values())[:2]
        found = (self._model.input_shape, self._model.output_shapes[self._raw], self._model.output_shapes[self._logits])
        expected = ((1, self.spec.side, self.spec.side, 3), (1, n, 4 + 2 * N_KEYPOINTS), (1, n, 1))
        if found != expected:
            raise ModelError(f"{path.name} is not the BlazeFace model {model!r}: tensors {found}, expected {expected}")

    def tensor(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's input for an RGB uint8 image, and the letterbox as a 2x3 map from image
        pixels to input pixels."""
        h, w = rgb.shape[:2]
        whole, fraction = letterbox_maps(w, h, self.spec.side)
        square = cv2.remap(rgb, whole, fraction, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return (square.astype(np.float32) * np.float32(2 / 255) - np.float32(1))[None], letterbox(w, h, self.spec.side)

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces with BlazeFace's 6 keypoints, best first."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
            raise ValueError(f"an RGB image is (h, w, 3), got {rgb.shape}")
        if max(rgb.shape[:2]) > MAX_SIDE:
            raise ValueError(f"an image of {rgb.shape[1]}x{rgb.shape[0]} pixels is too large (at most {MAX_SIDE})")
        x, m = self.tensor(rgb)
        raw, logits = self._model.run(x, (self._raw, self._logits))
        boxes, scores, kps = weighted_nms(*decode(raw, logits, self.spec, self.score_threshold))
        if not len(scores):
            return Detections.empty(k=N_KEYPOINTS)
        # Input-normalised -> input pixels -> image pixels (the letterbox is a scale and a shift).
        scale, shift = m[0, 0], m[:, 2]
        px_boxes = (boxes * self.spec.side - np.tile(shift, 2)) / scale
        px_kps = (kps * self.spec.side - shift) / scale
        return Detections(tasks_boxes(px_boxes), scores.astype(np.float32), px_kps.astype(np.float32))


def tasks_boxes(xyxy: np.ndarray) -> np.ndarray:
    """Boxes in the form MediaPipe's Tasks API hands them over: origin and size truncated to
    whole pixels, then the origin clamped to the image with the size kept (a face cut by the
    left or top edge comes out shifted inwards). The fusion with YuNet, the mesh's first crop
    and every threshold after them were tuned on these boxes; the keypoints stay in float."""
    origin = np.maximum(np.trunc(xyxy[:, :2]), 0)
    size = np.trunc(xyxy[:, 2:] - xyxy[:, :2])
    return np.hstack([origin, origin + size]).astype(np.float32)
