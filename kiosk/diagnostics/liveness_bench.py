"""`face-kiosk bench`: what the liveness check costs, per face and frame and per track.

Benchmarks print tables; they never assert.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from kiosk.liveness.monitor import LivenessSettings, TrackLiveness, frame_quality, sharpness
from kiosk.liveness.passive import PassiveInput, PassiveScorer, passive_box
from kiosk.vision.types import FaceAnalysis


def _median_ms(fn: Callable[[int], object], repeat: int) -> float:
    fn(0)
    samples = []
    for i in range(1, repeat + 1):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def liveness_table(rgb: np.ndarray, face: FaceAnalysis, repeat: int) -> list[tuple[str, float]]:
    """(stage, median ms) on the benchmark photo's face, moved a little on every frame."""
    assert face.mesh is not None
    mesh = face.mesh
    rng = np.random.default_rng(0)
    meshes = [mesh + np.array([i % 7, i % 5, 0], np.float32) + rng.normal(0, 0.3, mesh.shape).astype(np.float32)
              for i in range(max(repeat, 40) + 2)]
    track = TrackLiveness(0.0, LivenessSettings())
    for i in range(30):  # a second of history, so the 1 s lag has its frame
        track.update_motion(i / 30, meshes[i % len(meshes)])
    cues_ms = _median_ms(lambda i: track.update_motion(1.0 + i / 30, meshes[i % len(meshes)]), repeat)

    def cut(i: int) -> None:
        crops = PassiveInput.cut(rgb, passive_box(meshes[i % len(meshes)]))
        frame_quality(crops, meshes[i % len(meshes)], sharpness(crops))

    crops_ms = _median_ms(cut, repeat)
    scorer = PassiveScorer()
    crops = PassiveInput.cut(rgb, passive_box(mesh))
    pass_ms = _median_ms(lambda i: scorer.score_input(crops), repeat)
    rows = [("liveness: mesh cues (planarity, blinks)", cues_ms),
            ("liveness: passive crops and frame quality", crops_ms),
            ("liveness: passive pass (both models)", pass_ms)]
    for fps in (10, 25):
        rows.append((f"liveness: per track-second at {fps} fps", fps * (cues_ms + crops_ms) + pass_ms))
    return rows
