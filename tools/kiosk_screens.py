"""Screenshots of the kiosk's visitor screens, for a person to look at (docs/i18n.md).

    .venv/bin/python tools/kiosk_screens.py --size 1280x800 --language de --out /tmp/screens

Makes a throw-away gallery with two hosts, an expected guest and a visitor signed in without
face data, opens the kiosk window with a stand-in camera (the vendored portrait standing in the
lobby), walks through every visitor screen and saves one PNG per screen. Run it under
`xvfb-run -a` to see a real X window, or with QT_QPA_PLATFORM=offscreen.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    """Save a PNG per visitor screen."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--language", default="en")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))

    import numpy as np
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication

    from kiosk.capture.images import load_rgb
    from kiosk.capture.reader import CameraState, CameraStatus
    from kiosk.capture.sources import Frame
    from kiosk.checkin.flow import KioskState, Screen
    from kiosk.config import Config
    from kiosk.diagnostics.arrivals import walk_up_frames
    from kiosk.frontdesk import FrontDesk, InvitationForm, SignInForm
    from kiosk.gallery import Gallery, PersonDetails
    from kiosk.gallery.api import NewSample, NewTemplate
    from ui.kiosk_mode import KioskWindow

    portrait = load_rgb(ROOT / "resources" / "images" / "astronaut.png")[::2, ::2]  # about LFW's face size
    walk = walk_up_frames(portrait, np.random.default_rng(0), seconds=0.2)
    still = Frame(0, [next(walk) for _ in range(3)][-1], 0.0)

    class StillWorker(QObject):
        result_ready = Signal(object)
        camera_status = Signal(object)
        failed = Signal(str)
        finished = Signal()
        camera = CameraStatus(CameraState.LIVE, "still")

        def latest_frame(self):
            return still

        def isRunning(self) -> bool:  # noqa: N802
            return True

    app = QApplication.instance() or QApplication([])
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        gallery = Gallery(Path(tmp) / "g.db")
        config = Config.model_validate({"kiosk": {"language": args.language}, "privacy": {"encrypt": False}})
        rng = np.random.default_rng(0)
        for name in ("Grace Hopper", "Alan Turing"):
            # Hosts are staff: enrolled with a face (a random stand-in here).
            sample = NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                               [NewTemplate("full", rng.standard_normal(8).astype(np.float32), 0.5)])
            pid = gallery.add_person(PersonDetails(name), [sample], "stand-in@0")
            gallery.set_host(pid, True, "")
        desk = FrontDesk(gallery, config)
        desk.invite(InvitationForm("Katherine Johnson", gallery.hosts()[0].id, dt.date.today()))
        # Signed in without face consent: she leaves by typing her name.
        desk.sign_in(SignInForm("Dorothy Vaughan", "NASA", gallery.hosts()[0].id, config.frontdesk.agreement_version))
        w = KioskWindow(StillWorker(), gallery, config, unlock=lambda parent: True)
        w.resize(width, height)
        w.show()
        front, flow = w.front, w.front.flow

        def shot(name: str) -> None:
            from PySide6.QtTest import QTest

            QTest.qWait(200)  # the camera pages pull their picture on a timer
            app.processEvents()
            w.grab().save(str(args.out / f"{args.language}-{width}x{height}-{name}.png"))

        shot("01-attract")
        flow.start_sign_in()
        front.panel.name_page.name.setText("Ada Lovelace")
        front.panel.name_page.company.setText("Analytical Engines Ltd")
        shot("02-name")
        flow.submit_name("Ada Lovelace", "Analytical Engines Ltd")
        front.panel.host_page.search.setText("gra")
        shot("03-host")
        flow.choose_host(gallery.hosts("Grace")[0])
        shot("04-agreement")
        flow.accept()
        shot("05-face-consent")
        flow.choose_face(True)
        shot("06-capture")
        from kiosk.signin.capture import OR_JUST_LOOK, VISITOR_STEPS

        t = front.panel.t  # what the page says at a turn step once the visitor had time to turn
        front.panel.capture_page.prompt.setText(t(VISITOR_STEPS[1].instruction))
        front.panel.capture_page.second.setText(t(OR_JUST_LOOK))
        front.panel.capture_page.progress.setText(t("Photo {n} of {total}", n=2, total=3))
        shot("06b-capture-turn")
        flow.skip_capture()
        shot("07-done")
        flow.cancel()
        flow.start_expected()
        front.panel.expected_page.search.setText("kat")
        shot("08-expected")
        flow.start_leaving()
        shot("09-leaving")
        flow.leave_by_name()
        front.panel.leaving_name_page.search.setText("doro")
        shot("10-leaving-by-name")
        flow.pick_leaving(flow.leaving_matches("doro")[0])
        shot("11-signed-out")
        flow.cancel()
        flow.start_leaving()
        flow.timing = type(flow.timing)(leaving_s=0.0)
        flow.tick()
        shot("12-not-recognised")
        flow.cancel()
        # The recognition screens that carry words: the liveness check's prompts and its card.
        for name, state in (("13-approaching", KioskState(Screen.APPROACHING, 0.0, 1)),
                            ("14-turn-head", KioskState(Screen.CHALLENGE, 0.0, 1, challenge="turn")),
                            ("15-blink", KioskState(Screen.CHALLENGE, 0.0, 1, challenge="blink")),
                            ("16-refused", KioskState(Screen.REFUSED, 0.0, 1))):
            w._show(state)
            shot(name)
        w.locked = False
        w.close()
        gallery.close()
    print(f"screens in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
