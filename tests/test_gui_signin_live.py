"""End to end with the real camera pipeline (needs ../shared/data): a stranger signs in at the
kiosk with "recognise me next time", the guided capture takes their photos from a walk-up clip
fed in lockstep, and on the next walk-up the kiosk greets them by name. A second visitor who
declines: not one byte of their face reaches the gallery's files."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytestmark = [pytest.mark.gui, pytest.mark.data, pytest.mark.skip(
    reason="unfinished (issue 22): under load 17 no face embedding arrived within 240 s; not yet seen passing")]

from kiosk.checkin.flow import Screen  # noqa: E402
from kiosk.config import Config  # noqa: E402
from kiosk.gallery import Gallery, PersonDetails  # noqa: E402
from kiosk.signin.flow import Step  # noqa: E402
from tests.conftest import shared  # noqa: E402
from tests.test_gui_kiosk import FEMALE, _Clip  # noqa: E402
from tests.test_gui_signin import _sample  # noqa: E402

pytest_plugins = ["live_fixtures"]
TIMEOUT_MS = 240_000  # frames in lockstep: the outcome never depends on the speed, only the wait


def test_a_consenting_stranger_is_greeted_by_name_next_time(qtbot, tmp_path, no_dangling_threads):
    from ui.kiosk_mode import KioskWindow
    from ui.worker import LiveWorker

    clip = _Clip(shared("video", FEMALE), gap=30)  # she walks up, leaves, comes back (looped)
    db = tmp_path / "g.db"
    gallery = Gallery(db, encrypt=False)  # plaintext, so the byte scan reads what is stored
    host = gallery.add_person(PersonDetails("Grace Hopper"), [_sample(1)], "stand-in@0")
    gallery.set_host(host, True, "")
    config = Config.model_validate({"kiosk": {"greeting_s": 1, "cooldown_s": 600}, "privacy": {"encrypt": False}})
    worker = LiveWorker(config, gallery, lambda: clip, lockstep=True)
    seen_embeddings: list[np.ndarray] = []
    # No flow clock: on a lockstep worker the window decides on the clip's own time (MediaClock).
    w = KioskWindow(worker, gallery, config, unlock=lambda parent: False)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    flow = w.front.flow
    try:
        worker.start()
        # A visitor who declines: the camera sees her while she signs in, nothing of it is kept.
        worker.result_ready.connect(lambda r: seen_embeddings.extend(
            f.analysis.embedding.copy() for f in r.faces if f.analysis.embedding.size))
        flow.start_sign_in()
        flow.submit_name("Dorothy Vaughan", "")
        flow.choose_host(None)
        flow.accept()
        qtbot.waitUntil(lambda: len(seen_embeddings) >= 3, timeout=TIMEOUT_MS)
        flow.choose_face(False)
        assert flow.state.step is Step.DONE
        flow.cancel()
        # The one who consents: her own guided capture, from the clip.
        flow.start_sign_in()
        flow.submit_name("Ada Lovelace", "Engines")
        flow.choose_host(gallery.hosts()[0])
        flow.accept()
        flow.choose_face(True)
        assert flow.state.step is Step.CAPTURE
        qtbot.waitUntil(lambda: flow.state.step in (Step.DONE, Step.PROBLEM), timeout=TIMEOUT_MS)
        assert flow.state.step is Step.DONE and flow.state.face_consent, flow.state
        people = {p.name: p for p in gallery.people()}
        assert people["Ada Lovelace"].n_samples == 3 and people["Ada Lovelace"].kind == "visitor"
        assert people["Dorothy Vaughan"].n_samples == 0 and people["Dorothy Vaughan"].n_templates == 0
        flow.cancel()
        # The next walk-up: greeted by name (the running recogniser picked her up by itself).
        greeted: list[str] = []
        w.state_changed.connect(lambda s: greeted.append(s.name) if s.screen is Screen.GREETING else None)
        qtbot.waitUntil(lambda: "Ada Lovelace" in greeted, timeout=TIMEOUT_MS)
        assert w.greeting_label.text() == "Welcome, Ada Lovelace!"
    finally:
        worker.stop()
        assert worker.wait(20_000)
        w.locked = False
        w.close()
    # The byte scan: Ada's stored templates are in the file (the scan can see them), no face
    # vector the camera made while Dorothy signed in is anywhere in the gallery's files.
    gallery.close()
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("g.db*"))
    ada_vectors = [v for v in _templates_of(db, "Ada Lovelace")]
    assert ada_vectors and all(v.tobytes()[:64] in blobs for v in ada_vectors)
    assert seen_embeddings and not any(e.astype(np.float32).tobytes()[:64] in blobs for e in seen_embeddings)


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
