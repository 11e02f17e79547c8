"""The recognition pipeline: detect -> 5 landmarks -> align -> mask flag -> embed."""

from __future__ import annotations

import logging
import os

import numpy as np

from kiosk.config import VisionConfig
from kiosk.vision.align import align_face
from kiosk.vision.detectors import FaceDetector, create_detector
from kiosk.vision.embedders import OnnxEmbedder, l2_normalise
from kiosk.vision.masks import MaskClassifier
from kiosk.vision.quality import measure_quality
from kiosk.vision.types import Detections, FaceAnalysis

log = logging.getLogger(__name__)

# Photos are judged at any size (masked-real's 256 px photos: median face 43 px, 5% under
# 12 px; a 40 px floor dropped half of them, 16 px still 14%). A tiny face gets a mask flag
# and, usually, "unknown": its embedding rarely clears the calibrated threshold.
STILL_MIN_FACE_PX = 8


class Embedding:
    """One or two embedders behind one `embed`; two are fused into one vector.

    Fusion concatenates the two unit vectors scaled by 1/sqrt(2), so the cosine of two
    fused vectors is the mean of the two models' cosines (one matrix product still).
    """

    def __init__(self, name: str, threads: int = 2) -> None:
        keys = name.split("+")
        self.models = [OnnxEmbedder(key, threads=threads) for key in keys]
        self.name = name

    @property
    def version(self) -> str:
        """The combined model version stored with each template."""
        return "+".join(m.version for m in self.models)

    @property
    def dim(self) -> int:
        """Length of the (fused) embedding."""
        return sum(m.dim for m in self.models)

    @property
    def licences(self) -> list[str]:
        """Licence line of each model, for the About box and the CLI."""
        return [f"{m.key}: {m.spec.licence}" for m in self.models]

    def embed(self, aligned: np.ndarray) -> np.ndarray:
        """(n, 112, 112, 3) uint8 RGB -> (n, D) float32 unit vectors."""
        parts = [m.embed(aligned) for m in self.models]
        if len(parts) == 1:
            return parts[0]
        return l2_normalise(np.concatenate(parts, axis=1))


class FacePipeline:
    """Owns its models; use one per thread (MediaPipe and the sessions are not shared)."""

    def __init__(self, config: VisionConfig | None = None, still: bool = False) -> None:
        """`still=True` for single photos (CLI, enrollment, import, eval): both BlazeFace ranges
        and a lower size limit, since small photos are upscaled for detection anyway. Live
        video keeps `min_face_px` so distant passers-by are not embedded on every frame."""
        self.config = config or VisionConfig()
        self.still = still
        self.min_face_px = STILL_MIN_FACE_PX if still else self.config.min_face_px
        self.detector: FaceDetector = create_detector(
            self.config.detector, self.config.mediapipe_model, still=still
        )
        # Measured under load (bench --live): 1 thread gave 78 ms face->name vs 115 ms with 2.
        threads = self.config.threads or (min(os.cpu_count() or 1, 4) if still else 1)
        self.embedding = Embedding(self.config.embedder, threads=threads)
        self.mask_classifier = MaskClassifier.load()

    @property
    def model_version(self) -> str:
        """Version string of the embedding in use."""
        return self.embedding.version

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces (5 landmarks each) at least `min_face_px` wide, best first."""
        found = self.detector.detect(rgb)
        if not len(found):
            return found
        widths = found.xyxy[:, 2] - found.xyxy[:, 0]
        keep = widths >= self.min_face_px
        if self.still:
            # A small face counts only when it is among the largest in the photo: a 10 px face
            # matters in a 256 px photo of one person, not behind someone 100 px wide.
            keep &= (widths >= self.config.min_face_px) | (widths >= 0.5 * widths.max())
        return found.take(np.flatnonzero(keep))

    def analyze_detections(self, rgb: np.ndarray, found: Detections, embed: bool = True) -> list[FaceAnalysis]:
        """Align, flag masks and embed the given faces (one batch for each model)."""
        if not len(found):
            return []
        aligned = np.stack([align_face(rgb, kps) for kps in found.keypoints])
        mask_scores = self.mask_classifier.predict(aligned)
        embeddings = self.embedding.embed(aligned) if embed else np.zeros((len(found), 0), np.float32)
        faces = []
        for i in range(len(found)):
            faces.append(
                FaceAnalysis(
                    box=found.xyxy[i],
                    det_score=float(found.score[i]),
                    landmarks=found.keypoints[i],
                    aligned=aligned[i],
                    masked=bool(mask_scores[i] >= self.mask_classifier.threshold),
                    mask_score=float(mask_scores[i]),
                    embedding=embeddings[i],
                    quality=measure_quality(found.xyxy[i], found.keypoints[i], aligned[i]),
                )
            )
        return faces

    def analyze(self, rgb: np.ndarray, max_faces: int | None = None) -> list[FaceAnalysis]:
        """Every face in the image, largest first (at most `max_faces`)."""
        found = self.detect(rgb)
        if len(found):
            areas = (found.xyxy[:, 2] - found.xyxy[:, 0]) * (found.xyxy[:, 3] - found.xyxy[:, 1])
            order = np.argsort(-areas)[: max_faces or None]
            found = found.take(order)
        return self.analyze_detections(rgb, found)

    def embed_aligned(self, aligned: np.ndarray) -> np.ndarray:
        """Embed already aligned crops (used for synthetic-mask templates)."""
        return self.embedding.embed(aligned)
