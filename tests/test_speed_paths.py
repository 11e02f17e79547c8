"""What the speed work must not change: SFace and MiniFASNet in OpenCV's DNN engine give onnxruntime's outputs,
and the bench's three-people entry really names all three (what it times, not how fast)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from kiosk.models import verified_model_path
from kiosk.vision.embedders import OPENCV_DNN, OnnxEmbedder


def _onnxruntime_sface(aligned: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(verified_model_path("sface")), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.ascontiguousarray(aligned.astype(np.float32).transpose(0, 3, 1, 2))
    out = np.concatenate([session.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_sface_in_opencv_gives_onnxruntimes_vectors_for_each_face_of_a_batch(pipeline, astronaut_rgb):
    assert "sface" in OPENCV_DNN
    face = pipeline.analyze(astronaut_rgb)[0].aligned
    batch = np.stack([face, face[:, ::-1], np.roll(face, 9, axis=0)])  # three different crops
    got = OnnxEmbedder("sface", threads=1).embed(batch)
    want = _onnxruntime_sface(batch)
    assert got.shape == (3, 128)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert float(got[0] @ got[1]) < 0.999  # the crops differ: each row is its own face's


def test_three_people_entering_together_are_all_named(pipeline, astronaut_rgb):
    from kiosk.diagnostics.crowd_bench import PEOPLE, crowd_frame, crowd_timing
    from kiosk.vision.pipeline import FacePipeline

    still = FacePipeline(still=True)
    box = still.analyze(astronaut_rgb)[0].box
    assert len(pipeline.analyze(crowd_frame(astronaut_rgb, box))) == PEOPLE
    timing = crowd_timing(pipeline, still, astronaut_rgb, runs=2)
    assert timing.named == timing.runs == 2
    assert 1 <= timing.frames <= 3 and timing.median_ms > 0


def test_minifasnet_in_opencv_gives_onnxruntimes_scores(astronaut_rgb, pipeline):
    from kiosk.liveness.passive import (
        PASSIVE_MODELS,
        REAL_CLASS,
        PassiveInput,
        PassiveScorer,
        passive_box,
    )
    from kiosk.vision.onnx_session import open_session

    mesh = pipeline.analyze(astronaut_rgb)[0].mesh
    face = PassiveInput.cut(astronaut_rgb, passive_box(mesh))
    logits = []
    for (key, _), crop in zip(PASSIVE_MODELS, face.crops):
        session = open_session(key, 1)
        x = np.ascontiguousarray(crop.astype(np.float32).transpose(2, 0, 1)[None])
        logits.append(np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0], np.float64).reshape(-1))
    probs = [np.exp(v - v.max()) / np.exp(v - v.max()).sum() for v in logits]
    want = float(np.mean(probs, axis=0)[REAL_CLASS])
    got = PassiveScorer().score_input(face)
    assert abs(got - want) < 1e-5
    assert 0.0 < got < 1.0
