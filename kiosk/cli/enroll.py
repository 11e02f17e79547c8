"""`face-kiosk enroll`: photos of one named person, or one person per subfolder of --from-dir."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kiosk.cli import common
from kiosk.cli.pipelines import command_pipeline
from kiosk.config import config_from_args
from kiosk.errors import KioskError, os_reason


def cmd_enroll(args: argparse.Namespace) -> int:
    """Enroll photos of one named person, or one person per subfolder of --from-dir."""
    from kiosk.capture.images import IMAGE_SUFFIXES
    from kiosk.enrollment.prepare import (
        DuplicateError,
        PendingSample,
        prepare_enrollment,
        save_enrollment,
    )
    from kiosk.enrollment.samples import face_from_image
    from kiosk.gallery import PersonDetails
    from kiosk.gallery.api import now_iso

    if bool(args.name) == bool(args.from_dir):
        raise KioskError("give either --name NAME IMAGE... or --from-dir DIR")
    if args.name and not args.images:
        raise KioskError("--name needs at least one IMAGE")
    if args.add_to and not args.name:
        raise KioskError("--add-to goes with --name NAME IMAGE...")
    if not args.add_to and not (args.consent or "").strip():
        raise KioskError("--consent TEXT is required: what the person agreed to (it is stored, with the time)")
    jobs: list[tuple[str, list[Path]]] = []
    if args.name:
        jobs.append((args.name, [Path(p) for p in args.images]))
    else:
        root = Path(args.from_dir)
        try:
            is_folder = root.is_dir()
        except OSError as exc:  # a name too long, a folder we may not enter
            raise KioskError(f"{root}: cannot open ({os_reason(exc)})") from None
        if not is_folder:
            raise KioskError(f"{root}: not a folder")
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            name = _folder_person(folder)
            if files and name:
                jobs.append((name, files))
            elif files:
                common.say(f"skipped folder {folder}: its name holds no letters to name a person by", err=True)
        if not jobs:
            raise KioskError(f"{root}: no subfolders with images (one subfolder per person)")
    config = config_from_args(args)
    pipeline = command_pipeline(config)
    enrolled = 0
    with common.open_gallery(args, create=True, admin=True, purpose="enroll") as gallery:
        target = gallery.resolve(args.add_to).id if args.add_to else None
        for name, files in jobs:
            pending, problems = [], []
            for path in files:
                try:
                    pending.append(PendingSample(face_from_image(pipeline, path), str(path)))
                except KioskError as exc:
                    problems.append(str(exc))
            for problem in problems:
                common.say(f"skipped: {problem}", err=True)
            if not pending:
                common.say(f"not enrolled: {name}: no usable photo", err=True)
                continue
            details = PersonDetails(name, host=(args.host or "").strip(), consent_text=(args.consent or "").strip(),
                                    consent_at=now_iso() if args.consent else None)
            try:
                prepared = prepare_enrollment(pipeline, gallery, pending, config.match, exclude=target)
                person_id = save_enrollment(gallery, prepared, details, target, allow_duplicate=args.allow_duplicate)
            except DuplicateError as exc:
                common.say(f"not enrolled: {name}: {exc} (--add-to ID adds them to that person; "
                           "--allow-duplicate enrolls a new person anyway)", err=True)
                continue
            except KioskError as exc:  # this person only: the others of the batch go on
                common.say(f"not enrolled: {name}: {exc}", err=True)
                continue
            enrolled += 1
            verb = "added samples to" if target is not None else "enrolled"
            common.say(f"{verb} {name} (id {person_id}): {len(pending)} photo(s), {len(problems)} skipped")
    if not enrolled:
        raise KioskError("nothing enrolled")
    return 0


def _folder_person(folder: Path) -> str:
    """The person a --from-dir subfolder names ("Ada_Lovelace" -> "Ada Lovelace"). A name that is
    not UTF-8 (an old Windows archive) is read as Latin-1, which every byte string is."""
    from kiosk.gallery.api import clean_name

    raw = os.fsencode(folder.name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        common.say(f"note: folder {folder} is not named in UTF-8; read as Latin-1: {text!r}", err=True)
    return clean_name(text.replace("_", " "))


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """The `enroll` parser."""
    p = sub.add_parser("enroll", parents=[common], help="enroll people from photos")
    p.add_argument("--name", help="the person's name (with IMAGE...)")
    p.add_argument("--from-dir", help="one subfolder per person, named after the folder")
    p.add_argument("--consent", metavar="TEXT", help="record that consent was given, with this text")
    p.add_argument("--host", metavar="TEXT",
                   help="whom they visit; an e-mail or apprise URL in it is notified on arrival, "
                        "e.g. 'Grace Hopper <grace@example.com>'")
    p.add_argument("--add-to", metavar="PERSON", help="add the photos to this person (id or exact name)")
    p.add_argument("--allow-duplicate", action="store_true",
                   help="enroll even when the photos look like someone already enrolled")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.set_defaults(func=cmd_enroll)
