"""A build without the opt-in (non-commercial) mbf weights, as the packaged app is by default
(issue 23, packaging/bundle.py OPT_IN_MODELS): it self-tests clean and says in one line that
mbf is not in this build wherever someone picks it."""

from __future__ import annotations

import json

import pytest

from kiosk import resources
from kiosk.cli import main
from kiosk.config import Config, VisionConfig
from kiosk.diagnostics.selftest import FAIL, OK, SKIP
from kiosk.errors import ModelError
from kiosk.models import MODELS, verified_model_path

NOT_IN_BUILD = "the mbf model is not in this build"


@pytest.fixture
def without_mbf(tmp_path, monkeypatch):
    """resources/ as symlinks in a temp folder, without the mbf weights."""
    real = resources.resources_dir()
    root = tmp_path / "resources"
    for src in real.rglob("*"):
        if src.is_file() and src.name != MODELS["mbf"].filename:
            dst = root / src.relative_to(real)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src)
    monkeypatch.setattr(resources, "resources_dir", lambda: root)
    return tmp_path


def test_the_model_says_it_is_not_in_this_build(without_mbf):
    assert not MODELS["mbf"].in_this_build and MODELS["sface"].in_this_build
    with pytest.raises(ModelError) as error:
        verified_model_path("mbf")
    message = str(error.value)
    assert message.startswith(NOT_IN_BUILD) and "non-commercial" in message and "sface" in message
    assert "\n" not in message


def test_self_test_passes_without_it_and_fails_clearly_when_it_is_chosen(without_mbf, capsys):
    args = ["self-test", "--db", str(without_mbf / "gallery.db")]
    assert main([*args, "--config", str(without_mbf / "none.json")]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[2]: line.split()[0] for line in out.splitlines() if line.startswith((OK, FAIL, SKIP))
            and line.split()[1] == "model"}
    assert rows.pop("mbf") == SKIP and set(rows.values()) == {OK}, out
    assert "w600k_mbf.onnx: not in this build" in out and "self-test passed" in out

    config = without_mbf / "mbf.json"
    config.write_text(json.dumps({"vision": {"embedder": "sface+mbf"}}), encoding="utf-8")
    assert main([*args, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "self-test FAILED at 'pipeline'" in err and NOT_IN_BUILD in err


def test_settings_refuse_it_with_the_reason(without_mbf, qtbot):
    from ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Config(vision=VisionConfig()))
    qtbot.addWidget(dialog)
    dialog.embedder.setCurrentText("sface+mbf")
    dialog.accept()
    assert dialog.result_config() is None
    assert dialog.error.text().startswith(f"vision.embedder: {NOT_IN_BUILD}")
    dialog.embedder.setCurrentText("sface")
    dialog.accept()
    assert dialog.result_config() is not None and dialog.result_config().vision.embedder == "sface"
