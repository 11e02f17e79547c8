"""What the speed work must not change: every ONNX model of the app runs in OpenCV's DNN engine and gives
onnxruntime's outputs (SFace, the opt-in mbf, both MiniFASNets), and the bench's three-people entry really
names all three (what it times, not how fast). onnxruntime is a test-only dependency: these tests are why."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from conftest import shared

from kiosk.models import MODELS, verified_model_path
from kiosk.vision.embedders import EMBEDDERS, OnnxEmbedder


def _onnxruntime_session(key: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(verified_model_path(key)), options, providers=["CPUExecutionProvider"])


def _onnxruntime_vectors(key: str, aligned: np.ndarray) -> np.ndarray:
    """The embedder `key` in onnxruntime, one face per run, with its ModelSpec's input contract."""
    spec = MODELS[key]
    session = _onnxruntime_session(key)
    name = session.get_inputs()[0].name
    x = aligned.astype(np.float32)
    if spec.colour == "BGR":
        x = x[..., ::-1]
    x = np.ascontiguousarray(((x - spec.mean) / spec.std).transpose(0, 3, 1, 2))
    out = np.concatenate([session.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_the_app_has_no_embedder_outside_opencv():
    # Each embedder below is compared with onnxruntime; a new one needs its own comparison.
    assert EMBEDDERS == ("sface", "mbf")


def test_sface_in_opencv_gives_onnxruntimes_vectors_for_each_face_of_a_batch(pipeline, astronaut_rgb):
    face = pipeline.analyze(astronaut_rgb)[0].aligned
    batch = np.stack([face, face[:, ::-1], np.roll(face, 9, axis=0)])  # three different crops
    got = OnnxEmbedder("sface").embed(batch)
    want = _onnxruntime_vectors("sface", batch)
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

    mesh = pipeline.analyze(astronaut_rgb)[0].mesh
    face = PassiveInput.cut(astronaut_rgb, passive_box(mesh))
    logits = []
    for (key, _), crop in zip(PASSIVE_MODELS, face.crops):
        session = _onnxruntime_session(key)
        x = np.ascontiguousarray(crop.astype(np.float32).transpose(2, 0, 1)[None])
        logits.append(np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0], np.float64).reshape(-1))
    probs = [np.exp(v - v.max()) / np.exp(v - v.max()).sum() for v in logits]
    want = float(np.mean(probs, axis=0)[REAL_CLASS])
    got = PassiveScorer().score_input(face)
    assert abs(got - want) < 1e-5
    assert 0.0 < got < 1.0


@pytest.mark.data
def test_mbf_in_opencv_gives_onnxruntimes_vectors_on_real_photos():
    """The opt-in mbf (512-d) moved from onnxruntime to OpenCV: one face per run in onnxruntime
    against the whole batch at once in OpenCV, 40 people of lfw-dev (measured: at most 2.6e-7)."""
    from kiosk.capture.images import load_rgb
    from kiosk.vision.pipeline import FacePipeline

    people = sorted(p for p in shared("lfw-dev", "images").iterdir() if p.is_dir())[::50][:40]
    still = FacePipeline(still=True)
    faces = [found[0].aligned for person in people
             if (found := still.analyze(load_rgb(sorted(person.glob("*.jpg"))[0])))]
    assert len(faces) >= 35
    batch = np.stack(faces)
    got = OnnxEmbedder("mbf").embed(batch)
    want = _onnxruntime_vectors("mbf", batch)
    assert got.shape == (len(faces), 512)
    per_face = np.abs(got - want).max(axis=1)
    assert float(per_face.max()) < 1e-5, per_face
    cosines = got @ got.T
    assert float(cosines[~np.eye(len(faces), dtype=bool)].max()) < 0.9  # 40 different people
