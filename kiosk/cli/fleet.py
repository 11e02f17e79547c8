"""The fleet commands of a shared gallery: `gallery migrate [--dry-run]`, `gallery grants`,
`gallery key export|import`, `gallery rekey` on PostgreSQL, and `fleet status`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.cli.common import _user, passphrase, require_admin, say
from kiosk.config import config_from_args
from kiosk.errors import KioskError

if TYPE_CHECKING:
    from kiosk.gallery.postgres import PgGallery


def _url(args: argparse.Namespace, what: str) -> str:
    from kiosk.gallery.target import gallery_target

    target = gallery_target(args)
    if not isinstance(target, str):
        raise KioskError(f"{what} works on a PostgreSQL gallery (--db postgresql://... or gallery.url in the "
                         "config); a gallery file migrates itself when opened")
    return target


def _open(args: argparse.Namespace, what: str, *, migrate: bool = False, create: bool = False) -> PgGallery:
    from kiosk.gallery.postgres import PgGallery

    config = config_from_args(args)
    return PgGallery(_url(args, what), create=create, migrate=migrate, listen=False, actor=f"cli:{_user()}",
                     site=config.events.site, kiosk=config.events.kiosk,
                     encrypt_templates=config.gallery.encrypt_templates)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring a shared gallery to this face-kiosk's schema (or make a new one), or show the steps."""
    import psycopg

    from kiosk.gallery.pg_connection import first_line, redact_url
    from kiosk.gallery.pg_migrate import pending_steps, read_meta

    url = _url(args, "gallery migrate")
    if args.dry_run:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                steps = pending_steps(read_meta(conn, redact_url(url)))
        except psycopg.Error as exc:
            raise KioskError(f"{redact_url(url)}: {first_line(exc, url)}") from None
        if not steps:
            print(f"{redact_url(url)}: up to date; nothing to do")
        for step in steps:
            print(f"would migrate to schema {step}")
        return 0
    with _open(args, "gallery migrate", migrate=True, create=True) as gallery:
        before = gallery.migrated_from
        if before == gallery.schema_version:
            print(f"{gallery.where}: already at schema {before}; nothing to do")
        else:
            print(f"{gallery.where}: schema {before} -> {gallery.schema_version}"
                  + (" (a new gallery)" if not before else "; existing rows sealed"))
    return 0


def cmd_grants(args: argparse.Namespace) -> int:
    """Print the SQL that makes a least-privilege role (admin, or a kiosk of one site)."""
    from psycopg.conninfo import conninfo_to_dict

    from kiosk.gallery.pg_roles import admin_grants, kiosk_grants

    if not args.role:
        raise KioskError("gallery grants needs --role NAME (and --site SITE for a kiosk, or --admin)")
    database = args.database or str(conninfo_to_dict(_url(args, "gallery grants")).get("dbname") or "")
    if not database:
        raise KioskError("gallery grants needs the database's name: --database NAME (or in the URL)")
    if args.admin:
        print(admin_grants(args.role, database))
    elif args.site:
        print(kiosk_grants(args.role, args.site, database, front_desk=args.front_desk))
    else:
        raise KioskError("gallery grants: --site SITE for a kiosk role, or --admin for the admin role")
    return 0


def cmd_key(args: argparse.Namespace) -> int:
    """Export the site key to a passphrase-protected file, or import one on this kiosk."""
    from kiosk.security.site_key import read_site_key_export, store_site_key, write_site_key_export

    if args.what not in ("export", "import") or not args.file:
        raise KioskError("use: face-kiosk gallery key export FILE | gallery key import FILE")
    path = Path(args.file)
    if args.what == "export":
        with _open(args, "gallery key export") as gallery:
            require_admin(gallery, "exporting the site key")
            secret = passphrase(True, "the site key file")
            write_site_key_export(path, gallery.gallery_id, gallery.key.key, secret)
            gallery.record_event("site_key_export", "gallery", {"to_host": True})
        print(f"wrote the site key of gallery {gallery.gallery_id} to {path} (encrypted with the passphrase); "
              "on the next kiosk: face-kiosk gallery key import FILE. Delete the file once imported")
        return 0
    gid, key = read_site_key_export(path, passphrase(False, f"the site key file {path}"))
    from kiosk.security.site_key import find_site_key, key_check

    present = find_site_key(gid, env=False)
    if present is not None and present.key == key:
        print(f"this kiosk already has that key of gallery {gid} ({present.location})")
        return 0
    stored = store_site_key(gid, key, replace=True)
    check = ""
    try:
        with _open(args, "gallery key import") as gallery:
            check = "; the gallery takes it" if gallery.gallery_id == gid else \
                f"; note: --db names another gallery ({gallery.gallery_id})"
    except KioskError as exc:
        check = f"; not checked against the gallery ({exc})"
    print(f"imported the site key of gallery {gid} (check {key_check(key)[:8]}) into {stored.location}{check}")
    return 0


