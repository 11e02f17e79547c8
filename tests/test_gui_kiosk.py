"""Kiosk mode under pytest-qt (offscreen): greeting, unknown visitor, PIN exit, camera loss, restarts.

The clip tests run the real LiveWorker (models, tracker) on ../shared/data/video clips in
lockstep: every frame analysed in order, and the kiosk decides on the clip's own time (the
window's MediaClock), so a busy machine changes only how long they take. The camera-loss tests
run the camera's real-time path and wait for states, never for a time. The rest drive the window
with a stand-in worker and a hand-moved clock.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QObject, QPointF, Qt, Signal  # noqa: E402
from PySide6.QtGui import QCloseEvent  # noqa: E402

from kiosk.capture.reader import CameraState, CameraStatus  # noqa: E402
from kiosk.capture.sources import FrameSource, SourceError  # noqa: E402
from kiosk.checkin.flow import Screen  # noqa: E402
from kiosk.checkin.texts import texts_for  # noqa: E402
from kiosk.checkin.visits import CHECKIN, UNKNOWN  # noqa: E402
from kiosk.config import Config, KioskConfig, LivenessConfig  # noqa: E402
from kiosk.gallery import Gallery, PersonDetails  # noqa: E402
from tests.conftest import RECOGNITION_ONLY, shared  # noqa: E402
from tests.live_helpers import HANG_GUARD_MS  # noqa: E402

FEMALE = "head-pose-face-detection-female.gif"
MALE = "head-pose-face-detection-male.gif"
TZ = dt.timezone(dt.timedelta(hours=1))
NOON = dt.datetime(2026, 3, 2, 12, 0, 0, tzinfo=TZ)
CLIP_TIMEOUT_MS = HANG_GUARD_MS
#: `_window(clock=WORKER_TIME)`: no flow clock given, the window takes a lockstep worker's media time.
WORKER_TIME = object()


class Clock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeWorker(QObject):
    """The LiveWorker's interface as the kiosk window uses it, driven by the test."""

    result_ready = Signal(object)
    camera_status = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.config = Config()
        self.camera = CameraStatus(CameraState.LIVE, "fake camera")
        self.running = True
        self.starts = 0
        self.reloads = 0

    def latest_frame(self):
        return None

    def isRunning(self) -> bool:  # noqa: N802 - QThread's name
        return self.running

    def isFinished(self) -> bool:  # noqa: N802 - QThread's name
        return not self.running

    def start(self) -> None:
        self.starts += 1
        self.running = True

    def apply_config(self, config) -> None:
        self.reloads += 1


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "kiosk.db")
    yield g
    g.close()


def _window(qtbot, worker, gallery, config=None, clock=None, unlock=None, wall=lambda: NOON):
    from ui.kiosk_mode import KioskWindow

    clocks = {} if clock is WORKER_TIME else {"flow_clock": clock or Clock()}
    w = KioskWindow(worker, gallery, config or Config(), wall_clock=wall, unlock=unlock or (lambda parent: False),
                    **clocks)
    qtbot.addWidget(w)
    w.resize(1280, 720)
    w.show()
    return w


def _force_close(w) -> None:
    w.locked = False
    w.close()


# -- exit and lock --------------------------------------------------------------------------------


def test_close_requests_are_ignored_while_locked(qtbot, gallery):
    w = _window(qtbot, FakeWorker(), gallery)
    event = QCloseEvent()
    w.closeEvent(event)  # what Alt+F4 / the window manager's close button delivers
    assert not event.isAccepted()
    assert w.close() is False and w.isVisible()
    _force_close(w)


def test_escape_opens_the_pin_pad_and_a_wrong_pin_stays_locked(qtbot, gallery):
    asked = []
    w = _window(qtbot, FakeWorker(), gallery, unlock=lambda parent: asked.append(parent) or False)
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert asked == [w]
    assert w.locked and w.isVisible()
    _force_close(w)


def test_the_right_pin_leaves_kiosk_mode(qtbot, gallery):
    w = _window(qtbot, FakeWorker(), gallery, unlock=lambda parent: True)
    with qtbot.waitSignal(w.exited, timeout=CLIP_TIMEOUT_MS):
        qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert not w.locked and not w.isVisible()


