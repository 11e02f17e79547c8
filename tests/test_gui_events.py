"""The GUI kiosk sends the same events as `face-kiosk watch`, from the same settings.

The walk-up plays in lockstep (every frame analysed, kiosk mode deciding on the frames' own
time), so what is sent does not depend on how fast the machine is.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from live_helpers import HANG_GUARD_MS, ScriptedSource

from kiosk.config import Config, LivenessConfig
from kiosk.diagnostics.arrivals import walk_up_frames
from kiosk.events import EventsConfig, WebhookTarget, verify_signature
from kiosk.gallery import Gallery
from kiosk.gallery.api import PersonDetails
from tests.conftest import RECOGNITION_ONLY

pytest_plugins = ["events_fixtures"]

WAIT_MS = HANG_GUARD_MS


@pytest.fixture()
def gallery(tmp_path, astronaut_rgb, pipeline):
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face

    g = Gallery(tmp_path / "g.db")
    sample = make_sample(pipeline, pick_enrollment_face(pipeline.analyze(astronaut_rgb)))
    g.add_person(PersonDetails("Eileen Collins"), [sample], pipeline.model_version)
    yield g
    g.close()


def test_kiosk_mode_posts_the_arrival_to_the_configured_webhook(qtbot, gallery, astronaut_rgb, receivers,
                                                                 monkeypatch):
    import ui.kiosk_mode.window as kw
    from ui.main_window import MainWindow

    class Lock:  # the PIN dialog is tested elsewhere
        def __init__(self, gallery) -> None:
            pass

        def ensure(self, parent) -> bool:
            return True

        def __call__(self, parent) -> bool:
            return True

    monkeypatch.setattr(kw, "PinLock", Lock)
    hook = receivers()
    secret = "gui-kiosk-secret"
    config = Config(events=EventsConfig(site="hq", kiosk="lobby",
                                        webhooks=[WebhookTarget(url=hook.url, secret=secret)]),
                    liveness=LivenessConfig(mode=RECOGNITION_ONLY))  # the visitor is a photo
    frames = walk_up_frames(astronaut_rgb, np.random.default_rng(0))
    main = MainWindow(config, gallery, lambda: ScriptedSource(lambda i: next(frames), fps=10), lockstep=True)
    qtbot.addWidget(main)
    main.start()
    try:
        assert main.events is not None and main.events.sink_names
        main.enter_kiosk_mode()
        qtbot.waitUntil(lambda: hook.count() >= 1, timeout=WAIT_MS)  # the GUI thread keeps running
        (request,) = hook.wait_requests(1)
        assert verify_signature(secret, request.body, request.headers["X-Hub-Signature-256"])
        event = json.loads(request.body)
        assert (event["event"], event["person"], event["kiosk"], event["logged"]) == (
            "arrival", "Eileen Collins", "lobby", True)
        kiosk = main.child_windows[0]
        assert kiosk.session.events[0].to_dict() == event  # what the window showed is what was sent
    finally:
        main.shutdown()
    assert main.events is None  # closed with the window
    assert not kiosk.isVisible()  # the locked kiosk window closed with the app, its timers stopped
