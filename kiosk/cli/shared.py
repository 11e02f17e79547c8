"""The shared-gallery commands: `visits` (the central visit log, per site and kiosk, as CSV; its
front-desk part, the on-site list and sign-out, is kiosk.cli.onsite) and `gallery copy` (between
a file and a PostgreSQL gallery)."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

from kiosk.cli import onsite
from kiosk.cli.common import _user, jsonl, open_gallery, require_admin
from kiosk.config import config_from_args
from kiosk.errors import KioskError


def cmd_visits(args: argparse.Namespace) -> int:
    """The visit log (newest first), filtered by day, site and kiosk; --csv for a spreadsheet."""
    from kiosk.checkin.visits import visits_csv_rows

    if onsite.wants(args):
        return onsite.run(args)
    try:
        day = dt.date.fromisoformat(args.day) if args.day else None
    except ValueError:
        raise KioskError(f"--day {args.day}: not a date (YYYY-MM-DD)") from None
    with open_gallery(args, admin=True, purpose="visits") as gallery:
        visits = gallery.visits(day, site=args.site, kiosk=args.kiosk)
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows(visits_csv_rows(visits))
    elif args.jsonl:
        for v in visits:
            jsonl({"id": v.id, "ts": v.ts, "kind": v.kind, "person_id": v.person_id, "name": v.name,
                   "score": v.score, "masked": v.masked, "source": v.source, "site": v.site, "kiosk": v.kiosk,
                   "event_id": v.event_id, "signed_out_at": v.signed_out_at,
                   "signed_out_how": v.signed_out_how or None})
    else:
        for v in visits:
            who = v.name or ("unknown visitor" if v.kind == "unknown" else f"person {v.person_id}")
            print(f"{v.ts}  {v.site or '-':<10} {v.kiosk or '-':<10} {who}")
        print(f"{len(visits)} visits")
    return 0


def cmd_gallery_copy(args: argparse.Namespace) -> int:
    """Copy a whole gallery from --from to --to (paths or postgresql:// URLs)."""
    from kiosk.gallery.copy import copy_gallery
    from kiosk.gallery.open import describe, is_url
    from kiosk.gallery.open import open_gallery as open_target

    if not args.source or not args.to:
        raise KioskError("gallery copy needs --from PATH_OR_URL and --to PATH_OR_URL")
    src_t = args.source if is_url(args.source) else Path(args.source)
    dst_t = args.to if is_url(args.to) else Path(args.to)
    if describe(src_t) == describe(dst_t):
        raise KioskError("--from and --to are the same gallery")
    cfg = config_from_args(args)
    actor = f"cli:{_user()}"
    with open_target(src_t, create=False, actor=actor, listen=False) as source:
        require_admin(source, "gallery copy")
        with open_target(dst_t, create=True, encrypt=cfg.privacy.encrypt, actor=actor, listen=False,
                         encrypt_templates=cfg.gallery.encrypt_templates, tighten_folder=False) as target:
            require_admin(target, "gallery copy (into a gallery with its own PIN)")
            report = copy_gallery(source, target, source_name=describe(src_t), merge=args.merge or args.force)
    print(f"copied {describe(src_t)} -> {describe(dst_t)}: {report.people} people, {report.samples} samples, "
          f"{report.templates} templates, {report.visits} visits, {report.audit_records} audit records "
          f"(source audit log {'ok' if report.source_audit_ok else 'NOT ok: see audit verify'}); counts verified"
          + (f"; {report.already_there} people were there already (kept as they are)" if report.already_there else ""))
    return 0


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """The `visits` parser (`gallery copy` hangs off the privacy commands' `gallery`)."""
    p = sub.add_parser("visits", parents=[common], help="the visit log, by day, site and kiosk (CSV export)")
    p.add_argument("--day", help="one day (YYYY-MM-DD)")
    p.add_argument("--site", help="only this site's visits")
    p.add_argument("--kiosk", help="only this kiosk's visits")
    p.add_argument("--csv", action="store_true", help="CSV on stdout (a header, oldest first)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per visit")
    onsite.add_options(p)
    p.set_defaults(func=cmd_visits)