def test_long_press_on_a_corner_opens_the_pin_pad(qtbot, gallery):
    clock, asked = Clock(), []
    w = _window(qtbot, FakeWorker(), gallery, clock=clock, unlock=lambda parent: asked.append(1) or False)
    # A press in the middle of the screen never opens it, however long.
    qtbot.mousePress(w, Qt.MouseButton.LeftButton, pos=w.rect().center())
    clock.t += 10
    w._tick()
    qtbot.mouseRelease(w, Qt.MouseButton.LeftButton, pos=w.rect().center())
    # A short press on a corner does not either.
    corner = w.rect().topRight() + QPointF(-5, 5).toPoint()
    qtbot.mousePress(w, Qt.MouseButton.LeftButton, pos=corner)
    clock.t += 1.0
    w._tick()
    qtbot.mouseRelease(w, Qt.MouseButton.LeftButton, pos=corner)
    assert asked == []
    # Holding it for 2 s does.
    qtbot.mousePress(w, Qt.MouseButton.LeftButton, pos=corner)
    clock.t += 2.0
    w._tick()
    assert asked == [1]
    qtbot.mouseRelease(w, Qt.MouseButton.LeftButton, pos=corner)
    _force_close(w)


def _pin_dialog_session(qtbot, w, entries):
    """Press Escape on the kiosk and, in the PIN pad that opens, type each entry + OK.

    Returns what the pad showed after each entry: (message, pad enabled, dialog still open).
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    seen = []

    def drive():
        dialog = QApplication.activeModalWidget()
        assert dialog is not None and dialog.objectName() == "kioskPinDialog"
        pad = dialog.gate.pad
        for entry in entries:
            for key in (*entry, "OK"):
                qtbot.mouseClick(pad.buttons[key], Qt.MouseButton.LeftButton)  # a disabled pad ignores it
            seen.append((dialog.gate.message.text(), pad.isEnabled(), dialog.isVisible()))
            if not dialog.isVisible():
                return
        dialog.reject()

    QTimer.singleShot(0, drive)
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    return seen


def test_pin_pad_exit_and_growing_lockout(qtbot, gallery):
    from kiosk.gallery.admin_pin import AdminPin, PinPolicy
    from ui.kiosk_mode import PinLock

    now = [1_000_000.0]
    clock = lambda: now[0]  # noqa: E731
    # A cheap scrypt (its cost is stored with the hash, so PinLock checks at that cost): eight
    # tries at the real cost took 202 s of this test's 300 under load; the lockout is the point.
    AdminPin(gallery, PinPolicy(scrypt_n=2**10), clock=clock).set_pin("294751")
    w = _window(qtbot, FakeWorker(), gallery, unlock=PinLock(gallery, clock=clock))
    assert w.locked

    seen = _pin_dialog_session(qtbot, w, ["1111", "1112", "1113", "1114", "1115", "294751"])
    assert [enabled for _, enabled, _ in seen[:4]] == [True] * 4
    assert "left" in seen[3][0]
    message, enabled, open_ = seen[4]  # the 5th wrong PIN starts the delay
    assert not enabled and "Try again in 30 s" in message
    assert seen[5][2]  # the right PIN typed during the delay does not open it
    assert w.locked and w.isVisible()

    now[0] += 31  # the delay is over: one more wrong PIN waits twice as long
    seen = _pin_dialog_session(qtbot, w, ["9999"])
    assert not seen[0][1] and "1 min" in seen[0][0]
    assert w.locked and w.isVisible()

    now[0] += 61
    with qtbot.waitSignal(w.exited, timeout=CLIP_TIMEOUT_MS):
        seen = _pin_dialog_session(qtbot, w, ["294751"])
    assert not seen[0][2]  # the dialog closed: accepted
    assert not w.locked and not w.isVisible()


def test_first_run_without_a_pin_asks_for_one_before_locking(qtbot, gallery, monkeypatch):
    import ui.kiosk_mode.window as kw

    calls = []
    monkeypatch.setattr(kw.PinLock, "dialog", lambda self, parent, purpose: calls.append(purpose) or
                        type("D", (), {"exec": lambda d: 0})())
    w = _window(qtbot, FakeWorker(), gallery, unlock=kw.PinLock(gallery))
    assert calls == ["lock kiosk mode"]
    assert not w.locked  # none chosen: kiosk mode runs unlocked, and Escape leaves at once
    with qtbot.waitSignal(w.exited, timeout=CLIP_TIMEOUT_MS):
        qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert calls == ["lock kiosk mode"]


def test_window_is_frameless_and_on_top(qtbot, gallery):
    w = _window(qtbot, FakeWorker(), gallery)
    flags = w.windowFlags()
    assert flags & Qt.WindowType.FramelessWindowHint
    assert flags & Qt.WindowType.WindowStaysOnTopHint
    _force_close(w)


# -- camera loss and worker restarts ----------------------------------------------------------------


def test_camera_loss_shows_unavailable_and_recovers(qtbot, gallery):
    clock, worker = Clock(), FakeWorker()
    w = _window(qtbot, worker, gallery, clock=clock)
    texts = texts_for(KioskConfig())
    assert w.stack.currentWidget() is w.attract_page
    worker.camera_status.emit(CameraStatus(CameraState.LOST, "cam", "unplugged", 1, 0.5))
    assert w.stack.currentWidget() is w.attract_page  # a short glitch is not shown
    clock.t += 1.5
    w._tick()
    assert w.flow.state.screen is Screen.UNAVAILABLE
    assert w.stack.currentWidget() is w.message_page
    assert w.message_label.text() == texts.unavailable
    worker.camera_status.emit(CameraStatus(CameraState.LIVE, "cam"))
    assert w.flow.state.screen is Screen.ATTRACT and w.stack.currentWidget() is w.attract_page
    _force_close(w)


def _frame_result(masked: bool, settled: bool, ask_to_unmask: bool, t: float = 0.0):
    """A LiveWorker result with one tracked face, as the tracker hands it on."""
    from kiosk.recognition.live import FrameResult, Timings, TrackedFace
    from kiosk.recognition.tracking import Identity
    from kiosk.vision.types import FaceAnalysis, Quality

    analysis = FaceAnalysis(np.array([200, 100, 440, 380], np.float32), 0.9, np.zeros((5, 2), np.float32),
                            np.zeros((112, 112, 3), np.uint8), masked, 0.9 if masked else 0.1,
                            np.zeros(0, np.float32), Quality(240, 100, 120, 0, 0))
    identity = Identity(None, None, 0.3 if settled else -1.0, settled, 3 if settled else 0, 3,
                        ask_to_unmask=ask_to_unmask)
    face = TrackedFace(7, identity, masked, analysis, (), True)
    return FrameResult(1, t, (640, 480), (face,), (), Timings(), 1, 1, "test@1")


def test_a_masked_uncertain_visitor_is_asked_to_lower_the_mask(qtbot, gallery):
    """What the visitor reads on the camera screen: "look at the camera" while the tracker
    votes, then "please lower your mask" (amber) for a masked near miss; nobody is logged."""
    clock, worker = Clock(), FakeWorker()
    w = _window(qtbot, worker, gallery, clock=clock)
    texts = texts_for(KioskConfig())
    assert texts.lower_mask != texts.approach
    worker.result_ready.emit(_frame_result(masked=True, settled=False, ask_to_unmask=False))
    assert w.flow.state.screen is Screen.APPROACHING
    assert w.stack.currentWidget() is w.camera_page
    assert w.camera_label.text() == texts.approach
    clock.t += 0.2
    worker.result_ready.emit(_frame_result(masked=True, settled=True, ask_to_unmask=True))
    assert w.flow.state.screen is Screen.LOWER_MASK
    assert w.stack.currentWidget() is w.camera_page
    assert w.camera_label.text() == texts.lower_mask
    assert "#ffb000" in w.camera_label.styleSheet()
    assert gallery.visits() == []
    _force_close(w)


def test_a_lockstep_worker_gives_kiosk_mode_the_frames_own_time(qtbot, gallery):
    """A file replayed in lockstep (`gui --every-frame`, the clip tests): a greeting lasts
    greeting_s of the clip's time. However long this machine takes between two frames (here
    longer than the greeting) it is not cut short; the next frame's time ends it."""
    from dataclasses import replace

    from kiosk.recognition.tracking import Identity

    alice = _person(gallery, "Alice")
    worker = FakeWorker()
    worker.lockstep = True
    w = _window(qtbot, worker, gallery, config=Config(kiosk=KioskConfig(greeting_s=1)), clock=WORKER_TIME)
    base = _frame_result(masked=False, settled=True, ask_to_unmask=False, t=500.0)
    known = replace(base, faces=(replace(base.faces[0], identity=Identity(alice, "Alice", 0.8, True, 3, 3)),))
    worker.result_ready.emit(known)
    assert w.flow.state.screen is Screen.GREETING and w.greeting_label.text() == "Welcome, Alice!"
    qtbot.wait(1500)  # more than greeting_s on the real clock, with the window ticking
    w._tick()
    assert w.flow.state.screen is Screen.GREETING  # the clip has not moved on
    worker.result_ready.emit(replace(base, frame_id=2, faces=(), timestamp=503.0))  # 3 s of clip later: nobody
    assert w.flow.state.screen is Screen.ATTRACT
    assert [v.person_id for v in gallery.visits()] == [alice]
    _force_close(w)


