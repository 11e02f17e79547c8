"""The front desk's commands (docs/front-desk.md): `invite` (one guest, or a CSV), `invitations`
(a day's list, cancel) and `hosts` (who visitors may name as host)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.cli.common import jsonl, open_gallery, say
from kiosk.cli.pipelines import command_pipeline
from kiosk.config import Config, config_from_args
from kiosk.errors import KioskError

if TYPE_CHECKING:
    from kiosk.frontdesk import FrontDesk
    from kiosk.gallery.api import GalleryStore, NewSample
    from kiosk.gallery.frontdesk_api import Invitation


def parse_day(text: str | None, option: str = "--date") -> dt.date:
    """A YYYY-MM-DD date, "today" or "tomorrow" (today when None)."""
    today = dt.date.today()
    if text is None or text.strip().lower() == "today":
        return today
    if text.strip().lower() == "tomorrow":
        return today + dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise KioskError(f"{option} {text}: not a date (YYYY-MM-DD, today or tomorrow)") from None


def cmd_invite(args: argparse.Namespace) -> int:
    """Invite one guest (--name/--host/--date), or everyone a CSV lists (--csv)."""
    from kiosk.frontdesk import FrontDesk, InvitationForm

    config = config_from_args(args)
    if bool(args.csv) == bool(args.name or args.person):
        raise KioskError("give --name NAME --host HOST --date DATE (or --person REF), or --csv FILE")
    with open_gallery(args, admin=True, purpose="invite") as gallery:
        desk = FrontDesk(gallery, config)
        if args.csv:
            return _invite_csv(args, config, desk)
        if not args.host:
            raise KioskError("--host is required (a host's name or id; `face-kiosk hosts` lists them)")
        host = _host_ref(desk, args.host)
        day = parse_day(args.date)
        if args.person:
            person = gallery.resolve(args.person)
            if args.photo:
                raise KioskError("--photo is for a new guest; an existing person keeps their photos")
            invitation = gallery.get_invitation(gallery.add_invitation(person.id, host, day))
            if person.kind == "visitor":  # a returning visitor: their host is this one now
                gallery.set_visitor_host(person.id, host)
        else:
            samples, version = _photo_samples(config, gallery, Path(args.photo)) if args.photo else ([], "")
            invitation = desk.invite(InvitationForm(args.name, host, day, args.company or ""), samples, version)
    _print_invitation(invitation, args.jsonl)
    return 0


def _invite_csv(args: argparse.Namespace, config: Config, desk: FrontDesk) -> int:
    from kiosk.frontdesk.invitations_csv import import_invitations, read_csv_text

    path = Path(args.csv)
    pipeline = None

    def load_photo(photo: Path) -> list[NewSample]:
        nonlocal pipeline
        from kiosk.enrollment.samples import sample_from_image

        if pipeline is None:
            pipeline = command_pipeline(config)
        sample = sample_from_image(pipeline, photo)
        _refuse_duplicates(config, desk.gallery, [sample], pipeline.model_version)
        return [sample]

    version = ""
    if _csv_has_photos(path):
        pipeline = command_pipeline(config)
        version = pipeline.model_version
    report = import_invitations(desk, read_csv_text(path), base_dir=path.parent, load_photo=load_photo,
                                model_version=version)
    for line in report.lines:
        if args.jsonl:
            jsonl({"line": line.line, "name": line.name, "invitation_id": line.invitation_id,
                   "error": line.error or None})
        elif line.error:
            say(f"{path}:{line.line}: {line.name or '(no name)'}: {line.error}", err=True)
    say(f"{report.invited} invited, {len(report.errors)} line(s) refused", err=args.jsonl)
    return 1 if report.errors else 0


def _csv_has_photos(path: Path) -> bool:
    try:
        first = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()[:1]
    except OSError:
        return False
    return bool(first) and "photo" in first[0].lower()


def _photo_samples(config: Config, gallery: GalleryStore, photo: Path) -> tuple[list[NewSample], str]:
    from kiosk.enrollment.samples import sample_from_image

    pipeline = command_pipeline(config)
    sample = sample_from_image(pipeline, photo)
    _refuse_duplicates(config, gallery, [sample], pipeline.model_version)
    return [sample], pipeline.model_version


def _refuse_duplicates(config: Config, gallery: GalleryStore, samples: list[NewSample], version: str) -> None:
    """A guest's photo that looks like someone enrolled would make two people of one face."""
    import numpy as np

    from kiosk.enrollment.duplicates import find_duplicates

    vectors = np.stack([s.templates[0].embedding for s in samples])
    found = find_duplicates(gallery.templates(version), vectors, np.array([s.masked for s in samples]), config.match)
    if found:
        best = found[0]
        raise KioskError(f"the photo looks like {best.name} (id {best.person_id}), already in the gallery; "
                         f"invite them with --person {best.person_id}")


