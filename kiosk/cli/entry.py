"""The `face-kiosk` command line: its parser (each command group adds its own commands) and the
dispatch (main). Models load once per command; bad items never stop a batch."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from kiosk import __version__
from kiosk.cli import (
    common,
    diagnostics,
    enroll,
    fleet,
    frontdesk,
    identify,
    people,
    privacy,
    shared,
    watch,
)
from kiosk.cli.common import add_liveness_option
from kiosk.cli.pipelines import close_pipelines
from kiosk.config import DETECTOR_NAMES, EMBEDDER_NAMES
from kiosk.errors import KioskError

if TYPE_CHECKING:
    from kiosk.frontdesk.onsite import OnSitePdf

log = logging.getLogger("kiosk")


def start_privately() -> None:
    """What every face-kiosk process does first: no native telemetry (the app never loads
    onnxruntime; the switch is for anything else in the process that does), files private to
    the user (umask 077)."""
    from kiosk.security.private_files import set_private_umask
    from kiosk.security.telemetry import disable_native_telemetry

    disable_native_telemetry()
    set_private_umask()


def _quiet_native_logs() -> None:
    # LiteRT/TFLite print INFO lines on stderr; they drown the one-line messages we owe users.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_gui(args: argparse.Namespace) -> int:
    """Placeholder: the `face-kiosk` launcher (ui/launcher.py) replaces it with the real app.

    kiosk never imports ui (the core stays Qt-free), so `python -m kiosk gui` cannot start it.
    """
    raise KioskError("the desktop app starts through the `face-kiosk` command (ui.launcher)")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the packaged app)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="gallery database (default: the user data folder)")
    common.add_argument("--config", help="config JSON (default: the user config folder)")
    common.add_argument("--embedder", choices=EMBEDDER_NAMES,
                        help="override the embedder (mbf weights: non-commercial use only)")
    common.add_argument("--detector", choices=DETECTOR_NAMES, help="override the detector")
    common.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")

    parser = argparse.ArgumentParser(prog="face-kiosk", description="Offline mask-aware face recognition kiosk.")
    parser.add_argument("--version", action="version", version=f"face-kiosk {__version__}")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("gui", parents=[common], help="start the desktop app (default)")
    p.add_argument("--source", help="camera index, video file, image folder or stream URL")
    p.add_argument("--kiosk", action="store_true", help="start straight into fullscreen kiosk mode")
    add_liveness_option(p)
    p.add_argument("--every-frame", action="store_true",
                   help="replay a video file or folder frame by frame at its own time (slower than real "
                        "time on a slow PC; decides what `watch` decides on the file)")
    p.set_defaults(func=cmd_gui)
    # The order of `face-kiosk --help`.
    enroll.add_parsers(sub, common)
    identify.add_parsers(sub, common)
    people.add_parsers(sub, common)
    diagnostics.add_parsers(sub, common)
    privacy.add_parsers(sub, common)
    shared.add_parsers(sub, common)
    frontdesk.add_parsers(sub, common)
    fleet.add_parsers(sub, common)
    watch.add_parser(sub, common)
    return parser


def main(
    argv: list[str] | None = None,
    gui: Callable[[argparse.Namespace], int] | None = None,
    live_bench: Callable[..., int] | None = None,
    onsite_pdf: OnSitePdf | None = None,
) -> int:
    """Entry point of `face-kiosk`. Exit 0 on success, 1 on a command-level error, 2 on usage.

    `gui` (the desktop app) and `live_bench` (`bench --live`, which runs the GUI's worker)
    are handed in by ui.launcher, and so is `onsite_pdf` (`visits --on-site --pdf FILE`, which
    draws with Qt's print support): the core itself never imports the GUI.
    """
    _quiet_native_logs()
    start_privately()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `face-kiosk` starts the app on the default camera
        args = parser.parse_args(["gui"])
    if args.command == "gui" and gui is not None:
        args.func = gui
    if args.command == "bench":
        args.live_bench = live_bench
    args.onsite_pdf = onsite_pdf
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KioskError as exc:
        common.say(f"face-kiosk: error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        print("face-kiosk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a path the OS refuses that no check above caught: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        common.say(f"face-kiosk: error: {where}{exc.strerror or exc}", err=True)
        return 1
    finally:
        close_pipelines()



if __name__ == "__main__":
    sys.exit(main())
