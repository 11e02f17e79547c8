"""Fixtures for the live-window tests (loaded with `pytest_plugins = ["live_fixtures"]`).

`no_dangling_threads` fails a test that leaves a QThread running or a face-kiosk capture
thread alive (after stopping them, so one leak does not cascade into later tests).
"""

from __future__ import annotations

import threading
import weakref

import pytest
from live_helpers import HANG_GUARD_MS

_started: weakref.WeakSet = weakref.WeakSet()
_patched = False


def _track_qthreads() -> None:
    """Record every QThread started from now on (napari's _dangling_qthreads idea)."""
    global _patched
    if _patched:
        return
    from PySide6.QtCore import QThread

    original = QThread.start

    def start(self, *args, **kwargs):
        _started.add(self)
        return original(self, *args, **kwargs)

    QThread.start = start
    _patched = True


def _capture_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("face-kiosk") and t.is_alive()]


@pytest.fixture
def no_dangling_threads(qapp):
    """Fail the test if it leaves a QThread running or a capture thread alive."""
    _track_qthreads()
    yield
    running = []
    for thread in list(_started):
        try:
            alive = thread.isRunning()
        except RuntimeError:  # the C++ object is gone, so is the thread
            continue
        if alive:
            running.append(thread.objectName() or type(thread).__name__)
            stop = getattr(thread, "stop", None)
            if stop is not None:
                stop()
            thread.quit()
            thread.wait(HANG_GUARD_MS)
    capture = [t.name for t in _capture_threads()]
    for t in _capture_threads():
        t.join(HANG_GUARD_MS / 1000)  # a guard: a loaded PC may take seconds to let go
    if running or capture:
        pytest.fail(f"threads left running after the test: QThreads {running}, capture threads {capture}")