def _host_ref(desk: FrontDesk, ref: str) -> int:
    hosts = desk.hosts()
    ref = ref.strip()
    found = [h for h in hosts if (ref.isdigit() and h.id == int(ref)) or h.name.lower() == ref.lower()]
    if len(found) != 1:
        near = [h.name for h in desk.hosts(ref)][:5]
        hint = f" (did you mean: {', '.join(near)}?)" if near else " (`face-kiosk hosts add NAME` marks one)"
        raise KioskError(f"{ref!r} is {'not a host' if not found else 'several hosts; use the id'}{hint}")
    return found[0].id


def _print_invitation(i: Invitation, as_json: bool, no_show: bool = False) -> None:
    if as_json:
        jsonl({"id": i.id, "person_id": i.person_id, "name": i.name, "company": i.company, "host_id": i.host_id,
               "host": i.host_name, "date": i.day, "status": "no-show" if no_show else i.status,
               "arrived": i.arrived_at, "face": i.has_face})
        return
    company = f" ({i.company})" if i.company else ""
    status = "no-show" if no_show else i.status
    arrived = f" at {i.arrived_at[11:16]}" if i.arrived_at else ""
    face = ", greeted by face" if i.has_face else ""
    say(f"{i.id:>5}  {i.day}  {i.name}{company}, host {i.host_name or '-'}: {status}{arrived}{face}")


def cmd_invitations(args: argparse.Namespace) -> int:
    """A day's invitations (today by default) with no-shows; --cancel ID cancels one."""
    from kiosk.frontdesk import FrontDesk

    config = config_from_args(args)
    with open_gallery(args, admin=bool(args.cancel), purpose="invitations") as gallery:
        desk = FrontDesk(gallery, config)
        if args.cancel:
            desk.cancel_invitation(args.cancel)
            say(f"invitation {args.cancel} cancelled")
            return 0
        rows = gallery.invitations(None if args.all else parse_day(args.date))
        now = desk.clock()
    for i in rows:
        _print_invitation(i, args.jsonl, i.is_no_show(now, config.frontdesk.no_show_time))
    if not args.jsonl:
        say(f"{len(rows)} invitation(s)")
    return 0


def cmd_hosts(args: argparse.Namespace) -> int:
    """List the hosts, or mark staff as hosts (with a contact) or not."""
    with open_gallery(args, admin=args.action != "list", purpose="hosts") as gallery:
        if args.action == "list":
            for h in gallery.hosts(args.search or ""):
                if args.jsonl:
                    jsonl({"id": h.id, "name": h.name, "company": h.company, "contact": h.contact})
                else:
                    say(f"{h.id:>5}  {h.name}{f' ({h.company})' if h.company else ''}  {h.contact or '(no contact)'}")
            return 0
        person = gallery.resolve(args.person)
        gallery.set_host(person.id, args.action == "add", args.contact or (person.contact if args.action == "add" else ""))
    say(f"{person.name} (id {person.id}) {'is a host now' if args.action == 'add' else 'is no longer a host'}")
    return 0


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """The `invite`, `invitations` and `hosts` parsers."""
    p = sub.add_parser("invite", parents=[common], help="expect a guest on a day (or a CSV of guests)")
    p.add_argument("--name", help="the guest's name")
    p.add_argument("--person", help="invite someone already in the gallery (id or exact name)")
    p.add_argument("--host", help="the host's name or id (see `face-kiosk hosts`)")
    p.add_argument("--date", help="YYYY-MM-DD, today or tomorrow (default: today)")
    p.add_argument("--company")
    p.add_argument("--photo", help="a photo of the guest: they are greeted by face on arrival")
    p.add_argument("--csv", metavar="FILE", help="columns name,host,date[,company,photo]; a report per line")
    p.add_argument("--jsonl", action="store_true", help="JSON lines")
    p.set_defaults(func=cmd_invite)

    p = sub.add_parser("invitations", parents=[common], help="a day's expected guests, arrivals and no-shows")
    p.add_argument("--date", help="YYYY-MM-DD, today or tomorrow (default: today)")
    p.add_argument("--all", action="store_true", help="every day")
    p.add_argument("--cancel", type=int, metavar="ID", help="cancel this invitation")
    p.add_argument("--jsonl", action="store_true", help="JSON lines")
    p.set_defaults(func=cmd_invitations)

    p = sub.add_parser("hosts", parents=[common], help="who visitors may name as host")
    hsub = p.add_subparsers(dest="action", required=True)
    q = hsub.add_parser("list", parents=[common])
    q.add_argument("--search", help="a part of the name")
    q.add_argument("--jsonl", action="store_true")
    for action, text in (("add", "mark staff as a host"), ("remove", "no longer a host")):
        q = hsub.add_parser(action, parents=[common], help=text)
        q.add_argument("person", help="id or exact name")
        if action == "add":
            q.add_argument("--contact", help="e-mail address or apprise URL their visitors' notifications go to")
    p.set_defaults(func=cmd_hosts)