def test_a_failed_worker_is_restarted(qtbot, gallery):
    worker = FakeWorker()
    w = _window(qtbot, worker, gallery)
    w.restart_backoff_s = (0.01,)
    worker.running = False
    worker.failed.emit("boom")
    worker.finished.emit()
    qtbot.waitUntil(lambda: worker.starts == 1, timeout=CLIP_TIMEOUT_MS)
    assert worker.reloads == 0
    # Models that failed to load in a running thread are reloaded instead.
    worker.failed.emit("model missing")
    qtbot.waitUntil(lambda: worker.reloads == 1, timeout=CLIP_TIMEOUT_MS)
    assert worker.starts == 1
    _force_close(w)
    # A closed kiosk no longer restarts anything.
    worker.running = False
    worker.failed.emit("after close")
    worker.finished.emit()
    assert not w.restart_pending
    qtbot.wait(int(max(w.restart_backoff_s) * 1000) + 200)  # well past any restart it could have scheduled
    assert (worker.starts, worker.reloads) == (1, 1)


# -- with the real worker ----------------------------------------------------------------------------


class _Clip(FrameSource):
    """A GIF's frames, then `gap` black frames (nobody there), looped: people come and go."""

    fps = 12.5

    def __init__(self, path, gap: int = 0) -> None:
        from PIL import Image

        with Image.open(path) as im:
            self.frames = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                self.frames.append(np.asarray(im.convert("RGB")).copy())
        self.frames += [np.zeros_like(self.frames[0])] * gap
        self.description = path.name
        self.i = 0

    def open(self) -> None:
        pass

    def read(self):
        rgb = self.frames[self.i % len(self.frames)]
        self.i += 1
        return rgb

    def close(self) -> None:
        pass


