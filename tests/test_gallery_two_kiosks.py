"""Two kiosks, one PostgreSQL gallery, end to end: kiosk B is another process running the app's
Recognizer on a photo in a loop; people are enrolled and removed at "kiosk A" with the command
line (`--db URL`). B greets the person without a restart, and stops once they are removed.
Waits poll (generous limits on a noisy 2-core machine); nothing is timed."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading
import time

from kiosk.cli import main
from tests.conftest import ASTRONAUT

pytest_plugins = ["pg_fixtures"]

KIOSK_B = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from kiosk.capture.images import load_rgb
    from kiosk.config import Config
    from kiosk.gallery.postgres import PgGallery
    from kiosk.recognition.recognizer import Recognizer
    from kiosk.vision.pipeline import FacePipeline

    url, photo, spool = sys.argv[1:4]
    gallery = PgGallery(url, actor="kiosk-b", spool_path=spool, create=False)
    recognizer = Recognizer(Config(), gallery, FacePipeline())
    rgb = load_rgb(photo)
    last = "start"
    print(json.dumps({"ready": True}), flush=True)
    while not Path(spool + ".stop").exists():
        results, _ = recognizer.recognize_frame(rgb)
        name = results[0].name if results else None
        if name != last:
            print(json.dumps({"name": name}), flush=True)
            last = name
        time.sleep(0.05)
    gallery.close()
""")


def _lines(proc: subprocess.Popen) -> queue.Queue:
    out: queue.Queue = queue.Queue()

    def pump() -> None:
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                out.put(line.strip())
        except (OSError, ValueError):  # the pipe closed under us at the end
            pass

    threading.Thread(target=pump, daemon=True).start()
    return out


def _wait_line(lines: queue.Queue, want: str, timeout: float = 120.0) -> list[str]:
    seen: list[str] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if want in line:
            return seen
    raise AssertionError(f"kiosk B never printed {want!r}; it printed {seen}")


def test_enrolled_at_a_greeted_at_b_and_forgotten_after_removal(pg_url, tmp_path, capsys):
    from kiosk.gallery.postgres import PgGallery

    PgGallery(pg_url, listen=False, spool_path=tmp_path / "a-spool.db").close()  # B opens it create=False
    spool = str(tmp_path / "b-spool.db")
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(ASTRONAUT.parents[2]), env.get("PYTHONPATH", "")])
    err_path = tmp_path / "b.err"
    with open(err_path, "w") as err, subprocess.Popen(
            [sys.executable, "-c", KIOSK_B, pg_url, str(ASTRONAUT), spool],
            stdout=subprocess.PIPE, stderr=err, text=True, env=env) as proc:
        try:
            lines = _lines(proc)
            _wait_line(lines, '"ready"')
            _wait_line(lines, '{"name": null}')  # nobody enrolled yet: an unknown face
            assert main(["enroll", "--db", pg_url, "--consent", "test", "--name", "Eileen Collins",
                         str(ASTRONAUT)]) == 0
            _wait_line(lines, '"Eileen Collins"')
            assert main(["people", "remove", "--db", pg_url, "--yes", "Eileen Collins"]) == 0
            _wait_line(lines, '{"name": null}')
        finally:
            open(spool + ".stop", "w").close()
            try:
                proc.wait(timeout=120)  # a hang guard
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err_path.read_text()[-2000:]
    capsys.readouterr()
