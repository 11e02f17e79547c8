"""The options of the gallery benchmark (kiosk.diagnostics.gallery_bench), apart from it: every
`face-kiosk` command builds the whole parser, and the benchmark's own imports (numpy, the
gallery, the matcher) are no part of a command that does not run it."""

from __future__ import annotations

import argparse


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options (tools/bench_gallery.py and `face-kiosk bench --backends`)."""
    ap.add_argument("--backend-sizes", default="100000,1000000", help="gallery sizes (templates)")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--backend-repeat", type=int, default=20)
    ap.add_argument("--hnsw-max", type=int, default=100_000, help="build HNSW only up to this many templates")
