"""Vendored models: every file present and matching its sha256; altered or missing files fail clearly."""

from __future__ import annotations

import shutil

import pytest

from kiosk import models
from kiosk.errors import ModelError
from kiosk.resources import resource_path


def test_every_model_file_matches_its_sha256():
    for key in models.MODELS:
        assert models.verified_model_path(key).is_file()


def test_models_readme_lists_every_file():
    readme = resource_path("models", "README.md").read_text()
    for spec in models.MODELS.values():
        assert spec.filename in readme, f"{spec.filename} missing from resources/models/README.md"


def test_non_commercial_model_is_flagged():
    assert models.MODELS["mbf"].commercial_use is False
    assert "non-commercial" in models.MODELS["mbf"].licence


@pytest.fixture
def model_copy(tmp_path, monkeypatch):
    """A private copy of resources/ so files can be altered without touching the real ones."""
    root = tmp_path / "resources"
    shutil.copytree(resource_path("models"), root / "models")
    monkeypatch.setattr(models, "resource_path", lambda *parts: root.joinpath(*parts))
    return root / "models"


def test_altered_model_is_refused(model_copy):
    target = model_copy / models.MODELS["yunet"].filename
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="altered"):
        models.verified_model_path("yunet")
    from kiosk.vision.detectors import YuNetDetector

    with pytest.raises(ModelError, match="altered"):
        YuNetDetector()


def test_missing_model_is_refused(model_copy):
    (model_copy / models.MODELS["sface"].filename).unlink()
    with pytest.raises(ModelError, match="missing"):
        models.verified_model_path("sface")


def test_unknown_model_key():
    with pytest.raises(ModelError, match="unknown model"):
        models.verified_model_path("nope")
