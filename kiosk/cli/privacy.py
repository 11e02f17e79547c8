"""The admin's privacy commands: `gallery encrypt|rekey|status`, `audit list|verify`, `admin set-pin`."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.cli import fleet
from kiosk.cli.common import PIN_ENV, jsonl, open_gallery, require_admin
from kiosk.errors import KioskError

if TYPE_CHECKING:  # the gallery's modules load when a command runs, not to parse the line
    from kiosk.gallery.admin_pin import AdminPin


def cmd_gallery(args: argparse.Namespace) -> int:
    """Encrypt a plaintext gallery in place, give it a new key, say how it is stored, or copy it."""
    from kiosk.gallery.target import gallery_file, gallery_target

    if args.action == "copy":
        from kiosk.cli.shared import cmd_gallery_copy

        return cmd_gallery_copy(args)
    if args.action in fleet.GALLERY_ACTIONS:
        return fleet.GALLERY_ACTIONS[args.action](args)
    if args.action == "rekey" and isinstance(gallery_target(args), str):
        return fleet.cmd_rekey(args)
    from kiosk.gallery import Gallery
    from kiosk.security.encrypted_gallery import migrate_to_encrypted
    from kiosk.security.sqlcipher import is_plaintext_sqlite

    if args.action == "status" and isinstance(gallery_target(args), str):
        from kiosk.gallery.postgres import PgGallery

        with open_gallery(args) as shared:
            assert isinstance(shared, PgGallery)  # gallery_target gave a URL
            state = shared.status()
            print(f"{shared.where}: PostgreSQL gallery {shared.gallery_id}; crops encrypted, templates "
                  f"{'encrypted' if shared.templates_encrypted else 'NOT encrypted (pgvector search)'}; site key: "
                  f"{shared.key.source} {shared.key.location}; schema {shared.schema_version}; "
                  f"{shared.counts()['people']} people; {'online' if state.online else 'OFFLINE'}")
        return 0
    path = gallery_file(args)
    if not path.exists():
        raise KioskError(f"{path}: no gallery here")
    if args.action == "status":
        with Gallery(path, create=False) as gallery:
            where = gallery.key.location if gallery.encrypted else "-"
            print(f"{path}: {'encrypted (SQLCipher 4)' if gallery.encrypted else 'NOT encrypted'}; key: "
                  f"{gallery.key.source} {where}; schema {gallery.schema_version}; {gallery.counts()['people']} people")
        return 0
    with open_gallery(args, admin=True, purpose=f"gallery {args.action}") as gallery:
        pass  # the PIN is checked (and the audit head read) before the file is changed
    if args.action == "encrypt":
        if not is_plaintext_sqlite(path):
            raise KioskError(f"{path}: already encrypted")
        key = migrate_to_encrypted(path)
        _audit(path, "gallery_encrypt", {"key": key.source})
        print(f"encrypted {path}; its key is in {key.location} (back the key up: without it the gallery "
              "cannot be opened)")
    elif args.action == "rekey":
        from kiosk.gallery.sqlite_rekey import rekey_file_gallery

        key, record = rekey_file_gallery(path, "cli")
        print(f"{path} has a new key, in {key.location}; the audit log ({record.seq} records) and the admin PIN "
              "are sealed with it; copies made before cannot be opened with it")
    return 0


def _audit(path: Path, action: str, details: dict[str, object]) -> None:
    from kiosk.gallery import Gallery
    from kiosk.security.audit import AuditAction

    with Gallery(path, create=False, actor="cli") as gallery:
        gallery.record_event(AuditAction(action), "gallery", details)


def cmd_audit(args: argparse.Namespace) -> int:
    """List the audit log, check it is whole and unedited (exit 1 when it is not), or recover
    it after a break (admin PIN; the break stays visible in the log)."""
    admin = args.action in ("list", "recover")
    with open_gallery(args, admin=admin, purpose=f"audit {args.action}") as gallery:
        if args.action == "recover":
            verdict = gallery.verify_audit()
            if verdict.ok:
                print(f"audit log ok: {verdict.count} records; nothing to recover")
                return 0
            record = gallery.recover_audit()
            print(f"audit log recovered: record {record.seq} notes what was wrong ({verdict.reason}, first bad "
                  f"record: seq {verdict.first_bad_seq}); writes are possible again (edited or missing records "
                  "cannot be repaired: `audit verify` goes on showing them)")
            return 0
        if args.action == "verify":
            verdict = gallery.verify_audit()
            rows_ok = _rows_intact(gallery)
            from kiosk.gallery.admin_pin import AdminPin

            problem = AdminPin(gallery).problem()
            if verdict.ok and problem:  # the log is whole, but the PIN it set is not there as set
                print(f"audit log NOT ok: {problem} ({verdict.count} records read)", file=sys.stderr)
                return 1
            if verdict.ok:
                print(f"audit log ok: {verdict.count} records, chain and head intact")
                return 0 if rows_ok else 1
            print(f"audit log NOT ok: {verdict.reason} (first bad record: seq {verdict.first_bad_seq}; "
                  f"{verdict.count} records read)", file=sys.stderr)
            return 1
        for r in gallery.audit_records():
            if args.jsonl:
                jsonl({"seq": r.seq, "ts": r.ts, "actor": r.actor, "action": r.action, "subject": r.subject,
                       "details": r.details})
            else:
                print(f"{r.seq:>6}  {r.ts}  {r.actor:<16} {r.action:<16} {r.subject}  {r.details or ''}")
    return 0


def _rows_intact(gallery: object) -> bool:
    """A shared gallery's people and visits rows checked against their MACs (printed)."""
    report = getattr(gallery, "integrity_report", None)
    if not callable(report):
        return True
    found = report()
    if found.ok:
        print("people and visits rows ok: none changed outside face-kiosk")
        return True
    for what, ids in (("people", found.people), ("visits", found.visits)):
        if ids:
            shown = ", ".join(str(i) for i in ids[:20]) + (" ..." if len(ids) > 20 else "")
            print(f"{len(ids)} {what} rows edited outside face-kiosk (ids {shown})", file=sys.stderr)
    return False


