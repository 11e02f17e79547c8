"""The passive check: does one still image of a face look like a live face or like a print or a screen?

MiniFASNet (minivision-ai's Silent-Face-Anti-Spoofing, Apache-2.0): two small networks, V2 on the
face box scaled 2.7x about its centre and V1SE on it scaled 4.0x, each an 80x80 BGR crop with
raw 0..255 pixels; 3-class softmax, class 1 = real. The original averages the two softmaxes, so
does this. The crop follows the original (`AffineCrop`): the scale is lowered until the crop
fits in the image, and a crop that would leave the image is shifted back inside, not clipped.

The box: the original ran a WIDER FACE-trained detector (boxes from the hairline to the chin).
YuNet's boxes are of that kind; BlazeFace's are squarer and start at the brows, and with them
the model refused 22% of bare lfw-dev photos instead of 9%. So the box is made from the face
mesh (`passive_box`), where YuNet's box sits relative to the mesh's points (medians over 525
lfw-dev and deepface faces), the same box whichever detector found the face.

Its scores are one cue among several (`kiosk.liveness.fusion`): it refuses about 1 in 10 bare
press photos, and its training data is not disclosed. About 5 ms a face on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.errors import ModelError
from kiosk.models import MODELS
from kiosk.vision.opencv_dnn import open_opencv_net

INPUT_SIDE = 80
REAL_CLASS = 1
#: (model key, crop scale about the face box's centre), as the original's file names say.
PASSIVE_MODELS: tuple[tuple[str, float], ...] = (("minifasnet-v2", 2.7), ("minifasnet-v1se", 4.0))

# YuNet's box relative to the extent of the face mesh's points (shares of the extent's width or
# height; medians over lfw-dev + deepface, interquartile ranges 0.03-0.04): the same left edge,
# 12.6% higher at the top (the mesh stops below the hairline), 1.9% in at the right, 0.7% up
# at the chin.
_BOX_FROM_MESH = np.array([0.004, -0.126, -0.019, -0.007])


def passive_box(mesh: np.ndarray) -> np.ndarray:
    """The WIDER-style face box (x1, y1, x2, y2) the passive model expects, from the face mesh's
    points (n, 2+) in image pixels."""
    pts = np.asarray(mesh, np.float64)[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    size = np.maximum(hi - lo, 1.0)
    extent = np.array([lo[0], lo[1], hi[0], hi[1]])
    box: np.ndarray = extent + _BOX_FROM_MESH * np.array([size[0], size[1], size[0], size[1]])
    return box.astype(np.float32)


def crop_patch(image: np.ndarray, box: np.ndarray, scale: float, side: int = INPUT_SIDE) -> np.ndarray:
    """The original's crop: `box` scaled by `scale` about its centre (less if the image is too
    small), moved inside the image, resized to side x side. Channel order is kept."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    scale = min((h - 1) / bh, (w - 1) / bw, scale)
    cw, ch = bw * scale, bh * scale
    cx, cy = x1 + bw / 2, y1 + bh / 2
    left, top = cx - cw / 2, cy - ch / 2
    left -= min(0.0, left) + max(0.0, left + cw - w)
    top -= min(0.0, top) + max(0.0, top + ch - h)
    left, top = max(0.0, left), max(0.0, top)
    patch = image[int(top):int(top + ch), int(left):int(left + cw)]
    if patch.size == 0:
        raise ValueError(f"empty crop for box {box} in a {w}x{h} image")
    resized: np.ndarray = cv2.resize(patch, (side, side), interpolation=cv2.INTER_LINEAR)
    return resized


@dataclass(frozen=True)
class PassiveInput:
    """The two model inputs for one face on one frame (80x80 BGR uint8 each), cut at once so a
    frame need not be kept until the model runs."""

    crops: tuple[np.ndarray, ...]

    @classmethod
    def cut(cls, rgb: np.ndarray, box: np.ndarray) -> PassiveInput:
        """Cut the crops from an RGB frame around a `passive_box` (the colour order is turned on
        the small crops, not on the whole frame)."""
        return cls(tuple(np.ascontiguousarray(crop_patch(rgb, box, scale)[..., ::-1]) for _, scale in PASSIVE_MODELS))


class PassiveScorer:
    """Both MiniFASNet models (sha256-checked at load), in OpenCV's DNN engine: the same scores
    as onnxruntime's (within 1e-6) for 4 ms a pass instead of 10. One per thread."""

    def __init__(self, threads: int = 1) -> None:
        """`threads` is kept for the callers: OpenCV runs every model on its own threads."""
        self._nets: list[cv2.dnn.Net] = []
        for key, _ in PASSIVE_MODELS:
            if MODELS[key].colour != "BGR":  # the contract is written down, not guessed
                raise ModelError(f"model {key}: expected a BGR model")
            self._nets.append(open_opencv_net(key))
        self.score_input(PassiveInput(tuple(np.zeros((INPUT_SIDE, INPUT_SIDE, 3), np.uint8)
                                            for _ in PASSIVE_MODELS)))  # warm up

    def score_input(self, face: PassiveInput) -> float:
        """p(real) of one face: the two models' softmaxes averaged, class 1."""
        probs = []
        for net, crop in zip(self._nets, face.crops):
            net.setInput(np.ascontiguousarray(crop.astype(np.float32).transpose(2, 0, 1)[None]))
            logits = np.asarray(net.forward(), np.float64).reshape(-1)
            e = np.exp(logits - logits.max())
            probs.append(e / e.sum())
        return float(np.mean(probs, axis=0)[REAL_CLASS])

    def score(self, rgb: np.ndarray, mesh: np.ndarray) -> float:
        """p(real) of the face whose mesh points are given, in an RGB frame."""
        return self.score_input(PassiveInput.cut(rgb, passive_box(mesh)))
