"""ONNX face embedders: aligned 112x112 RGB crops in, L2-normalised vectors out."""

from __future__ import annotations

import numpy as np

from kiosk.errors import ModelError
from kiosk.models import MODELS, ModelSpec
from kiosk.vision.geometry import l2_normalise
from kiosk.vision.onnx_session import open_session

EMBEDDERS = ("sface", "mbf")


class OnnxEmbedder:
    """One embedding model; its input contract comes from its ModelSpec, not from guessing."""

    def __init__(self, key: str, threads: int = 2) -> None:
        if key not in EMBEDDERS:
            raise ModelError(f"unknown embedder {key!r}; choose one of {', '.join(EMBEDDERS)}")
        self.spec: ModelSpec = MODELS[key]
        self._session = open_session(key, threads)
        self._input = self._session.get_inputs()[0].name
        dims = self._session.get_inputs()[0].shape
        # SFace is exported with a fixed batch of 1; mbf takes any batch.
        self._fixed_batch = isinstance(dims[0], int)
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
        x = ((x - self.spec.mean) / self.spec.std).transpose(0, 3, 1, 2)
        x = np.ascontiguousarray(x)
        if self._fixed_batch:
            out = np.concatenate([self._session.run(None, {self._input: x[i : i + 1]})[0] for i in range(len(x))])
        else:
            out = self._session.run(None, {self._input: x})[0]
        return l2_normalise(out.reshape(len(x), -1))
