"""Start-up (issue 23): what a `face-kiosk` process imports before it works, and the models that
load on threads from its first moments (kiosk.recognition.preload). Fresh interpreters where
imports are what is checked; how fast any of it is, is measured in packaging/README.md, not here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.config import Config
from kiosk.gallery import Gallery
from kiosk.recognition.preload import ModelPreload

ASTRONAUT = Path(__file__).resolve().parent.parent / "resources" / "images" / "astronaut.png"

# Neither the GUI nor an integration nobody configured, in a `watch` run.
NEVER_IN_WATCH = ("PySide6", "psycopg", "apprise", "paho", "PIL", "onnxruntime")
# No command, the window included, loads onnxruntime (nor its telemetry): every ONNX model runs in
# OpenCV's DNN engine (kiosk.vision.opencv_dnn), the opt-in mbf embedder too. It is installed here
# (a test dependency), so an import of it anywhere on these paths would show.
NEVER = ("onnxruntime",)
# Parsing the command line loads no models, no gallery and no image code: every command
# (`--help` too) builds the whole parser, and `watch` starts loading its models right after it.
NOT_TO_PARSE = ("numpy", "cv2", "onnxruntime", "ai_edge_litert", "PySide6", "psycopg", "kiosk.gallery",
                "kiosk.vision", "kiosk.liveness")

LOADED = """
import sys
names = {names!r}
loaded = sorted(n for n in names if n in sys.modules)
print("LOADED", ",".join(loaded))
"""


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "GLOG_minloglevel": "2"})


def loaded(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("LOADED"))
    return [n for n in line.removeprefix("LOADED").strip().split(",") if n]


def test_parsing_the_command_line_imports_no_models_gallery_or_gui():
    code = ("from kiosk.cli import build_parser\n"
            "build_parser().parse_args(['watch', '--source', '0'])\n" + LOADED.format(names=NOT_TO_PARSE))
    assert loaded(run_python(code)) == []


@pytest.fixture()
def short_clip(tmp_path) -> Path:
    """Ten frames of an empty room: each goes through detection (no face), enough to start."""
    path = tmp_path / "room.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    assert writer.isOpened()
    for i in range(10):
        writer.write(np.full((240, 320, 3), 40 + i, np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize(("liveness", "embedder"), [("off", "sface"), ("passive", "sface"), ("passive", "sface+mbf")])
def test_watch_imports_neither_the_gui_nor_unconfigured_integrations(tmp_path, short_clip, liveness, embedder):
    db = tmp_path / "gallery.db"
    Gallery(db).close()
    code = ("import sys\nfrom ui.launcher import main\n"
            f"rc = main(['watch', '-v', '--db', {str(db)!r}, '--source', {str(short_clip)!r}, "
            f"'--liveness', {liveness!r}, '--embedder', {embedder!r}])\n"
            "assert rc == 0, rc\n" + LOADED.format(names=NEVER_IN_WATCH))
    proc = run_python(code)
    assert loaded(proc) == []
    assert "face-kiosk watch: first frame analysed" in proc.stderr
    assert "10 frames analysed" in proc.stderr


def test_onnxruntime_is_installed_here_so_the_checks_below_can_see_it():
    assert loaded(run_python("import onnxruntime\n" + LOADED.format(names=NEVER))) == ["onnxruntime"]


@pytest.mark.parametrize("commands", [
    [["self-test"]],
    [["enroll", "--embedder", "sface+mbf", "--name", "Eileen Collins", "--consent", "test", str(ASTRONAUT)],
     ["identify", "--embedder", "sface+mbf", str(ASTRONAUT)]],
    [["bench", "--embedder", "sface+mbf", "--repeat", "1", "--sizes", "100"]],
], ids=["self-test", "enroll-identify-mbf", "bench-mbf"])
def test_no_command_loads_onnxruntime(tmp_path, commands):
    db = tmp_path / "gallery.db"
    config = tmp_path / "config.json"
    code = "from ui.launcher import main\n"
    for args in commands:  # in one process, one after the other
        code += f"assert main({[args[0], '--db', str(db), '--config', str(config), *args[1:]]!r}) == 0\n"
    assert loaded(run_python(code + LOADED.format(names=NEVER))) == []


@pytest.mark.data
def test_eval_loads_no_onnxruntime(tmp_path):
    from conftest import shared

    code = ("from ui.launcher import main\n"
            f"rc = main(['eval', '--profile', 'quick', '--embedder', 'sface+mbf', '--data', {str(shared())!r}])\n"
            "assert rc == 0, rc\n" + LOADED.format(names=NEVER))
    assert loaded(run_python(code)) == []


GUI = """
from PySide6.QtWidgets import QApplication
import ui.main_window as main_window
shown = main_window.MainWindow._on_models_ready
def ready(self, version):  # the window is up and its models (liveness too) are loaded: close it
    shown(self, version)
    QApplication.instance().quit()
main_window.MainWindow._on_models_ready = ready
from ui.launcher import main
rc = main(['gui', '--db', {db!r}, '--config', {config!r}, '--source', {clip!r}, '--liveness', 'passive',
           '--embedder', 'sface+mbf'])
assert rc == 0, rc
"""


@pytest.mark.gui
def test_the_window_loads_no_onnxruntime(tmp_path, short_clip):
    code = GUI.format(db=str(tmp_path / "gallery.db"), config=str(tmp_path / "config.json"), clip=str(short_clip))
    proc = subprocess.run([sys.executable, "-c", code + LOADED.format(names=(*NEVER, "kiosk.liveness.passive"))],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "GLOG_minloglevel": "2", "QT_QPA_PLATFORM": "offscreen"})
    assert loaded(proc) == ["kiosk.liveness.passive"]  # it got as far as the liveness model


def _loading_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("face-kiosk-models") and t.is_alive()]


def test_preloaded_models_are_handed_out_once_then_loaded_anew():
    config = Config()
    models = ModelPreload(config)
    pipeline = models.pipeline(config)
    scorer = models.passive(config)
    assert pipeline.config == config.vision and scorer is not None
    # Taken: a second live loop (the GUI's models reloaded) gets models of its own.
    assert models.pipeline(config) is not pipeline
    assert models.passive(config) is None  # its liveness check loads one on first use
    models.close()
    assert _loading_threads() == []


def test_a_config_changed_before_the_models_are_taken_gets_its_own():
    config = Config()
    models = ModelPreload(config)
    changed = config.model_copy(update={"vision": config.vision.model_copy(update={"min_face_px": 60}),
                                        "liveness": config.liveness.model_copy(update={"mode": "off"})})
    pipeline = models.pipeline(changed)
    assert pipeline.config == changed.vision
    assert models.passive(changed) is None  # liveness off: no passive model handed out
    models.close()
    assert _loading_threads() == []


def test_liveness_off_loads_no_passive_model():
    config = Config()
    config = config.model_copy(update={"liveness": config.liveness.model_copy(update={"mode": "off"})})
    models = ModelPreload(config)
    assert models.passive(config) is None
    models.close()
    assert _loading_threads() == []


def test_every_name_of_the_events_package_is_there_when_asked_for():
    # kiosk.events imports its modules on first use (reading the config must not start the bus,
    # the metrics and the status server): each exported name still resolves, nothing else does.
    import kiosk.events as events

    assert all(getattr(events, name) is not None for name in events.__all__)
    assert not hasattr(events, "NoSuchThing")
    code = "import kiosk.config\n" + LOADED.format(names=("prometheus_client", "kiosk.events.bus", "http.server"))
    assert loaded(run_python(code)) == []
