"""What the speed work must not change: SFace in OpenCV's DNN engine gives onnxruntime's vectors,
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
