"""`face-kiosk self-test`: passes on the bundled files, fails with the reason when one is broken."""

from __future__ import annotations

import shutil

import pytest

from kiosk import resources
from kiosk.cli import main
from kiosk.diagnostics.selftest import FAIL, OK, SKIP, _Runner
from kiosk.gallery import Gallery
from kiosk.models import MODELS

CHECKS_AFTER_MODELS = ["pipeline", "photo", "detection", "mask flag", "embedding", "enroll", "match",
                       "reject", "database"]


def _rows(out: str) -> dict[str, tuple[str, str]]:
    """The report table as {check: (status, detail)}."""
    rows = {}
    names = [f"model {key}" for key in MODELS] + CHECKS_AFTER_MODELS
    for line in out.splitlines():
        status, _, rest = line.partition("  ")
        if status.strip() not in (OK, FAIL, SKIP):
            continue
        rest = rest.strip()
        name = next(n for n in sorted(names, key=len, reverse=True) if rest.startswith(n))
        rows[name] = (status.strip(), rest[len(name):].strip())
    return rows


@pytest.fixture
def resource_copy(tmp_path, monkeypatch):
    """resources/ as symlinks in a temp folder, so one file can be altered or removed safely."""
    real = resources.resources_dir()
    root = tmp_path / "resources"
    for src in real.rglob("*"):
        if src.is_file():
            dst = root / src.relative_to(real)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src)
    monkeypatch.setattr(resources, "resources_dir", lambda: root)
    return root


def _args(tmp_path) -> list[str]:
    # A config path that does not exist: defaults, never the user's own config.
    return ["self-test", "--db", str(tmp_path / "gallery.db"), "--config", str(tmp_path / "none.json")]


def test_self_test_passes_and_reports_every_check(tmp_path, capsys):
    Gallery(tmp_path / "gallery.db").close()  # an existing, empty user database
    assert main(_args(tmp_path)) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert list(rows) == [f"model {key}" for key in MODELS] + CHECKS_AFTER_MODELS
    assert all(status == OK for status, _ in rows.values()), out
    for key, spec in MODELS.items():
        assert spec.sha256[:12] in rows[f"model {key}"][1]
    assert "photo: not masked" in rows["mask flag"][1]
    assert "painted mask: masked" in rows["mask flag"][1]
    assert rows["match"][1].count("-> Eileen Collins") == 2
    assert "-> unknown" in rows["reject"][1]
    assert "0 people" in rows["database"][1]
    assert "self-test passed" in out


def test_altered_model_fails_with_the_reason(tmp_path, capsys, resource_copy):
    target = resource_copy / "models" / MODELS["mask"].filename
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.unlink()
    target.write_bytes(bytes(data))

    assert main(_args(tmp_path)) == 1
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    assert rows["model mask"][0] == FAIL
    assert "altered" in rows["model mask"][1] and MODELS["mask"].filename in rows["model mask"][1]
    assert rows["model sface"][0] == OK  # the other models are still checked
    assert rows["detection"][0] == SKIP
    assert rows["database"][0] == OK  # independent of the models
    assert "self-test FAILED at 'model mask'" in captured.err
    assert "altered" in captured.err


def test_missing_model_and_damaged_database_are_both_reported(tmp_path, capsys, resource_copy):
    (resource_copy / "models" / MODELS["yunet"].filename).unlink()
    (tmp_path / "gallery.db").write_bytes(b"this is not a database" * 100)

    assert main(_args(tmp_path)) == 1
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    assert rows["model yunet"][0] == FAIL and "missing" in rows["model yunet"][1]
    assert rows["database"][0] == FAIL
    assert "gallery.db" in rows["database"][1]
    assert "'model yunet'" in captured.err


def test_runner_skips_dependent_checks_after_a_failure():
    runner = _Runner()
    assert runner.run("first", lambda: ("fine", 42)) == 42

    def broken():
        raise RuntimeError("boom")

    assert runner.run("second", broken) is None
    runner.run("third", lambda: ("never", None))
    runner.run("fourth", lambda: ("still runs", None), independent=True)
    statuses = [(c.name, c.status) for c in runner.report.checks]
    assert statuses == [("first", OK), ("second", FAIL), ("third", SKIP), ("fourth", OK)]
    assert runner.report.failure.detail == "RuntimeError: boom"
    assert not runner.report.ok


def test_model_files_without_a_loader_are_parsed_by_their_kind(tmp_path):
    import json

    import numpy as np

    from kiosk.diagnostics.selftest import _load_model
    from kiosk.models import verified_model_path

    (tmp_path / "calibration.json").write_text(json.dumps({"embedders": {}}))
    np.savez(tmp_path / "nap.npz", directions=np.zeros((2, 4), np.float32))
    assert _load_model("calibration", tmp_path / "calibration.json") == "JSON"
    assert _load_model("nap", tmp_path / "nap.npz") == "numpy"
    # A new ONNX model without a loader of its own is built in OpenCV, as every ONNX model is.
    shutil.copy(verified_model_path("minifasnet-v2"), tmp_path / "new.onnx")
    assert _load_model("new", tmp_path / "new.onnx") == "OpenCV"
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError):
        _load_model("calibration", tmp_path / "broken.json")
