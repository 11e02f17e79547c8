"""The people commands: `people list|show|rename|remove|reembed`, and `export` / `import`
(people to and from an export file)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from kiosk.cli import common
from kiosk.cli.pipelines import command_pipeline
from kiosk.config import config_from_args
from kiosk.errors import KioskError

if TYPE_CHECKING:
    from kiosk.gallery import GalleryStore, Person


def cmd_people(args: argparse.Namespace) -> int:
    """List, show, rename, remove or re-embed people."""

    # Every action needs the PIN: list and show reveal hosts' contacts, notes and consent, as
    # much as `visits` does.
    with common.open_gallery(args, admin=True, purpose=f"people {args.action}") as gallery:
        if args.action == "list":
            people = gallery.people(args.search or "")
            if args.jsonl:
                for p in people:
                    common.jsonl({"id": p.id, "name": p.name, "samples": p.n_samples, "templates": p.n_templates,
                            "consent_at": p.consent_at, "last_seen": p.last_seen, "edited_outside": p.edited})
            else:
                for p in people:
                    flag = "  EDITED OUTSIDE face-kiosk: not recognised until saved again" if p.edited else ""
                    print(f"{p.id:>5}  {p.name:<30} {p.n_samples:>3} samples  last seen {p.last_seen or '-'}{flag}")
                print(f"{len(people)} people")
        elif args.action == "show":
            p = _person(gallery, args)
            print(json.dumps({k: v for k, v in p.__dict__.items()}, indent=2, ensure_ascii=False))
        elif args.action == "rename":
            p = _person(gallery, args)
            gallery.update_person(p.id, name=args.new_name)
            print(f"renamed {p.name} -> {args.new_name.strip()} (id {p.id})")
        elif args.action == "remove":
            p = _person(gallery, args)
            common.confirm(f"Erase {p.name} (id {p.id}) with every photo, template and visit?", args.yes)
            complete = gallery.remove_person(p.id)
            print(f"removed {p.name} (id {p.id}) with all their samples, templates and visits")
            if not complete:
                print("note: the app is reading the gallery, so old copies stay in its files until the next "
                      "erase or purge", file=sys.stderr)
        elif args.action == "reembed":
            from kiosk.enrollment.samples import reembed_gallery

            report = reembed_gallery(command_pipeline(config_from_args(args)), gallery)
            old = f" ({report.from_old_crops} from an earlier version's crops)" if report.from_old_crops else ""
            print(f"re-embedded {report.samples} samples with {report.model_version}{old}")
            if report.failed:
                print(f"{len(report.failed)} sample(s) could not be aligned again and were left without a "
                      f"template (sample ids {', '.join(map(str, report.failed[:20]))}); re-enroll those people",
                      file=sys.stderr)
    return 0


def _person(gallery: GalleryStore, args: argparse.Namespace) -> Person:
    """The person a people command means: --id, --name, or the positional id-or-name (refused
    when it could be either)."""
    if getattr(args, "id", None) is not None:
        return gallery.get_person(args.id)
    if getattr(args, "name", None):
        return gallery.resolve_name(args.name)
    ref = (args.person or "").strip()
    if not ref:
        raise KioskError("say whom: --id N or --name NAME")
    if ref.isascii() and ref.isdigit():
        if gallery.find_people(ref):
            raise KioskError(f"{ref!r} is both an id and a name here; use --id {ref} or --name {ref}")
        return gallery.get_person(int(ref))
    return gallery.resolve_name(ref)


def cmd_export(args: argparse.Namespace) -> int:
    """Write people to an export: encrypted with a passphrase unless --plain."""
    from kiosk.gallery.archive import export_people

    with common.open_gallery(args, admin=True, purpose="export") as gallery:
        ids = [gallery.resolve(ref).id for ref in args.person] if args.person else None
        secret = None if args.plain else common.passphrase(confirm=True, what=f"the export {args.archive}")
        n = export_people(gallery, args.archive, ids, passphrase=secret, overwrite=args.force,
                          protected=gallery.own_files())
    kind = "a plain zip (unencrypted: keep it safe)" if args.plain else "encrypted"
    print(f"exported {n} people to {args.archive}, {kind}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Add the people of an export to the gallery (people already enrolled are skipped)."""
    from kiosk.enrollment.importing import import_archive
    from kiosk.enrollment.samples import templates_for_crops

    config = config_from_args(args)
    pipeline = command_pipeline(config)
    reembed = (lambda aligned, crop, masked: templates_for_crops(pipeline, aligned, crop, masked)) if args.reembed else None
    from kiosk.security.export_crypto import is_encrypted_export

    with common.open_gallery(args, create=True, admin=True, purpose="import") as gallery:
        secret = common.passphrase(False, f"the export {args.archive}") if is_encrypted_export(args.archive) else None
        report = import_archive(gallery, args.archive, pipeline.model_version, config.match, reembed,
                                allow_duplicates=args.allow_duplicates, passphrase=secret,
                                dim=pipeline.embedding.dim)
    for name, reason in report.skipped:
        print(f"skipped: {name}: {reason}", file=sys.stderr)
    print(f"imported {len(report.added)} people from {args.archive}"
          + (f", {len(report.skipped)} skipped" if report.skipped else ""))
    return 0

def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """The `people`, `export` and `import` parsers."""
    p = sub.add_parser("people", parents=[common], help="list, show, rename, remove, reembed")
    psub = p.add_subparsers(dest="action", required=True)
    q = psub.add_parser("list", parents=[common])
    q.add_argument("--search", help="filter by name, company or host")
    q.add_argument("--jsonl", action="store_true")
    for action in ("show", "rename", "remove"):
        q = psub.add_parser(action, parents=[common])
        q.add_argument("person", nargs="?", help="id or exact name (or use --id / --name)")
        q.add_argument("--id", type=int, help="the person's id")
        q.add_argument("--name", help="the person's exact name")
        if action == "rename":
            q.add_argument("new_name")
        if action == "remove":
            q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    psub.add_parser("reembed", parents=[common], help="re-make all templates with the current model")
    p.set_defaults(func=cmd_people)

    p = sub.add_parser("export", parents=[common], help="write people to an encrypted export")
    p.add_argument("archive")
    p.add_argument("--plain", action="store_true", help="an unencrypted zip instead (keep it safe)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.add_argument("--person", action="append", help="id or name (repeat; default everyone)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", parents=[common], help="add the people of an export")
    p.add_argument("archive")
    p.add_argument("--reembed", action="store_true", help="re-make templates if they come from another model")
    p.add_argument("--allow-duplicates", action="store_true", help="also import people who are already enrolled")
    p.set_defaults(func=cmd_import)