def cmd_rekey(args: argparse.Namespace) -> int:
    """A new site key for a shared gallery: every crop, template, row MAC and the audit log re-sealed."""
    from kiosk.gallery.pg_rekey import rekey_gallery
    from kiosk.security.site_key import write_site_key_export

    with _open(args, "gallery rekey") as gallery:
        require_admin(gallery, "gallery rekey")
        secret = passphrase(True, "the new site key's file") if args.out else ""
        report = rekey_gallery(gallery, progress=lambda line: say(f"rekey: {line}", err=True))
        if args.out:
            write_site_key_export(Path(args.out), gallery.gallery_id, report.key.key, secret)
    print(f"{gallery.where}: new site key in {report.key.location}; re-sealed {report.people} people, "
          f"{report.samples} samples, {report.templates} templates, {report.visits} visits, "
          f"{report.audit_records} audit records{' (resumed)' if report.resumed else ''}. Every other kiosk "
          "now needs the new key: " + (f"`face-kiosk gallery key import {args.out}` on each" if args.out else
                                       "`face-kiosk gallery key export FILE` here, `gallery key import FILE` there"))
    return 0


def cmd_fleet(args: argparse.Namespace) -> int:
    """Every kiosk's last heartbeat: site, kiosk, version, last sync, spool, offline copy."""
    from kiosk.cli.common import jsonl

    with _open(args, "fleet status") as gallery:
        beats = gallery.fleet()
    for b in beats:
        if args.jsonl:
            jsonl({"site": b.site, "kiosk": b.kiosk, "role": b.role, "version": b.version,
                   "schema": b.schema_version, "last_sync": b.last_sync, "spooled": b.spooled,
                   "local_copy_at": b.local_copy_at, "age_s": round(b.age_s, 1), "stale": b.stale})
            continue
        state = "NOT SEEN" if b.stale else ("from local copy" if b.local_copy_at else "ok")
        print(f"{b.site or '-':<10} {b.kiosk:<14} {state:<15} {b.version:<10} schema {b.schema_version}  "
              f"last sync {b.last_sync or '-'}  spooled {b.spooled}  seen {b.age_s:.0f} s ago")
    if not args.jsonl:
        print(f"{len(beats)} kiosks" + ("" if beats else " (none has written a heartbeat yet)"), file=sys.stderr)
    return 0


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """The `fleet` parser (the `gallery` actions here hang off privacy's `gallery` parser)."""
    p = sub.add_parser("fleet", parents=[common], help="the kiosks sharing a PostgreSQL gallery")
    p.add_argument("action", choices=["status"])
    p.add_argument("--jsonl", action="store_true", help="one JSON object per kiosk")
    p.set_defaults(func=cmd_fleet)


def add_gallery_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `gallery migrate|grants|key|rekey` on privacy's `gallery` parser."""
    p.add_argument("what", nargs="?", help="key: export or import")
    p.add_argument("file", nargs="?", help="key export/import: the key file")
    p.add_argument("--dry-run", action="store_true", help="migrate: only show the steps")
    p.add_argument("--role", help="grants: the database role")
    p.add_argument("--site", help="grants: the site a kiosk role is bound to")
    p.add_argument("--admin", action="store_true", help="grants: the admin role (owner)")
    p.add_argument("--front-desk", action="store_true",
                   help="grants: a kiosk that also signs visitors in and out (docs/front-desk.md)")
    p.add_argument("--database", help="grants: the database name (default: the URL's)")
    p.add_argument("--out", help="rekey (PostgreSQL): also write the new key to this passphrase-protected file")


GALLERY_ACTIONS = {"migrate": cmd_migrate, "grants": cmd_grants, "key": cmd_key}
