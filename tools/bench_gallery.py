"""1:N at 100k and 1M templates, in-memory matrix vs pgvector (exact, HNSW), and start-up load
time: the same as `face-kiosk bench --backends [URL]` (kiosk/diagnostics/gallery_bench.py).

    .venv/bin/python tools/bench_gallery.py [--url URL] [--backend-sizes 100000,1000000] [--hnsw-max N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.diagnostics.gallery_bench import add_arguments, main_gallery_bench  # noqa: E402

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a PostgreSQL URL whose role may CREATE DATABASE (default: a temporary server)")
    add_arguments(ap)
    ns = ap.parse_args()
    sys.exit(main_gallery_bench(ns.url, ns))
