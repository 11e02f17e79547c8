"""The fullscreen kiosk renders the same re-decisions (issue 21, rows 9 and 10) under pytest-qt.

The window is fed the real live recognizer's results, made here in lockstep with the clock the
window's flow reads (a stand-in worker delivers them), so what is on screen is exactly what the
shared session decided, frame by frame.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from kiosk.capture.sources import Frame  # noqa: E402
from kiosk.checkin.flow import Screen  # noqa: E402
from kiosk.checkin.texts import greeting_for, texts_for  # noqa: E402
from kiosk.config import KioskConfig  # noqa: E402
from kiosk.diagnostics.arrivals import FPS, walk_up_frames  # noqa: E402
from kiosk.gallery import Gallery, PersonDetails  # noqa: E402
from kiosk.recognition.live import LiveRecognizer  # noqa: E402
from kiosk.recognition.recognizer import Recognizer  # noqa: E402
from tests.test_gui_kiosk import Clock, FakeWorker, _force_close, _window  # noqa: E402
from tests.test_kiosk_redecisions import PHOTOS, _sample, _two_visitors  # noqa: E402

NAME = "Eileen Collins"


class Feed:
    """Frames -> the real LiveRecognizer -> the stand-in worker's signal, on one clock."""

    def __init__(self, gallery, pipeline, worker: FakeWorker, clock: Clock) -> None:
        self.live = LiveRecognizer(Recognizer(PHOTOS, gallery, pipeline), clock=clock)
        self.worker, self.clock, self.n = worker, clock, 0

    def frame(self, rgb: np.ndarray) -> None:
        self.clock.t = self.n / FPS
        self.n += 1
        self.worker.result_ready.emit(self.live.process(Frame(self.n, rgb, self.clock.t)))


def test_the_window_greets_a_visitor_enrolled_elsewhere_after_the_receptionist_card(qtbot, tmp_path, pipeline,
                                                                                   astronaut_rgb):
    texts = texts_for(KioskConfig())
    with Gallery(tmp_path / "g.db") as gallery, Gallery(tmp_path / "g.db") as desk:
        clock, worker = Clock(0.0), FakeWorker()
        w = _window(qtbot, worker, gallery, config=PHOTOS, clock=clock)
        feed = Feed(gallery, pipeline, worker, clock)
        frames = walk_up_frames(astronaut_rgb, np.random.default_rng(0), seconds=2.0)
        while w.flow.state.screen is not Screen.UNKNOWN:
            assert feed.n < 8 * FPS, "never sent to the receptionist"
            feed.frame(next(frames))
        assert w.stack.currentWidget() is w.message_page and w.message_label.text() == texts.unknown
        pid = desk.add_person(PersonDetails(NAME), [_sample(pipeline, astronaut_rgb)], pipeline.model_version)
        for _ in range(round(2.5 * FPS)):  # the next gallery poll, and a few frames to vote
            feed.frame(next(frames))
        assert w.flow.state.screen is Screen.GREETING and w.flow.state.person_id == pid
        assert w.stack.currentWidget() is w.greeting_page
        assert w.greeting_label.text() == greeting_for(texts.greeting, NAME)
        assert sorted((v.kind, v.person_id) for v in gallery.visits()) == [("checkin", pid), ("unknown", None)]
        _force_close(w)


def test_the_window_keeps_asking_the_flickering_masked_visitor_once(qtbot, tmp_path, pipeline, astronaut_rgb):
    texts = texts_for(KioskConfig())
    both, gone = _two_visitors(astronaut_rgb, pipeline)
    with Gallery(tmp_path / "g.db") as gallery:
        clock, worker = Clock(0.0), FakeWorker()
        w = _window(qtbot, worker, gallery, config=PHOTOS, clock=clock)
        seen: list[Screen] = []
        w.state_changed.connect(lambda state: seen.append(state.screen))
        feed = Feed(gallery, pipeline, worker, clock)
        asked_pages = []
        for i in range(round(11 * FPS)):
            feed.frame(gone if i % 3 == 2 else both)
            if w.flow.state.screen is Screen.LOWER_MASK:
                asked_pages.append((w.stack.currentWidget() is w.camera_page, w.camera_label.text()))
        assert seen.count(Screen.LOWER_MASK) == 1
        assert asked_pages and set(asked_pages) == {(True, texts.lower_mask)}
        assert len(w.session.events) == 2 and w.session.events[1].event == "ask_to_unmask"
        _force_close(w)
