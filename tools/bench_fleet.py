"""How long the fleet's maintenance takes on a shared gallery: `gallery rekey` (every crop,
template, row MAC and the audit log re-sealed) and a kiosk's local offline copy (written whole,
one changed person, read back at a cold start), for N people with 2 samples each.

    .venv/bin/python tools/bench_fleet.py URL [--people 1000]

URL: a PostgreSQL server whose role may CREATE DATABASE and add pgvector (a superuser); the
database `fk_bench_fleet` is made anew there. Say the load (`uptime`) next to the numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from PIL import Image  # noqa: E402

from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails  # noqa: E402
from kiosk.gallery.local_copy import LocalCopy  # noqa: E402
from kiosk.gallery.pg_rekey import rekey_gallery  # noqa: E402
from kiosk.gallery.postgres import PgGallery  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DB = "fk_bench_fleet"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--people", type=int, default=1000)
    ns = ap.parse_args()
    with psycopg.connect(ns.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    parts = urlsplit(ns.url)
    url = urlunsplit(parts._replace(path=f"/{DB}"))
    os.environ.pop("FACE_KIOSK_SITE_KEY", None)  # the rekey keeps its keys in the temporary folder
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    tmp = Path(tempfile.mkdtemp(prefix="fk-bench-fleet-"))
    img = np.asarray(Image.open(ROOT / "resources" / "images" / "astronaut.png").convert("RGB"))
    aligned, face = np.ascontiguousarray(img[50:162, 150:262]), np.ascontiguousarray(img[0:256, 100:356])
    rng = np.random.default_rng(0)
    keys = tmp / "keys"
    with PgGallery(url, listen=False, spool_path=tmp / "s.db", keys_dir=keys) as g:
        t = time.perf_counter()
        for start in range(0, ns.people, 100):
            g.add_people([(PersonDetails(f"P{i}"), [NewSample(aligned, [NewTemplate("full", rng.standard_normal(128)
                          .astype(np.float32))], "bench", 0.5, False, face) for _ in range(2)])
                          for i in range(start, min(ns.people, start + 100))], "bench")
        print(f"enrolled {ns.people} people x 2 samples in {time.perf_counter() - t:.1f} s")
        for i in range(ns.people):
            g.record_visit(i + 1, "checkin", 0.9, site="hq")
        t = time.perf_counter()
        templates = g.templates("bench")
        print(f"templates(): {len(templates)} templates from the server in {time.perf_counter() - t:.2f} s")
        copy = LocalCopy(tmp / "copy.db")
        ids = np.arange(len(templates))
        t = time.perf_counter()
        copy.save(g.gallery_id, 1, templates, ids, None, {})
        print(f"local copy written whole: {time.perf_counter() - t:.2f} s, {os.path.getsize(tmp / 'copy.db') / 1e6:.1f} MB")
        t = time.perf_counter()
        copy.save(g.gallery_id, 2, templates, ids, [1], {})
        print(f"local copy, one changed person: {time.perf_counter() - t:.3f} s")
        t = time.perf_counter()
        copy.load("bench")
        print(f"local copy read back: {time.perf_counter() - t:.3f} s")
        copy.close()
        t = time.perf_counter()
        report = rekey_gallery(g)
        print(f"rekey: {report.people} people, {report.samples} samples, {report.templates} templates, "
              f"{report.visits} visits, {report.audit_records} audit records in {time.perf_counter() - t:.1f} s")
    print(f"load average: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