class _Flaky(FrameSource):
    """Grey frames; fails after 20 frames and refuses to reconnect until `back` is set (then
    works again): the test, not the machine's speed, decides how long the camera is gone."""

    fps = 25.0
    description = "flaky camera"

    def __init__(self, log: list, back: threading.Event | None = None) -> None:
        self.log = log
        self.back = back or threading.Event()

    def open(self) -> None:
        self.log.append("open")
        if self.log.count("open") >= 2 and not self.back.is_set():
            raise SourceError("camera unplugged")
        self.n = 0

    def read(self):
        self.n += 1
        if self.log.count("open") == 1 and self.n > 20:
            raise SourceError("camera stopped sending frames")
        return np.full((120, 160, 3), 128, np.uint8)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def enrolled_db(tmp_path_factory, pipeline):
    """A gallery with the woman of the female clip enrolled as "Demo" (2 frames of the clip)."""
    from PIL import Image

    from kiosk.enrollment.samples import make_sample, pick_enrollment_face

    path = shared("video", FEMALE)
    db = tmp_path_factory.mktemp("kiosk") / "enrolled.db"
    samples = []
    with Image.open(path) as im:
        for i in (12, 20):
            im.seek(i)
            rgb = np.asarray(im.convert("RGB")).copy()
            samples.append(make_sample(pipeline, pick_enrollment_face(pipeline.analyze(rgb))))
    g = Gallery(db, encrypt=False)  # plaintext: each test copies it (a key is tied to its path)
    g.add_person(PersonDetails("Demo"), samples, pipeline.model_version)
    g.close()
    return db