def cmd_admin(args: argparse.Namespace) -> int:
    """Set or change the admin PIN (the current one is asked first), or reset one that was
    removed or edited outside face-kiosk (no PIN can be entered then; audited)."""
    from kiosk.gallery.admin_pin import AdminPin

    with open_gallery(args, create=args.action == "set-pin") as gallery:
        pin = AdminPin(gallery)
        if args.action == "reset-pin":
            reason = pin.problem()
            if not reason:
                raise KioskError("the admin PIN is intact; change it with `face-kiosk admin set-pin`")
            new = _new_pin(pin)
            pin.reset_pin(*new)
            print(f"admin PIN reset ({reason}); the reset is in the audit log")
            return 0
        if pin.is_set():
            require_admin(gallery, "changing the admin PIN")
        pin.set_pin(*_new_pin(pin))
    print("admin PIN set")
    return 0


def _new_pin(pin: AdminPin) -> tuple[str, str | None]:
    """The new PIN and its confirmation: FACE_KIOSK_ADMIN_PIN_NEW (no confirmation), else asked twice."""
    new = os.environ.get(f"{PIN_ENV}_NEW")
    if new is not None:
        pin.validate_new(new)
        return new, None
    if not sys.stdin.isatty():
        raise KioskError(f"set {PIN_ENV}_NEW or run it in a terminal")
    first = getpass.getpass("New admin PIN (6-12 digits): ")
    return first, getpass.getpass("The same PIN again: ")


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """The privacy commands' parsers."""
    p = sub.add_parser("gallery", parents=[common],
                       help="encrypt, rekey, inspect, copy or migrate the gallery; its key and roles")
    p.add_argument("action", choices=["status", "encrypt", "rekey", "copy", "migrate", "grants", "key"])
    p.add_argument("--from", dest="source", metavar="PATH_OR_URL", help="copy: the gallery to copy")
    p.add_argument("--to", metavar="PATH_OR_URL", help="copy: where to (a file or a postgresql:// URL)")
    p.add_argument("--merge", action="store_true",
                   help="copy: into a gallery that is not empty; people already there (by stable id) are kept")
    p.add_argument("--force", action="store_true", help="copy: the same as --merge (kept for scripts)")
    fleet.add_gallery_arguments(p)
    p.set_defaults(func=cmd_gallery)
    p = sub.add_parser("audit", parents=[common],
                       help="the audit log: list it, verify it is intact, or recover it after a break (admin PIN)")
    p.add_argument("action", choices=["list", "verify", "recover"])
    p.add_argument("--jsonl", action="store_true", help="one JSON object per record")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("admin", parents=[common], help="the admin PIN (reset-pin: only when it was tampered with)")
    p.add_argument("action", choices=["set-pin", "reset-pin"])
    p.set_defaults(func=cmd_admin)
