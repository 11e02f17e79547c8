"""ONNX face embedders: aligned 112x112 RGB crops in, L2-normalised vectors out.

Both run in OpenCV's DNN engine (kiosk.vision.opencv_dnn), which gives onnxruntime's vectors
(within 1e-6, tests/test_speed_paths.py) for less CPU: SFace 17.5 ms against 22, mbf 16.5 against
21 (1 face, 1 thread; docs/matching.md "Speed"). OpenCV's engine has no per-model thread count:
it uses OpenCV's own threads, as YuNet and every other OpenCV call do. It also runs SFace's
batch-1 graph on a whole batch, with each face's vector as if alone.
"""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.errors import ModelError
from kiosk.models import MODELS, ModelSpec
from kiosk.vision.geometry import l2_normalise
from kiosk.vision.opencv_dnn import open_opencv_net

EMBEDDERS = ("sface", "mbf")


class OnnxEmbedder:
    """One embedding model; its input contract comes from its ModelSpec, not from guessing."""

    def __init__(self, key: str) -> None:
        if key not in EMBEDDERS:
            raise ModelError(f"unknown embedder {key!r}; choose one of {', '.join(EMBEDDERS)}")
        self.spec: ModelSpec = MODELS[key]
        self._net: cv2.dnn.Net = open_opencv_net(key)
        self.embed(np.zeros((1, 112, 112, 3), np.uint8))  # warm up

    @property
    def key(self) -> str:
        """Short model name, e.g. "sface"."""
        return self.spec.key

    @property
    def version(self) -> str:
        """Model id and weights hash stored with every template."""
        return self.spec.version

    @property
    def dim(self) -> int:
        """Embedding length."""
        return self.spec.dim

    def embed(self, aligned_rgb: np.ndarray) -> np.ndarray:
        """(n, 112, 112, 3) uint8 RGB -> (n, D) float32, L2-normalised."""
        batch = np.asarray(aligned_rgb)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.shape[1:] != (112, 112, 3):
            raise ValueError(f"expected (n, 112, 112, 3) aligned crops, got {batch.shape}")
        x = batch.astype(np.float32)
        if self.spec.colour == "BGR":
            x = x[..., ::-1]
        x = np.ascontiguousarray(((x - self.spec.mean) / self.spec.std).transpose(0, 3, 1, 2))
        self._net.setInput(x)
        out = np.asarray(self._net.forward())
        return l2_normalise(out.reshape(len(x), -1))
