"""The typed config: one mask rule, and configs of the previous version still load."""

from __future__ import annotations

import json

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


def test_the_pipeline_and_the_tracker_use_the_same_mask_threshold(pipeline):
    from kiosk.recognition.live import LiveRecognizer
    from kiosk.recognition.recognizer import Recognizer

    assert pipeline.mask_threshold == pipeline.mask_classifier.threshold

    class NoGallery:
        def templates(self, version):  # noqa: ANN001, ANN201 - not reached
            raise AssertionError

    live = LiveRecognizer(Recognizer(Config(), NoGallery(), pipeline))  # type: ignore[arg-type]
    assert live.tracker.config.mask_threshold == pipeline.mask_threshold
