"""`face-kiosk visits --on-site` (the evacuation list: text, CSV, JSON lines, or a PDF through the
desktop app's print support) and `face-kiosk visits sign-out` (one person, one visit, or the
end-of-day sweep). Part of the `visits` command (kiosk.cli.shared)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kiosk.cli.common import open_gallery, say
from kiosk.config import config_from_args
from kiosk.errors import KioskError


def add_options(p: argparse.ArgumentParser) -> None:
    """The front desk's options of `visits`."""
    p.add_argument("action", nargs="?", choices=["sign-out"],
                   help="sign-out: close open visits (--person, --visit or --end-of-day)")
    p.add_argument("--on-site", action="store_true", help="who is inside now (staff and visitors): the evacuation list")
    p.add_argument("--pdf", metavar="FILE", help="with --on-site: write the list as a PDF")
    p.add_argument("--person", help="sign-out: this person (id or exact name)")
    p.add_argument("--visit", type=int, help="sign-out: this visit")
    p.add_argument("--end-of-day", action="store_true",
                   help="sign-out: every visit still open from before the last end of day (frontdesk.end_of_day)")


def wants(args: argparse.Namespace) -> bool:
    """Whether `visits` was asked for the front desk's part."""
    return bool(getattr(args, "on_site", False) or getattr(args, "action", None) or getattr(args, "pdf", None))


def run(args: argparse.Namespace) -> int:
    """The on-site list or a sign-out."""
    if args.action == "sign-out":
        return _sign_out(args)
    if not args.on_site:
        raise KioskError("--pdf goes with --on-site")
    return _on_site(args)


def _on_site(args: argparse.Namespace) -> int:
    from kiosk.frontdesk import FrontDesk

    config = config_from_args(args)
    with open_gallery(args, admin=True, purpose="the on-site list") as gallery:
        report = FrontDesk(gallery, config).on_site()
    if args.pdf:
        writer = getattr(args, "onsite_pdf", None)
        if writer is None:
            raise KioskError("a PDF needs the desktop app's print support (run the `face-kiosk` of the app, "
                             "not `python -m kiosk`); --csv or plain text work everywhere")
        writer(report, Path(args.pdf))
        say(f"{args.pdf}: {len(report.rows)} people on site")
    elif args.csv:
        sys.stdout.write(report.to_csv())
    elif args.jsonl:
        sys.stdout.write(report.to_jsonl())
    else:
        sys.stdout.write(report.to_text())
    return 0


def _sign_out(args: argparse.Namespace) -> int:
    from kiosk.frontdesk import FrontDesk

    chosen = [bool(args.person), args.visit is not None, bool(args.end_of_day)]
    if sum(chosen) != 1:
        raise KioskError("visits sign-out needs one of --person REF, --visit ID or --end-of-day")
    config = config_from_args(args)
    with open_gallery(args, admin=True, purpose="sign-out") as gallery:
        desk = FrontDesk(gallery, config, kiosk=args.kiosk or None)
        if args.person:
            person = gallery.resolve(args.person)
            done = desk.sign_out_person(person.id, "receptionist")
            who = person.name
        elif args.visit is not None:
            done = desk.sign_out_visit(args.visit, "receptionist")
            who = f"visit {args.visit}"
        else:
            if config.frontdesk.end_of_day is None:
                raise KioskError("frontdesk.end_of_day is off in the config; sign out by --person or --visit")
            done = desk.end_of_day()
            who = "end of day"
    say(f"{who}: {len(done.visit_ids)} open visit(s) signed out" if done else f"{who}: nothing was open")
    return 0
