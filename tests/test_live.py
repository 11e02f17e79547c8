"""LiveRecognizer (Qt-free): detect every frame, recognise only when the tracker asks, hints."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared
from live_helpers import clip_frames, enroll_from_frames

from kiosk.capture.sources import Frame
from kiosk.config import Config
from kiosk.gallery import Gallery
from kiosk.recognition.live import Hint, LiveRecognizer, RateMeter, quality_hints
from kiosk.recognition.recognizer import Recognizer
from kiosk.vision.quality import QualityLimits as HintLimits
from kiosk.vision.types import Quality

GOOD = Quality(face_px=120, sharpness=80, brightness=130, yaw=0.05, pitch=0.0)


def test_no_hints_for_a_good_face():
    assert quality_hints(GOOD) == ()


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        ({"face_px": 30}, Hint.TOO_FAR),
        ({"brightness": 20}, Hint.TOO_DARK),
        ({"sharpness": 3}, Hint.BLURRED),
        ({"yaw": -0.9}, Hint.TURN),
        ({"pitch": 0.5}, Hint.TURN),
    ],
)
def test_each_quality_problem_has_its_hint(change, hint):
    q = Quality(**{**GOOD.__dict__, **change})
    assert quality_hints(q, HintLimits()) == (hint,)


def test_rate_meter_counts_a_sliding_window():
    meter = RateMeter(window_s=2.0)
    for k in range(10):
        meter.tick(now=100.0 + k * 0.1)
    assert meter.rate(now=101.0) == pytest.approx(5.0)
    assert meter.rate(now=104.0) == 0.0
    assert meter.total == 10


@pytest.mark.data
def test_enrolled_person_is_named_and_faces_are_not_embedded_every_frame(pipeline, tmp_path):
    clip = shared("video", "head-pose-face-detection-female.gif")
    frames = clip_frames(clip)
    with Gallery(tmp_path / "g.db") as gallery:
        person = enroll_from_frames(pipeline, gallery, "Demo person", [frames[i] for i in (2, 10, 18)])
        live = LiveRecognizer(Recognizer(Config(), gallery, pipeline))
        results = [live.process(Frame(i + 1, rgb, i / 12.5)) for i, rgb in enumerate(frames)]
    assert all(len(r.faces) == 1 for r in results)
    assert len({r.faces[0].track_id for r in results}) == 1  # one person, one track
    named = [r for r in results if r.faces[0].identity.known]
    assert named and named[0].frame_id <= 3  # named within the first frames
    assert all(r.faces[0].identity.person_id == person for r in results[named[0].frame_id - 1:])
    assert sum(len(r.arrivals) for r in results) == 1
    assert results[0].gallery_people == 1 and results[0].model_version == pipeline.model_version
    # Detection ran on all 23 frames; the embedder only when the tracker needed it.
    assert sum(r.recognitions for r in results) < len(frames) / 2
    recognised = [r for r in results if r.recognitions]
    assert all(np.linalg.norm(r.faces[0].analysis.embedding) == pytest.approx(1, abs=1e-3) for r in recognised)
    assert all(r.timings.total_ms > 0 for r in results)


@pytest.mark.data
def test_a_person_enrolled_while_running_is_named_without_restart(pipeline, tmp_path):
    frames = clip_frames(shared("video", "head-pose-face-detection-female.gif"))
    with Gallery(tmp_path / "g.db") as gallery:
        live = LiveRecognizer(Recognizer(Config(), gallery, pipeline))
        before = [live.process(Frame(i + 1, rgb, i / 12.5)) for i, rgb in enumerate(frames[:8])]
        assert not any(f.identity.known for r in before for f in r.faces)
        enroll_from_frames(pipeline, gallery, "Late enrollee", [frames[2], frames[18]])
        after = [live.process(Frame(i + 9, rgb, (i + 8) / 12.5)) for i, rgb in enumerate(frames[8:])]
    assert any(f.identity.name == "Late enrollee" for r in after[:4] for f in r.faces)


def test_new_settings_reach_the_running_tracks(tmp_path):
    class NoModels:
        model_version = "none"
        mask_threshold = 0.5

        class mask_classifier:  # noqa: N801 - stands in for the pipeline's attribute
            threshold = 0.5

    with Gallery(tmp_path / "g.db") as gallery:
        live = LiveRecognizer(Recognizer(Config(), gallery, NoModels()))
        (tid,) = live.tracker.update(np.array([[0, 0, 50, 50]]), 0.0, np.array([0.6]))
        assert live.tracker.tracks[tid].masked
        stricter = Config()
        stricter.vision.mask_threshold = 0.7
        live.update_config(stricter)
        assert not live.tracker.tracks[tid].masked
        assert live.recognizer.config is stricter
        assert live.gallery_people() == 0


@pytest.mark.data
def test_a_broken_matcher_leaves_detection_and_tracking_running(pipeline, tmp_path):
    from kiosk.errors import ModelMismatchError

    class Mismatched(Recognizer):
        @property
        def matcher(self):
            raise ModelMismatchError("templates were made by another model")

    frames = clip_frames(shared("video", "head-pose-face-detection-female.gif"), [0, 1])
    with Gallery(tmp_path / "g.db") as gallery:
        live = LiveRecognizer(Mismatched(Config(), gallery, pipeline))
        results = [live.process(Frame(i + 1, rgb, i / 12.5)) for i, rgb in enumerate(frames)]
    assert all(len(r.faces) == 1 and r.recognitions == 0 for r in results)
    assert results[0].faces[0].track_id == results[1].faces[0].track_id
    assert "another model" in results[-1].warning
