"""One object that the CLI, the live worker and kiosk mode use to recognise faces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.config import Config
from kiosk.gallery.api import GalleryStore
from kiosk.recognition.matching import Matcher
from kiosk.recognition.verdict import Verdict
from kiosk.vision.pipeline import FacePipeline
from kiosk.vision.types import FaceAnalysis, RejectedFace


@dataclass
class RecognizedFace:
    """A face in a frame and the verdict on it."""

    face: FaceAnalysis
    match: Verdict

    @property
    def box(self) -> np.ndarray:
        """x1, y1, x2, y2 in frame pixels."""
        return self.face.box

    @property
    def name(self) -> str | None:
        """The person's name, or None for an unknown face."""
        return self.match.name

    @property
    def person_id(self) -> int | None:
        """The person's gallery id, or None."""
        return self.match.person_id


class Recognizer:
    """Pipeline + gallery + matcher. Not thread-safe: one per worker thread."""

    def __init__(self, config: Config, gallery: GalleryStore, pipeline: FacePipeline | None = None) -> None:
        self.config = config
        self.gallery = gallery
        self.pipeline = pipeline or FacePipeline(config.vision)
        self._matcher: Matcher | None = None

    @property
    def matcher(self) -> Matcher:
        """A matcher over the gallery's current templates (rebuilt after gallery writes)."""
        templates = self.gallery.templates(self.pipeline.model_version)
        if self._matcher is None or self._matcher.templates is not templates:
            self._matcher = Matcher(templates, self.config.match)
        return self._matcher

    def match_faces(self, faces: list[FaceAnalysis]) -> list[RecognizedFace]:
        """Identify already analysed faces."""
        if not faces:
            return []
        probes = np.stack([f.embedding for f in faces])
        masked = np.array([f.masked for f in faces])
        return [RecognizedFace(f, m) for f, m in zip(faces, self.matcher.identify(probes, masked))]

    def recognize(self, rgb: np.ndarray, max_faces: int | None = None) -> list[RecognizedFace]:
        """Detect, analyse and identify every face in an RGB frame, largest first."""
        return self.recognize_frame(rgb, max_faces)[0]

    def recognize_frame(self, rgb: np.ndarray, max_faces: int | None = None
                        ) -> tuple[list[RecognizedFace], list[RejectedFace]]:
        """Like `recognize`, and the faces that were found but could not be aligned."""
        frame = self.pipeline.analyze_frame(rgb, max_faces=max_faces)
        return self.match_faces(frame.faces), frame.rejected