def _live_starter(qtbot, tmp_path, seed_db):
    """(start(source, ...) -> (window, worker, gallery)) on copies of `seed_db` (None: empty).

    `lockstep=True` analyses every frame of the clip at media time, and the window decides on
    that time (its own MediaClock: no flow clock is given); without it the camera-like
    real-time path runs on the real clock (frames dropped when analysis lags).
    """
    import time

    from ui.worker import LiveWorker

    made = []

    def start(source, config=None, wall=lambda: NOON, pipeline_factory=None, lockstep=False):
        db = tmp_path / f"g{len(made)}.db"
        if seed_db is not None:
            shutil.copy(seed_db, db)
        g = Gallery(db)
        # The clips' people are real, but these tests hold the kiosk to what it did before the
        # liveness check (its own tests: tests/test_gui_kiosk_liveness.py).
        config = config or Config(kiosk=KioskConfig(greeting_s=1, cooldown_s=600),
                                  liveness=LivenessConfig(mode=RECOGNITION_ONLY))
        kwargs = {"pipeline_factory": pipeline_factory} if pipeline_factory else {}
        worker = LiveWorker(config, g, source, lockstep=lockstep, **kwargs)
        made.append((worker, g))
        w = _window(qtbot, worker, g, config=config, clock=WORKER_TIME if lockstep else time.monotonic, wall=wall)
        worker.start()
        return w, worker, g

    return start, made


def _stop_all(made) -> None:
    for worker, g in made:
        worker.stop()
        assert worker.wait(CLIP_TIMEOUT_MS)
        g.close()


@pytest.fixture
def live(qtbot, tmp_path, enrolled_db):
    """The real worker on a gallery where the woman of the female clip is "Demo" (needs the data)."""
    start, made = _live_starter(qtbot, tmp_path, enrolled_db)
    yield start
    _stop_all(made)


@pytest.fixture
def live_blank(qtbot, tmp_path):
    """The real worker on an empty gallery (no shared data needed)."""
    start, made = _live_starter(qtbot, tmp_path, None)
    yield start
    _stop_all(made)


def _screens(w) -> list:
    seen = []
    w.state_changed.connect(lambda s: seen.append(s))
    return seen


@pytest.mark.data
def test_enrolled_person_is_greeted_and_logged_once_per_cooldown(qtbot, live):
    path = shared("video", FEMALE)
    w, worker, g = live(lambda: _Clip(path, gap=30), lockstep=True)
    seen = _screens(w)
    greetings = lambda: [s for s in seen if s.screen is Screen.GREETING]  # noqa: E731
    qtbot.waitUntil(lambda: len(greetings()) >= 1, timeout=CLIP_TIMEOUT_MS)
    assert w.stack.currentWidget() is w.greeting_page
    assert w.greeting_label.text() == "Welcome, Demo!"
    assert w.greeting_time.text() == "12:00"
    assert not w.photo.pixmap().isNull()  # the enrolled photo is on the card
    # She leaves (black frames) and comes back: greeted again, but one visit per cooldown.
    qtbot.waitUntil(lambda: len(greetings()) >= 2, timeout=CLIP_TIMEOUT_MS)
    first, second = greetings()[:2]
    assert first.recorded and not second.recorded
    assert first.track_id != second.track_id
    visits = g.visits(NOON.date())
    assert [(v.name, v.kind) for v in visits] == [("Demo", CHECKIN)]
    assert all(s.name in (None, "Demo") for s in seen)
    _force_close(w)


@pytest.mark.data
def test_unknown_visitor_sees_the_receptionist_message(qtbot, live):
    path = shared("video", MALE)
    w, worker, g = live(lambda: _Clip(path), lockstep=True)
    seen = _screens(w)
    qtbot.waitUntil(lambda: w.flow.state.screen is Screen.UNKNOWN, timeout=CLIP_TIMEOUT_MS)
    assert w.stack.currentWidget() is w.message_page
    assert w.message_label.text() == texts_for(KioskConfig()).unknown
    assert not any(s.screen is Screen.GREETING for s in seen)
    visits = g.visits(NOON.date())
    assert [(v.person_id, v.kind) for v in visits] == [(None, UNKNOWN)]
    _force_close(w)


