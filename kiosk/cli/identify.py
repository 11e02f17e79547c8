"""`face-kiosk identify` (who is in these images, 1:N) and `verify` (pairs of images, 1:1)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.cli import common
from kiosk.cli.pipelines import command_pipeline
from kiosk.config import config_from_args
from kiosk.errors import KioskError

if TYPE_CHECKING:  # the commands import the models' code when they run
    from kiosk.vision.types import FaceAnalysis


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


def cmd_identify(args: argparse.Namespace) -> int:
    """1:N identification of every face in each image."""
    from kiosk.capture.images import load_rgb
    from kiosk.recognition.recognizer import Recognizer

    config = config_from_args(args)
    with common.open_gallery(args) as gallery:
        recognizer = Recognizer(config, gallery, command_pipeline(config))
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
                common.jsonl(record)
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

    config = config_from_args(args)
    pipeline = command_pipeline(config)
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
                common.jsonl(record)
            else:
                verdict = record["error"] or f"{record['score']:.3f} {'same' if record['match'] else 'different'}"
                print(f"{record['a']}\t{record['b']}\t{verdict}")
    return 0

def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """The `identify` and `verify` parsers."""
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
