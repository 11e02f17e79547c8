"""The typed config: one mask rule, and configs of the previous version still load."""

from __future__ import annotations

import json

import pytest

from kiosk.config import CONFIG_VERSION, Config, load_config


def test_a_version_1_mask_threshold_moves_to_the_one_mask_rule(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"version": 1, "match": {"mask_threshold": 0.6, "target_fpir": 0.01}}))
    config = load_config(path)
    assert config.version == CONFIG_VERSION and config.vision.mask_threshold == 0.6
    assert config.match.target_fpir == 0.01
    # The old default (0.5 on the tracker's smoothed score) is not carried over: the classifier's
    # calibrated threshold applies everywhere.
    path.write_text(json.dumps({"version": 1, "match": {"mask_threshold": 0.5}}))
    assert load_config(path).vision.mask_threshold is None


def test_a_version_2_thread_count_is_dropped_and_a_version_3_one_refused(tmp_path):
    """`vision.threads` sized onnxruntime's pools; the app no longer has any, so a saved version 2
    config loses the key (and keeps the rest) while a current one naming it is a typo, refused."""
    from kiosk.config import save_config
    from kiosk.errors import KioskError

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"version": 2, "vision": {"threads": 2, "min_face_px": 60}}))
    config = load_config(path)
    assert config.version == CONFIG_VERSION == 3 and config.vision.min_face_px == 60
    save_config(config, path)
    assert "threads" not in json.loads(path.read_text())["vision"]
    path.write_text(json.dumps({"version": 3, "vision": {"threads": 2}}))
    with pytest.raises(KioskError, match=r"vision\.threads"):
        load_config(path)


def test_the_pipeline_and_the_tracker_use_the_same_mask_threshold(pipeline):
    from kiosk.recognition.live import LiveRecognizer
    from kiosk.recognition.recognizer import Recognizer

    assert pipeline.mask_threshold == pipeline.mask_classifier.threshold

    class NoGallery:
        def templates(self, version):  # noqa: ANN001, ANN201 - not reached
            raise AssertionError

    live = LiveRecognizer(Recognizer(Config(), NoGallery(), pipeline))  # type: ignore[arg-type]
    assert live.tracker.config.mask_threshold == pipeline.mask_threshold
