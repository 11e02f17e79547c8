"""The recognition pipeline: detect -> face mesh -> align -> mask flag -> embed."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kiosk.config import VisionConfig
from kiosk.models import MODELS
from kiosk.process_memory import release_freed_memory
from kiosk.vision.align import align_mesh
from kiosk.vision.detectors import FaceDetector, create_detector
from kiosk.vision.embedders import OnnxEmbedder
from kiosk.vision.geometry import l2_normalise
from kiosk.vision.landmarks import ROI_SCALE, FaceMesh, MeshLandmarks
from kiosk.vision.masks import MaskClassifier
from kiosk.vision.quality import measure_quality
from kiosk.vision.types import Detections, FaceAnalysis, FrameFaces, RejectedFace

log = logging.getLogger(__name__)

# Photos are judged at any size (masked-real's 256 px photos: median face 43 px, 5% under
# 12 px; a 40 px floor dropped half of them, 16 px still 14%). A tiny face gets a mask flag
# and, usually, "unknown": its embedding rarely clears the calibrated threshold.
STILL_MIN_FACE_PX = 8
# The face mesh's face score below which a face's landmarks count as failed. Measured on lfw-dev
# with painted masks: under 1e-3 the eyes are off by a median 0.24 of the eye distance (0.03
# above it) and only 66% of those probes are matched right even with no threshold.
MIN_FACE_PROB = 1e-3
LANDMARKS_FAILED = "face not clear enough to align (turn to the camera, hold still)"
# The alignment: face-mesh points onto the learned template (kiosk.vision.align).
ALIGNMENT_VERSION = f"mesh@{MODELS['mesh-template'].sha256[:12]}"


class Embedding:
    """One or two embedders behind one `embed`; two are fused into one vector.

    Fusion concatenates the two unit vectors scaled by 1/sqrt(2), so the cosine of two
    fused vectors is the mean of the two models' cosines (one matrix product still).
    """

    def __init__(self, name: str) -> None:
        keys = name.split("+")
        self.models = [OnnxEmbedder(key) for key in keys]
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
    """Owns its models; use one per thread (the LiteRT interpreters and OpenCV nets are not shared)."""

    def __init__(self, config: VisionConfig | None = None, still: bool = False) -> None:
        """`still=True` for single photos (CLI, enrollment, import, eval): both BlazeFace ranges
        and a lower size limit, since small photos are upscaled for detection anyway. Live
        video keeps `min_face_px` so distant passers-by are not embedded on every frame."""
        self.config = config or VisionConfig()
        self.still = still
        self.min_face_px = STILL_MIN_FACE_PX if still else self.config.min_face_px
        # The embedder is the slowest model to build (~0.2 s of CPU, most of the load) and
        # OpenCV's DNN engine builds it without holding the GIL: it loads on a thread while
        # the detector and the mesh load here. A model that fails still fails this constructor.
        with ThreadPoolExecutor(1, thread_name_prefix="face-kiosk-models") as loader:
            embedding = loader.submit(Embedding, self.config.embedder)
            self.detector: FaceDetector = create_detector(
                self.config.detector, self.config.mediapipe_model, still=still
            )
            self.mesh = FaceMesh(threads=1)
            self.mask_classifier = MaskClassifier.load()
            self.embedding = embedding.result()
        release_freed_memory()  # the models' file bytes and parse buffers
        self.mask_threshold = self.config.mask_threshold or self.mask_classifier.threshold

    @property
    def model_version(self) -> str:
        """What made the templates: the embedder's weights and the alignment. Templates (and the
        calibration) are only comparable within one version."""
        return template_version(self.embedding.version)

    def detect(self, rgb: np.ndarray, tracked: np.ndarray | None = None) -> Detections:
        """Faces (boxes and rough points) at least `min_face_px` wide, best first. `tracked`: the
        boxes tracked in a live video whose next frame this is (possibly none); with them the
        detector may skip work where it is sure. Without them the image is judged on its own."""
        found = self.detector.detect(rgb, tracked)
        if not len(found):
            return found
        widths = found.xyxy[:, 2] - found.xyxy[:, 0]
        keep = widths >= self.min_face_px
        if self.still:
            # A small face counts only when it is among the largest in the photo: a 10 px face
            # matters in a 256 px photo of one person, not behind someone 100 px wide.
            keep &= (widths >= self.config.min_face_px) | (widths >= 0.5 * widths.max())
        return found.take(np.flatnonzero(keep))

    def analyze_detections(self, rgb: np.ndarray, found: Detections, embed: bool = True,
                           previous: list[np.ndarray | None] | None = None) -> FrameFaces:
        """Landmarks, alignment, mask flag and (optionally) embeddings for the given faces.

        `previous[i]`: the mesh points of the same face on the frame before (video), where the
        landmarks start from. A face whose landmarks fail (the mesh does not see a face in its
        crop: a profile, heavy blur, a false box) is returned as rejected with a reason, never
        aligned from garbage.
        """
        previous = previous or [None] * len(found)
        meshes = []
        for i in range(len(found)):
            before = previous[i]
            meshes.append(self.mesh.landmarks(rgb, found.xyxy[i], found.keypoints[i][:2]) if before is None
                          else self.mesh.follow(rgb, before, found.xyxy[i], found.keypoints[i][:2]))
        ok = [i for i, m in enumerate(meshes) if m.face_prob >= MIN_FACE_PROB]
        rejected = [RejectedFace(found.xyxy[i], float(found.score[i]), meshes[i].face_prob, LANDMARKS_FAILED)
                    for i in range(len(found)) if meshes[i].face_prob < MIN_FACE_PROB]
        faces = self._faces(rgb, [found.xyxy[i] for i in ok], [float(found.score[i]) for i in ok],
                            [meshes[i] for i in ok], embed)
        return FrameFaces(faces, rejected)

    def _faces(self, rgb: np.ndarray, boxes: list[np.ndarray], scores: list[float],
               meshes: list[MeshLandmarks], embed: bool) -> list[FaceAnalysis]:
        if not meshes:
            return []
        aligned = np.stack([align_mesh(rgb, m.points) for m in meshes])
        mask_scores = self.mask_classifier.predict(aligned)
        embeddings = self.embedding.embed(aligned) if embed else np.zeros((len(meshes), 0), np.float32)
        faces = []
        for i, m in enumerate(meshes):
            five = m.five()
            faces.append(FaceAnalysis(
                box=np.asarray(boxes[i], np.float32), det_score=scores[i], landmarks=five, aligned=aligned[i],
                masked=bool(mask_scores[i] >= self.mask_threshold),
                mask_score=float(mask_scores[i]), embedding=embeddings[i],
                quality=measure_quality(boxes[i], five, aligned[i]),
                mesh=m.points, face_prob=m.face_prob, face_crop=m.crop,
            ))
        return faces

    def analyze_frame(self, rgb: np.ndarray, max_faces: int | None = None) -> FrameFaces:
        """Every face in the image, largest first (at most `max_faces`), and the skipped ones."""
        found = self.detect(rgb)
        if len(found):
            areas = (found.xyxy[:, 2] - found.xyxy[:, 0]) * (found.xyxy[:, 3] - found.xyxy[:, 1])
            order = np.argsort(-areas)[: max_faces or None]
            found = found.take(order)
        return self.analyze_detections(rgb, found)

    def analyze(self, rgb: np.ndarray, max_faces: int | None = None) -> list[FaceAnalysis]:
        """Every usable face in the image, largest first (at most `max_faces`)."""
        return self.analyze_frame(rgb, max_faces).faces

    def analyze_crop(self, crop: np.ndarray) -> FaceAnalysis | None:
        """The face of a stored loose crop (`FaceAnalysis.face_crop`), aligned and embedded again:
        how `people reembed` re-makes a template after a landmark or embedder change."""
        crop = np.ascontiguousarray(crop)
        side = crop.shape[0] / ROI_SCALE
        c = crop.shape[0] / 2
        box = np.array([c - side / 2, c - side / 2, c + side / 2, c + side / 2], np.float32)
        m = self.mesh.landmarks(crop, box)
        if m.face_prob < MIN_FACE_PROB:
            return None
        return self._faces(crop, [box], [1.0], [m], embed=True)[0]

    def embed_aligned(self, aligned: np.ndarray) -> np.ndarray:
        """Embed already aligned crops."""
        return self.embedding.embed(aligned)


def template_version(embedder_version: str) -> str:
    """The template version for an embedder version under the current alignment."""
    return f"{embedder_version}/{ALIGNMENT_VERSION}"
