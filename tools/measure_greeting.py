"""End to end on one PostgreSQL gallery: enrol at kiosk A (this process) while kiosk B (another
process, tests/test_gallery_two_kiosks.py's script) runs the app's Recognizer on the photo in a
loop; prints how long after A's commit B names the person, and after the removal stops.

    .venv/bin/python tools/measure_greeting.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("FACE_KIOSK_SITE_KEY", uuid.uuid4().hex + uuid.uuid4().hex)
from pg_server import PgTestServer  # noqa: E402
from test_gallery_two_kiosks import KIOSK_B  # noqa: E402

from kiosk.config import Config  # noqa: E402
from kiosk.enrollment.prepare import PendingSample, prepare_enrollment, save_enrollment  # noqa: E402
from kiosk.enrollment.samples import face_from_image  # noqa: E402
from kiosk.gallery.api import PersonDetails  # noqa: E402
from kiosk.gallery.postgres import PgGallery  # noqa: E402
from kiosk.vision.pipeline import FacePipeline  # noqa: E402

ASTRONAUT = ROOT / "resources" / "images" / "astronaut.png"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    rounds = ap.parse_args().rounds
    tmp = Path(tempfile.mkdtemp(prefix="greeting-"))
    srv = PgTestServer()
    try:
        return _run(srv, tmp, rounds)
    finally:
        srv.close()


def _run(srv: PgTestServer, tmp: Path, rounds: int) -> int:
    url = srv.url(srv.new_database())
    a = PgGallery(url, spool_path=tmp / "a.db", listen=False)
    pipe = FacePipeline(still=True)
    face = face_from_image(pipe, ASTRONAUT)
    lines: queue.Queue = queue.Queue()
    with subprocess.Popen([sys.executable, "-c", KIOSK_B, url, str(ASTRONAUT), str(tmp / "b.db")],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:

        def pump() -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                lines.put((time.perf_counter(), line.strip()))

        def wait(want: str) -> float:
            while True:
                t, line = lines.get(timeout=120)
                if want in line:
                    return float(t)

        threading.Thread(target=pump, daemon=True).start()
        wait('"ready"')
        wait('{"name": null}')
        delays: dict[str, list[float]] = {"enrol at A -> named by B": [], "remove at A -> unknown at B": []}
        for _ in range(rounds):
            prepared = prepare_enrollment(pipe, a, [PendingSample(face, "astro")], Config().match)
            t0 = time.perf_counter()
            pid = save_enrollment(a, prepared, PersonDetails("Eileen Collins"), None, allow_duplicate=True)
            delays["enrol at A -> named by B"].append(wait('"Eileen Collins"') - t0)
            t0 = time.perf_counter()
            a.remove_person(pid)
            delays["remove at A -> unknown at B"].append(wait('{"name": null}') - t0)
        (tmp / "b.db.stop").touch()
        proc.wait(30)
    for label, xs in delays.items():
        print(f"{label:<30} {', '.join(f'{x * 1000:.0f}' for x in xs)} ms (from A's call; B recognises a frame "
              f"every ~0.1 s; load average {os.getloadavg()[0]:.1f})")
    a.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