def test_source_failure_shows_unavailable_and_recovers(qtbot, live_blank):
    events: list = []
    back = threading.Event()
    w, worker, g = live_blank(lambda: _Flaky(events, back))
    seen = _screens(w)
    qtbot.waitUntil(lambda: any(s.screen is Screen.UNAVAILABLE for s in seen), timeout=CLIP_TIMEOUT_MS)
    assert w.message_label.text() == texts_for(KioskConfig()).unavailable
    assert w.flow.state.screen is Screen.UNAVAILABLE  # for as long as the camera is gone
    back.set()  # plugged in again
    qtbot.waitUntil(lambda: w.flow.state.screen is Screen.ATTRACT and events.count("open") >= 2,
                    timeout=CLIP_TIMEOUT_MS)
    assert w.stack.currentWidget() is w.attract_page
    _force_close(w)


def test_a_crashed_worker_thread_is_restarted(qtbot, live_blank):
    from kiosk.vision.pipeline import FacePipeline

    calls = []

    def factory(config):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("simulated crash while loading")
        return FacePipeline(config.vision)

    w, worker, g = live_blank(lambda: _Flaky([]), pipeline_factory=factory)
    w.restart_backoff_s = (0.05,)
    qtbot.waitUntil(lambda: len(calls) == 2 and worker.stats().models_ready, timeout=CLIP_TIMEOUT_MS)
    assert worker.isRunning()
    _force_close(w)


# -- receptionist view ---------------------------------------------------------------------------


def _person(gallery: Gallery, name: str) -> int:
    from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails

    vec = np.ones(128, np.float32)
    return gallery.add_person(PersonDetails(name), [NewSample(np.zeros((112, 112, 3), np.uint8), [NewTemplate("full", vec)])],
                              "test-model")


def test_receptionist_view_lists_a_day_alerts_and_exports(qtbot, gallery, tmp_path):
    from PySide6.QtCore import QDate

    from ui.receptionist_view import ReceptionistView

    alice = _person(gallery, "Alice")
    gallery.record_visit(alice, CHECKIN, 0.71, True, "kiosk", "2026-03-01T17:00:00+01:00")
    gallery.record_visit(alice, CHECKIN, 0.8, False, "kiosk", "2026-03-02T09:00:00+01:00")
    gallery.record_visit(None, UNKNOWN, 0.2, False, "kiosk", "2026-03-02T09:05:00+01:00")
    view = ReceptionistView(gallery, today=lambda: dt.date(2026, 3, 2), poll_ms=60_000)
    qtbot.addWidget(view)

    def rows():
        return [[view.table.item(r, c).text() for c in range(4)] for r in range(view.table.rowCount())]

    assert rows() == [["09:05:00", "Unknown visitor", "0.20", ""], ["09:00:00", "Alice", "0.80", ""]]
    assert view.alerts.count() == 0  # what was there before the view opened is not a new alert
    view.date_edit.setDate(QDate(2026, 3, 1))  # any day
    assert rows() == [["17:00:00", "Alice", "0.71", "yes"]]

    alerts = []
    view.alert.connect(alerts.append)
    gallery.record_visit(None, UNKNOWN, 0.1, True, "kiosk", "2026-03-02T09:30:00+01:00")
    view.poll()
    assert len(alerts) == 1 and view.alerts.count() == 1
    assert "Unknown visitor" in view.alerts.item(0).text() and "masked" in view.alerts.item(0).text()
    view.poll()
    assert view.alerts.count() == 1  # each stranger alerts once

    view.show_today()
    assert len(rows()) == 3
    out = tmp_path / "today.csv"
    assert view.export_csv(str(out)) == 3
    text = out.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "time,kind,name,person_id,score,masked,source,site,kiosk"
    assert "Alice" in text and text.count("Unknown visitor") == 2


