"""The front desk end to end on the real camera pipeline (needs ../shared/data): two strangers
walk up to the kiosk one after the other (development photos walking up, tests/stage.py, fed to
the real LiveWorker in lockstep) and sign in by tapping the screen. The first declines "recognise
me next time": her host is told, her badge is printed, and not one face vector the camera made
of her reaches the gallery's files (a byte scan). The second consents: her own guided capture
takes three photos from the camera, her host is told, her badge carries her photo, and when she
walks up again the kiosk greets her by name, without a second visit or a second notification.
When the first comes back to leave, the camera cannot know her: she signs out by typing her name.

The clips are photos carried to the camera, so the liveness check is off here, explicitly.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("PySide6")
# The per-test limit as a hang guard only: about 2 minutes at load 20 on 2 cores, all in lockstep.
pytestmark = [pytest.mark.gui, pytest.mark.data, pytest.mark.timeout(1200)]

from PySide6.QtCore import Qt  # noqa: E402

from kiosk.capture.images import load_rgb  # noqa: E402
from kiosk.checkin.flow import Screen  # noqa: E402
from kiosk.config import Config  # noqa: E402
from kiosk.events import EventBus  # noqa: E402
from kiosk.gallery import Gallery, PersonDetails  # noqa: E402
from kiosk.gallery.api import NewSample, NewTemplate  # noqa: E402
from kiosk.signin.flow import Step  # noqa: E402
from tests.conftest import shared  # noqa: E402
from tests.stage import GONE_FRAMES, Stage, Watcher  # noqa: E402
from tests.test_gui_signin import _tap, _type  # noqa: E402

pytest_plugins = ["live_fixtures", "events_fixtures"]
HANG_MS = 300_000  # a hang guard only: frames go in lockstep, the outcome never depends on speed


def _config(tmp_path) -> Config:
    return Config.model_validate({
        "kiosk": {"greeting_s": 1, "cooldown_s": 600},
        "privacy": {"encrypt": False},  # plaintext, so the byte scan reads what is stored
        "liveness": {"mode": "off"},  # the visitors are photos walking up (see the docstring)
        "events": {"kiosk": "lobby", "kiosk_name": "Lobby", "site": "hq", "notify": {}},
        "badges": {"print_on_sign_in": True, "printer": "pdf", "folder": str(tmp_path / "badges")},
    })


def _walk_up(qtbot, stage: Stage, watcher: Watcher, photo: np.ndarray) -> int:
    """Empty the lobby, let `photo` walk up, and return their track once the kiosk has seen them
    (results arrive in order: nothing of the one before can come after it)."""
    stage.leave()
    qtbot.waitUntil(lambda: watcher.empty_in_a_row >= GONE_FRAMES, timeout=HANG_MS)
    mark = watcher.mark()
    stage.enter(photo)
    qtbot.waitUntil(lambda: watcher.new_track_since(mark) is not None, timeout=HANG_MS)
    track = watcher.new_track_since(mark)
    assert track is not None
    return track


def _to_the_face_consent(qtbot, w, name: str, company: str) -> None:
    """Tap "First time here?", type name and company, pick the host, agree."""
    panel = w.front.panel
    _tap(qtbot, w.front.start_bar.first_time)
    _type(qtbot, panel.name_page, name)
    qtbot.mouseClick(panel.name_page.company, Qt.MouseButton.LeftButton)
    _type(qtbot, panel.name_page, company)
    _tap(qtbot, panel.name_page.next)
    _type(qtbot, panel.host_page, "gra")
    assert [b.text() for b in panel.host_page.choices if b.isVisible()] == ["Grace Hopper"]
    _tap(qtbot, panel.host_page.choices[0])
    _tap(qtbot, panel.agreement_page.agree)
    assert panel.currentWidget() is panel.face_page


def _card(w) -> list[str]:
    card = w.front.panel.card_page
    return [card.title.text()] + [label.text() for label in card.lines if label.isVisible()]


def _pdf(tool: str, path) -> str:
    if shutil.which(tool) is None:
        pytest.skip(f"needs {tool} (poppler-utils; .ci/run installs it)")
    return subprocess.run([tool, *(["-list"] if tool == "pdfimages" else []), str(path),
                           *(["-"] if tool == "pdftotext" else [])],
                          check=True, capture_output=True, text=True).stdout


def test_a_stranger_signs_in_and_is_greeted_by_name_next_time_only_with_consent(
        qtbot, tmp_path, receivers, pipeline, no_dangling_threads):
    from ui.kiosk_mode import KioskWindow
    from ui.worker import LiveWorker

    # Development photos (tests/stage.py walks them up). Ada's faces the camera (the capture's
    # frontal gate passes once she stands close) and never turns: the turn steps take her frontal
    # face after their patience, as for a visitor who will not turn.
    ada = load_rgb(shared("lfw-dev", "images", "Emily_Mortimer", "Emily_Mortimer_0001.jpg"))
    dorothy = load_rgb(shared("lfw-dev", "images", "AJ_Cook", "AJ_Cook_0001.jpg"))
    config = _config(tmp_path)
    db = tmp_path / "g.db"
    gallery = Gallery(db, encrypt=False)
    host_rx = receivers()
    # The host: staff enrolled by the app's own model (a random face: nobody who walks up).
    vec = np.random.default_rng(7).standard_normal(128).astype(np.float32)
    grace = gallery.add_person(PersonDetails("Grace Hopper"), [NewSample(np.zeros((112, 112, 3), np.uint8),
                                                                         [NewTemplate("full", vec)])],
                               pipeline.model_version)
    gallery.set_host(grace, True, f"json://127.0.0.1:{host_rx.port}/grace")
    directory = Gallery(db, encrypt=False)  # the notifier's own connection (its thread)
    bus = EventBus.from_config(config.events, directory=directory)
    stage = Stage()
    worker = LiveWorker(config, gallery, lambda: stage, lockstep=True)
    watcher = Watcher()
    worker.result_ready.connect(watcher.seen)
    # No flow clock: on a lockstep worker the window decides on the frames' own time (MediaClock).
    w = KioskWindow(worker, gallery, config, unlock=lambda parent: False, publish=bus.publish)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    flow, panel = w.front.flow, w.front.panel
    greeted: list[str] = []
    w.state_changed.connect(lambda s: greeted.append(s.name) if s.screen is Screen.GREETING else None)
    try:
        worker.start()
        # Dorothy walks up; nobody knows her. She signs in, and the camera goes on recognising
        # while she does: it embeds her face, and none of it may be kept.
        dorothy_track = _walk_up(qtbot, stage, watcher, dorothy)
        _to_the_face_consent(qtbot, w, "dorothy vaughan", "nasa")
        qtbot.waitUntil(lambda: len(watcher.embeddings.get(dorothy_track, [])) >= 3, timeout=HANG_MS)
        _tap(qtbot, panel.face_page.no)
        assert flow.state.step is Step.DONE and not flow.state.face_consent
        assert _card(w) == ["Thank you, Dorothy Vaughan!", "Grace Hopper has been told you are here.",
                            "Please take your visitor badge from the printer."]
        _tap(qtbot, panel.card_page.done)

        # Ada walks up and says yes: her own guided capture, from the camera.
        _walk_up(qtbot, stage, watcher, ada)
        _to_the_face_consent(qtbot, w, "ada lovelace", "engines")
        _tap(qtbot, panel.face_page.yes)
        assert flow.state.step is Step.CAPTURE and panel.currentWidget() is panel.capture_page
        qtbot.waitUntil(lambda: flow.state.step in (Step.DONE, Step.PROBLEM), timeout=HANG_MS)
        assert flow.state.step is Step.DONE and flow.state.face_consent, flow.state
        assert _card(w) == ["Thank you, Ada Lovelace!", "Grace Hopper has been told you are here.",
                            "Please take your visitor badge from the printer.",
                            "Next time the kiosk will greet you by name."]
        people = {p.name: p for p in gallery.people()}
        assert (people["Ada Lovelace"].kind, people["Ada Lovelace"].n_samples) == ("visitor", 3)
        assert people["Ada Lovelace"].host_id == grace and people["Ada Lovelace"].consent_text
        assert (people["Ada Lovelace"].agreement_version, people["Ada Lovelace"].agreement_language) == ("1", "en")
        assert (people["Dorothy Vaughan"].n_samples, people["Dorothy Vaughan"].n_templates) == (0, 0)
        assert not people["Dorothy Vaughan"].consent_text
        _tap(qtbot, panel.card_page.done)
        assert w.stack.currentWidget() is not panel

        # The next walk-up: the running recogniser knows her now.
        def arrivals() -> list:
            return [e for e in w.session.events if e.event == "arrival"]

        # Her sign-in's track may already have been greeted once she was in the gallery (a waiting
        # track is re-decided when the gallery changes): the walk-up must bring a greeting of its own.
        before = len(arrivals())
        _walk_up(qtbot, stage, watcher, ada)
        qtbot.waitUntil(lambda: len(arrivals()) > before, timeout=HANG_MS)
        assert w.greeting_label.text() == "Welcome, Ada Lovelace!"
        arrival = arrivals()[before]
        assert not any(e.logged for e in arrivals())
        assert arrival.person_id == people["Ada Lovelace"].id
        assert not arrival.logged  # her sign-in a minute ago is this visit: no second one, no second ping

        # Dorothy comes back to leave. The camera cannot know her (no face data): by her name.
        dorothy_again = _walk_up(qtbot, stage, watcher, dorothy)
        _tap(qtbot, w.front.start_bar.leaving)
        assert flow.state.step is Step.LEAVING
        faces = len(watcher.embeddings.get(dorothy_again, []))
        qtbot.waitUntil(lambda: len(watcher.embeddings.get(dorothy_again, [])) >= faces + 5, timeout=HANG_MS)
        assert flow.state.step is Step.LEAVING  # her face analysed on this screen, and nobody recognised
        _tap(qtbot, panel.leaving_page.by_name)
        _type(qtbot, panel.leaving_name_page, "dor")
        assert [b.text() for b in panel.leaving_name_page.choices if b.isVisible()] == ["Dorothy Vaughan"]
        _tap(qtbot, panel.leaving_name_page.choices[0])
        assert _card(w) == ["Goodbye, Dorothy Vaughan!", "You are signed out. Thank you for your visit."]
        _tap(qtbot, panel.card_page.done)
    finally:
        worker.stop()
        assert worker.wait(20_000)
        # Results still queued for the GUI thread go nowhere once the test's objects are gone.
        worker.result_ready.disconnect(watcher.seen)
        w.locked = False
        w.close()
    # The host heard of each sign-in once.
    messages = [json.loads(r.body)["message"] for r in host_rx.wait_requests(2)]
    assert messages == ["Dorothy Vaughan has signed in at Lobby to see you",
                        "Ada Lovelace has signed in at Lobby to see you"]
    bus.close(timeout=10)
    assert host_rx.count() == 2
    directory.close()
    visits = [(v.kind, v.person_id, v.signed_out_how) for v in gallery.visits() if v.person_id is not None]
    assert sorted(visits) == sorted([("sign_in", people["Dorothy Vaughan"].id, "kiosk"),
                                     ("sign_in", people["Ada Lovelace"].id, "")])  # Ada is still inside
    # The badges: one each, private, naming visitor and host; a photo only on Ada's.
    badges = sorted((tmp_path / "badges").glob("*.pdf"), key=lambda p: p.stat().st_mtime_ns)
    assert len(badges) == 2 and all(b.stat().st_mode & 0o777 == 0o600 for b in badges)
    texts = [_pdf("pdftotext", b) for b in badges]
    assert "Dorothy Vaughan" in texts[0] and "Ada Lovelace" in texts[1]
    assert all("VISITOR" in t and "Host: Grace Hopper" in t for t in texts)
    images = [len(_pdf("pdfimages", b).splitlines()) - 2 for b in badges]  # two header lines
    assert images == [0, 1]
    # The byte scan: Ada's stored templates are in the file (so the scan can see vectors), and
    # no face vector the camera made of Dorothy is anywhere in the gallery's files.
    gallery.close()
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("g.db*"))
    ada_vectors = _templates_of(db, "Ada Lovelace")
    assert len(ada_vectors) >= 3 and all(v.tobytes()[:64] in blobs for v in ada_vectors)
    seen = watcher.embeddings[dorothy_track]
    assert len(seen) >= 3 and not any(e.astype(np.float32).tobytes()[:64] in blobs for e in seen)


def _templates_of(db, name: str) -> list[np.ndarray]:
    g = Gallery(db, encrypt=False)
    try:
        person = next(p for p in g.people() if p.name == name)
        out = []
        for version in g.model_versions():
            ts = g.templates(version)
            out += [ts.matrix[i] for i in range(len(ts.person_ids)) if ts.person_ids[i] == person.id]
        return out
    finally:
        g.close()
