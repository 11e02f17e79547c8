"""The `face-kiosk` command: the headless CLI of kiosk.cli plus the `gui` command.

It lives in `ui` because the core must never import the GUI; nothing Qt is imported
unless the app is actually started.
"""

from __future__ import annotations

import argparse
import sys


def _run_gui(args: argparse.Namespace) -> int:
    from ui.app import run_app

    return run_app(args)


def _run_live_bench(args: argparse.Namespace, config) -> int:
    from ui.live_bench import run_live_bench

    return run_live_bench(args, config)


def _write_onsite_pdf(report, path) -> None:
    from ui.onsite_pdf import write_onsite_pdf

    write_onsite_pdf(report, path)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `face-kiosk` and of the double-click app."""
    from kiosk.cli import main as cli_main

    return cli_main(argv, gui=_run_gui, live_bench=_run_live_bench, onsite_pdf=_write_onsite_pdf)


if __name__ == "__main__":
    sys.exit(main())