def test_kiosk_visits_reach_the_receptionist_view(qtbot, gallery):
    from ui.receptionist_view import ReceptionistView

    alice = _person(gallery, "Alice")
    w = _window(qtbot, FakeWorker(), gallery, wall=lambda: NOON)
    view = ReceptionistView(gallery, today=lambda: NOON.date(), poll_ms=60_000)
    qtbot.addWidget(view)
    w.visit_recorded.connect(view.add_visit)
    w.unknown(track_id=3, score=0.1, masked=False)
    w.checkin(alice, 0.9, False)
    assert view.alerts.count() == 1
    assert view.table.rowCount() == 2
    _force_close(w)


def test_main_window_enters_kiosk_mode_and_stays_hidden_until_unlocked(qtbot, gallery, monkeypatch):
    import ui.kiosk_mode.window as kw
    from ui.main_window import MainWindow

    answers = [False, True]

    class Lock:
        def __init__(self, gallery) -> None:
            pass

        def ensure(self, parent) -> bool:
            return True

        def __call__(self, parent) -> bool:
            return answers.pop(0)

    monkeypatch.setattr(kw, "PinLock", Lock)
    main = MainWindow(Config(), gallery, None)
    qtbot.addWidget(main)
    main.start()
    try:
        main.show()
        main.enter_kiosk_mode()
        kiosk = main._child_windows[0]
        assert isinstance(kiosk, kw.KioskWindow) and kiosk.worker is main.worker
        assert kiosk.isVisible() and not main.isVisible()
        assert kiosk.close() is False  # a window-manager close: ignored, the live window stays hidden
        assert not main.isVisible()
        qtbot.keyClick(kiosk, Qt.Key.Key_Escape)  # wrong PIN
        assert kiosk.isVisible() and not main.isVisible()
        qtbot.keyClick(kiosk, Qt.Key.Key_Escape)  # right PIN
        assert not kiosk.isVisible() and main.isVisible()
        assert main.worker.isRunning()  # the kiosk borrowed the worker and left it running
    finally:
        main.shutdown()
    assert main.worker.isFinished()


def test_visit_log_on_a_staff_screen_and_from_the_menu(qtbot, gallery):
    from ui.main_window import MainWindow
    from ui.receptionist_view import ReceptionistView

    config = Config(kiosk=KioskConfig(receptionist_screen=0))
    w = _window(qtbot, FakeWorker(), gallery, config=config)
    assert isinstance(w.receptionist, ReceptionistView) and w.receptionist.isWindow()
    assert w.receptionist.isVisible()
    w.unknown(track_id=1, score=0.1, masked=False)
    assert w.receptionist.alerts.count() == 1
    _force_close(w)
    assert not w.receptionist.isVisible()
    # Without a staff screen in the config, the kiosk shows no visit log at all.
    w2 = _window(qtbot, FakeWorker(), gallery)
    assert w2.receptionist is None
    _force_close(w2)

    main = MainWindow(Config(), gallery, None)
    qtbot.addWidget(main)
    main.open_visits()
    view = main._child_windows[-1]
    assert isinstance(view, ReceptionistView) and view.isWindow() and view.isVisible()
    view.close()
    main.shutdown()


@pytest.mark.skipif(sys.version_info >= (3, 12),
                    reason="None and True are immortal on Python 3.12+: this leak cannot happen there")
def test_qt_refcounts():
    """Kiosk mode runs for days: Qt calls must not drop references to None/True.

    PySide6 6.12.0 on CPython 3.11 did (every void call, every emit), and the kiosk died after
    ~8 minutes with "Fatal Python error: none_dealloc".
    """
    from PySide6.QtCore import QObject, QTimer
    from PySide6.QtWidgets import QApplication, QLabel

    class Emitter(QObject):
        sig = Signal(object)

    QApplication.instance() or QApplication([])
    obj, timer, label = Emitter(), QTimer(), QLabel("x")
    obj.sig.connect(lambda value: None)

    def calls() -> None:
        obj.setObjectName("x")
        timer.setInterval(5)
        label.setText("y")
        obj.sig.emit(1)

    calls()
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(50):
        calls()
    after = sys.getrefcount(None), sys.getrefcount(True)
    assert after[0] >= before[0] and after[1] >= before[1], (before, after)
