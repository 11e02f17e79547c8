"""`face-kiosk identify` (who is in these images, 1:N) and `verify` (pairs of images, 1:1)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.cli import common
from kiosk.cli.common import add_liveness_option
from kiosk.cli.pipelines import command_pipeline
from kiosk.config import config_from_args
from kiosk.errors import KioskError

if TYPE_CHECKING:  # the commands import the models' code when they run
    import numpy as np

    from kiosk.liveness import LivenessDecision, PassiveScorer
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


def still_liveness(scorer: PassiveScorer, rgb: np.ndarray, face: FaceAnalysis) -> LivenessDecision:
    """The liveness check on a still image: the passive model alone (no motion, no blinks;
    kiosk.liveness.still), on the crops the live loop cuts (from the face mesh, else the box)."""
    from kiosk.liveness import judge_still
    from kiosk.liveness.passive import PassiveInput

    if face.mesh is not None:
        return judge_still(scorer.score(rgb, face.mesh))
    return judge_still(scorer.score_input(PassiveInput.cut(rgb, face.box)))


def cmd_identify(args: argparse.Namespace) -> int:
    """1:N identification of every face in each image; with a liveness mode on, each face's
    passive liveness too. A face that fails it is still named (this is an administrator's
    tool on photos, where every face is a picture): "live": false says so."""
    from kiosk.capture.images import load_rgb
    from kiosk.recognition.recognizer import Recognizer

    config = config_from_args(args)
    with common.open_gallery(args) as gallery:
        recognizer = Recognizer(config, gallery, command_pipeline(config))
        recognizer.matcher  # noqa: B018 - fail early on a model mismatch, before the batch
        scorer = None
        if config.liveness.mode != "off":
            from kiosk.liveness import PassiveScorer

            scorer = PassiveScorer()
            # Said once, on stderr (the JSON lines stay as they are): a still has no motion, no
            # blinks and nobody to ask, so both modes are the passive model's word alone.
            common.say(f"identify: liveness {config.liveness.mode} on still images is the passive model alone "
                       "(no motion, no blinks, no challenge): the weakest form of the check", err=True)
        for image in _image_list(args.images, args.list):
            record: dict[str, Any] = {"image": image, "faces": [], "error": None}
            try:
                rgb = load_rgb(image)
                results, rejected = recognizer.recognize_frame(rgb)
                if not results:
                    record["error"] = rejected[0].reason if rejected else "no face found"
                for r in results:
                    face: dict[str, Any] = {
                        "box": [round(float(v), 1) for v in r.box],
                        "masked": r.face.masked,
                        "mask_score": round(r.face.mask_score, 4),
                        "person": r.name,
                        "score": round(r.match.score, 4),
                    }
                    if scorer is not None:
                        decision = still_liveness(scorer, rgb, r.face)
                        face["liveness"], face["live"] = decision.as_dict(), decision.live
                    record["faces"].append(face)
            except KioskError as exc:
                record["error"] = str(exc)
            if args.jsonl:
                common.jsonl(record)
            else:
                common.say(f"{image}: {record['error'] or ', '.join(_describe(f) for f in record['faces'])}")
    return 0


def _describe(face: dict[str, Any]) -> str:
    """One face of `identify`'s readable output: "Ada Lovelace (0.91, masked, not live 0.12)"."""
    notes = [f"{face['score']:.2f}"] + (["masked"] if face["masked"] else [])
    if "live" in face:
        notes.append(f"live {face['liveness']['score']:.2f}" if face["live"]
                     else f"not live {face['liveness']['score']:.2f}: {face['liveness']['reason']}")
    return f"{face['person'] or 'unknown'} ({', '.join(notes)})"


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
    add_liveness_option(p, still=True)
    p.set_defaults(func=cmd_identify)

    p = sub.add_parser("verify", parents=[common], help="same person or not, for pairs of images (1:1)")
    p.add_argument("--pairs", required=True, metavar="FILE", help="lines 'relpath_a<TAB>relpath_b' ('-': stdin)")
    p.add_argument("--root", default=".", help="folder the relative paths start from")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per pair")
    p.set_defaults(func=cmd_verify)
