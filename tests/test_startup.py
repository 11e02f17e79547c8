"""Start-up order: cv2 and the model runtimes imported first, then the QApplication (fresh
interpreters).

A non-headless OpenCV wheel points QT_QPA_PLATFORM_PLUGIN_PATH at its own Qt 5 plugins on
import, which can take over PySide6's platform plugin. face-kiosk depends on the headless
build (no Qt of its own); these runs show it starts PySide6 with its own plugin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

SCRIPT = r"""
import os
import cv2, onnxruntime
from ai_edge_litert.interpreter import Interpreter
cv2_set = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "")
from ui.app import make_application
app = make_application()
from ui.main_window import MainWindow
print("platform", app.platformName())
left = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "")
print(f"cv2 set a plugin path: {bool(cv2_set)}; left: [{left if 'cv2' in left else ''}]")
print("cv2 has Qt:", os.path.isdir(os.path.join(os.path.dirname(cv2.__file__), "qt")))
"""


def run(env_extra: dict, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra, "GLOG_minloglevel": "2"}
    return subprocess.run([*(prefix or []), sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=300)


def check(proc: subprocess.CompletedProcess, platform: str) -> None:
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"platform {platform}" in proc.stdout
    assert "Could not load the Qt platform plugin" not in proc.stderr
    assert "could not find the Qt platform plugin" not in proc.stderr.lower()
    assert "cv2 set a plugin path: False; left: []" in proc.stdout
    assert "cv2 has Qt: False" in proc.stdout


def test_cv2_and_the_runtimes_then_qapplication_offscreen():
    check(run({"QT_QPA_PLATFORM": "offscreen"}), "offscreen")


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs xvfb-run for a real X server")
def test_cv2_and_the_runtimes_then_qapplication_on_x11():
    env = {"QT_QPA_PLATFORM": "xcb"}
    check(run(env, ["xvfb-run", "-a"]), "xcb")
