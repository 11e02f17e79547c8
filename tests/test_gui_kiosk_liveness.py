"""Kiosk mode and the liveness check under pytest-qt (offscreen): the refusal card, the active
challenge's prompts, the receptionist view's mark, and the real worker on a real clip (greeted
once live) and on a photo carried up to the camera (refused), in lockstep at the clip's time."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from kiosk.checkin.flow import Screen  # noqa: E402
from kiosk.checkin.texts import texts_for  # noqa: E402
from kiosk.config import Config, KioskConfig, LivenessConfig  # noqa: E402
from kiosk.liveness import ChallengeKind, Cues, Liveness, LivenessDecision, Reason  # noqa: E402
from tests.conftest import shared  # noqa: E402
from tests.test_gui_kiosk import (  # noqa: E402
    CLIP_TIMEOUT_MS,
    FEMALE,
    NOON,
    Clock,
    FakeWorker,
    _Clip,
    _force_close,
    _live_starter,
    _screens,
    _stop_all,
    _window,
    enrolled_db,  # noqa: F401 - the fixture, used by `live`
    gallery,  # noqa: F401 - the fixture
)

ATTACK = LivenessDecision(Liveness.ATTACK, 0.01, Reason.FLAT, Cues(planarity=0.02, passes=2, passive=0.3))
TURN = LivenessDecision(Liveness.UNSURE, 0.5, Reason.NO_MOTION, Cues(challenge="asking"), 3.0, ChallengeKind.TURN)
LIVE = LivenessDecision(Liveness.LIVE, 0.97, Reason.MOVES_LIKE_A_HEAD, Cues(planarity=1.3))


class FocusWorker(FakeWorker):
    """The stand-in worker, recording which visitor the window says it faces."""

    def __init__(self) -> None:
        super().__init__()
        self.focus: list[int | None] = []

    def set_liveness_focus(self, track_id: int | None) -> None:
        self.focus.append(track_id)


def _result(decision: LivenessDecision, t: float, person: tuple[int, str] | None = None):
    """A LiveWorker result with one tracked face (track 7) carrying `decision`."""
    from kiosk.recognition.live import FrameResult, Timings, TrackedFace
    from kiosk.recognition.tracking import Identity
    from kiosk.vision.types import FaceAnalysis, Quality

    analysis = FaceAnalysis(np.array([200, 100, 440, 380], np.float32), 0.9, np.zeros((5, 2), np.float32),
                            np.zeros((112, 112, 3), np.uint8), False, 0.1, np.zeros(0, np.float32),
                            Quality(240, 100, 120, 0, 0))
    identity = Identity(person[0], person[1], 0.92, True, 3, 3) if person else Identity(None, None, -1.0, False)
    face = TrackedFace(7, identity, False, analysis, (), True, liveness=decision)
    return FrameResult(1, t, (640, 480), (face,), (), Timings(), 1, 1, "test@1")


def test_a_refused_face_gets_the_receptionist_card_and_the_staff_screen_marks_it(qtbot, gallery):  # noqa: F811
    from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails

    alice = gallery.add_person(PersonDetails("Alice Example"), [NewSample(
        np.zeros((112, 112, 3), np.uint8), [NewTemplate("full", np.ones(128, np.float32))])], "test-model")
    clock, worker = Clock(), FocusWorker()
    config = Config(kiosk=KioskConfig(receptionist_screen=0), liveness=LivenessConfig(mode="passive"))
    w = _window(qtbot, worker, gallery, config=config, clock=clock)
    worker.result_ready.emit(_result(dataclasses.replace(ATTACK, state=Liveness.UNSURE), clock.t, (alice, "Alice Example")))
    assert w.flow.state.screen is Screen.APPROACHING and worker.focus[-1] == 7
    clock.t += 0.1
    worker.result_ready.emit(_result(ATTACK, clock.t, (alice, "Alice Example")))
    texts = texts_for(config.kiosk)
    assert w.flow.state.screen is Screen.REFUSED and w.stack.currentWidget() is w.message_page
    assert w.message_label.text() == texts.refused == texts.unknown  # an attacker learns nothing
    assert "Alice" not in w.message_label.text() + w.message_detail.text()
    assert worker.focus[-1] is None  # the card is up: nobody is asked anything
    item = w.receptionist.alerts.item(0)
    assert "Track 7" in item.text() and "refused" in item.text() and "flat like a photo" in item.text()
    assert "Alice Example" in item.text()  # staff only: whom the picture matched
    assert item.background().color().name() == "#b00020"
    [event] = w.session.events
    assert (event.event, event.person, event.logged) == ("presentation_attack", None, False)
    assert gallery.visits() == []
    _force_close(w)
    # The closed staff screen stops reading the gallery (its owner closes it next).
    assert not w.receptionist._poll.isActive()


def test_the_active_challenge_asks_in_the_visitors_language_then_greets(qtbot, gallery):  # noqa: F811
    clock, worker = Clock(), FocusWorker()
    w = _window(qtbot, worker, gallery, config=Config(liveness=LivenessConfig(mode="active")), clock=clock)
    worker.result_ready.emit(_result(TURN, clock.t))
    texts = texts_for(KioskConfig())
    assert w.flow.state.screen is Screen.CHALLENGE and w.stack.currentWidget() is w.camera_page
    assert w.camera_label.text() == texts.turn_head == "Please turn your head a little"
    assert "#ffb000" in w.camera_label.styleSheet()  # amber: a request, like "lower your mask"
    w._set_language("de")
    assert w.camera_label.text() == texts_for(KioskConfig(), "de").turn_head != texts.turn_head
    clock.t += 0.1
    worker.result_ready.emit(_result(dataclasses.replace(TURN, challenge=ChallengeKind.BLINK), clock.t))
    assert w.camera_label.text() == texts_for(KioskConfig(), "de").blink
    assert worker.focus[-1] == 7
    _force_close(w)


# -- the real worker, in lockstep ---------------------------------------------------------------


@pytest.fixture
def live(qtbot, tmp_path, enrolled_db):  # noqa: F811
    start, made = _live_starter(qtbot, tmp_path, enrolled_db)
    yield start
    _stop_all(made)


@pytest.mark.data
def test_a_real_visitor_is_greeted_once_judged_live(qtbot, live):
    config = Config(kiosk=KioskConfig(greeting_s=1, cooldown_s=600), liveness=LivenessConfig(mode="passive"))
    w, worker, g = live(lambda: _Clip(shared("video", FEMALE), gap=30), config=config, lockstep=True)
    seen = _screens(w)
    qtbot.waitUntil(lambda: any(s.screen is Screen.GREETING for s in seen), timeout=CLIP_TIMEOUT_MS)
    assert w.greeting_label.text() == "Welcome, Demo!"
    assert not any(s.screen is Screen.REFUSED for s in seen)
    arrival = next(e for e in w.session.events if e.event == "arrival")
    assert arrival.liveness is not None and arrival.liveness["state"] == "live"
    assert [(v.name, v.kind) for v in g.visits(NOON.date())] == [("Demo", "checkin")]
    _force_close(w)


@pytest.fixture
def portrait_db(tmp_path_factory, pipeline, astronaut_rgb):
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face
    from kiosk.gallery import Gallery
    from kiosk.gallery.api import PersonDetails

    db = tmp_path_factory.mktemp("portrait") / "portrait.db"
    with Gallery(db, encrypt=False) as g:
        g.add_person(PersonDetails("Eileen Collins"),
                     [make_sample(pipeline, pick_enrollment_face(pipeline.analyze(astronaut_rgb)))],
                     pipeline.model_version)
    return db


def test_a_photo_carried_to_the_camera_is_refused_and_nobody_is_greeted(qtbot, tmp_path, portrait_db, pipeline,
                                                                         astronaut_rgb):
    from live_helpers import ScriptedSource
    from test_watch_liveness import as_lfw_photo

    from kiosk.diagnostics.arrivals import FPS
    from kiosk.diagnostics.photo_attacks import attack_frames

    frames = attack_frames("walk_up", as_lfw_photo(astronaut_rgb, pipeline), np.random.default_rng(100))
    clip = [next(frames) for _ in range(int(5 * FPS))]
    start, made = _live_starter(qtbot, tmp_path, portrait_db)
    try:
        config = Config(kiosk=KioskConfig(greeting_s=1, receptionist_screen=0),
                        liveness=LivenessConfig(mode="passive"))
        w, worker, g = start(lambda: ScriptedSource(lambda i: clip[min(i, len(clip) - 1)], fps=FPS, length=len(clip)),
                             config=config, lockstep=True)
        seen = _screens(w)
        qtbot.waitUntil(lambda: any(s.screen is Screen.REFUSED for s in seen), timeout=CLIP_TIMEOUT_MS)
        assert not any(s.screen is Screen.GREETING for s in seen)
        assert w.message_label.text() == texts_for(config.kiosk).refused
        assert "Eileen Collins" in w.receptionist.alerts.item(0).text()
        assert [e.event for e in w.session.events] == ["presentation_attack"]
        assert g.visits() == []
        _force_close(w)
    finally:
        _stop_all(made)


def test_the_settings_dialog_sets_the_liveness_mode(qtbot):
    from ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Config(liveness=LivenessConfig(mode="passive", live_score=0.9)))
    qtbot.addWidget(dialog)
    assert dialog.liveness_mode.currentText() == "passive"
    assert [dialog.liveness_mode.itemText(i) for i in range(dialog.liveness_mode.count())] == [
        "off", "passive", "active"]
    dialog.liveness_mode.setCurrentText("off")
    assert "greeted as them" in dialog.liveness_note.text()  # the operator is told what off means
    dialog.liveness_mode.setCurrentText("active")
    assert "turn their head" in dialog.liveness_note.text()
    dialog.accept()
    new = dialog.result_config()
    assert new is not None and new.liveness.mode == "active"
    assert new.liveness.live_score == 0.9  # the dialog changes the mode only
