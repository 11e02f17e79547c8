"""`face-kiosk self-test`: is this install (source tree or packaged app) able to do its job?

It checks every bundled model against its sha256 and loads it with the runtime the app
uses, runs the bundled public-domain photo through detection, the mask flag (on the photo
and on a copy with a painted mask), embedding, enrollment into a throw-away gallery and
matching, then opens and closes the user's database. It prints one line per check and
exits 0, or 1 with the reason of the first failure.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kiosk import __version__
from kiosk.errors import KioskError
from kiosk.gallery.api import PersonDetails
from kiosk.resources import resource_path, resources_dir

if TYPE_CHECKING:  # the checks import what they test themselves, to report its failure
    from kiosk.config import Config
    from kiosk.recognition.verdict import Verdict
    from kiosk.vision.types import FaceAnalysis

log = logging.getLogger(__name__)

PHOTO = ("images", "astronaut.png")
PHOTO_CREDIT = "NASA portrait of astronaut Eileen Collins (public domain)"
PERSON = "Eileen Collins (self-test)"

OK, FAIL, SKIP = "ok", "FAIL", "skip"


@dataclass(frozen=True)
class Check:
    """The outcome of one check: its name, ok/FAIL/skip, and what was seen (or why it failed)."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0


@dataclass
class SelfTestReport:
    """Every check in the order it ran."""

    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not any(c.status == FAIL for c in self.checks)

    @property
    def failure(self) -> Check | None:
        """The first failed check (the reason the self-test fails), or None."""
        return next((c for c in self.checks if c.status == FAIL), None)


class CheckFailed(KioskError):
    """A check saw something wrong; the message is the reason shown to the user."""


class _Runner:
    """Runs checks in order; after a failure the remaining checks are reported as skipped."""

    def __init__(self) -> None:
        self.report = SelfTestReport()
        self.stopped = False

    def run(self, name: str, fn: Callable[[], tuple[str, Any]], independent: bool = False) -> Any:
        """Run one check; `independent` checks run even after an earlier failure."""
        if self.stopped and not independent:
            self.report.checks.append(Check(name, SKIP, "not run: an earlier check failed"))
            return None
        start = time.perf_counter()
        try:
            detail, value = fn()
        except Exception as exc:  # noqa: BLE001 - a self-test reports every failure, never a traceback
            log.debug("check %s failed", name, exc_info=True)
            reason = str(exc) if isinstance(exc, KioskError) else f"{type(exc).__name__}: {exc}"
            self.report.checks.append(Check(name, FAIL, reason, time.perf_counter() - start))
            self.stopped = True
            return None
        self.report.checks.append(Check(name, OK, detail, time.perf_counter() - start))
        return value


# -- the checks ------------------------------------------------------------------------


def _load_model(key: str, path: Path) -> str:
    """Load one model with the runtime the app uses for it; returns that runtime's name."""
    if key.startswith("mediapipe"):
        # BlazeFace alone: MediaPipeDetector would also load YuNet, blurring the reason.
        from kiosk.vision.blazeface import BlazeFace

        BlazeFace(key)
        return "LiteRT"
    if key == "face-mesh":
        from kiosk.vision.landmarks import FaceMesh

        FaceMesh()
        return "LiteRT"
    if key == "yunet":
        from kiosk.vision.detectors import YuNetDetector

        YuNetDetector()
        return "OpenCV"
    if key in ("sface", "mbf"):
        from kiosk.vision.embedders import OnnxEmbedder

        OnnxEmbedder(key)
        return "OpenCV"
    if key.startswith("minifasnet"):
        from kiosk.vision.opencv_dnn import open_opencv_net

        open_opencv_net(key)  # as kiosk.liveness.passive runs it
        return "OpenCV"
    if key == "mask":
        from kiosk.vision.masks import MaskClassifier

        MaskClassifier.load()
        return "numpy"
    # A file added later without a loader above is at least parsed by its kind.
    if path.suffix == ".json":
        import json

        json.loads(path.read_text(encoding="utf-8"))
        return "JSON"
    if path.suffix == ".npz":
        with np.load(path) as data:
            data.files  # noqa: B018 - reads the archive's directory
        return "numpy"
    if path.suffix == ".onnx":  # every ONNX model of the app runs in OpenCV (kiosk.vision.opencv_dnn)
        import cv2

        cv2.dnn.readNetFromONNX(str(path))
        return "OpenCV"
    return ""  # still sha256-checked


def _check_model(key: str) -> tuple[str, None]:
    from kiosk.models import MODELS, verified_model_path

    path = verified_model_path(key)
    runtime = _load_model(key, path)
    size = path.stat().st_size / 1e6
    loaded = f", loaded ({runtime})" if runtime else ", not loaded (no self-test loader)"
    return f"{path.name} {size:.1f} MB, sha256 {MODELS[key].sha256[:12]} ok{loaded}", None


def _largest(faces: list[FaceAnalysis]) -> FaceAnalysis:
    return max(faces, key=lambda f: f.area)


def _scrambled(aligned: np.ndarray) -> np.ndarray:
    """The aligned face cut in 16 tiles and shuffled: same colours, no longer a face."""
    tiles = aligned.reshape(4, 28, 4, 28, 3).transpose(0, 2, 1, 3, 4).reshape(16, 28, 28, 3)
    order = np.random.default_rng(0).permutation(16)
    return np.ascontiguousarray(
        tiles[order].reshape(4, 4, 28, 28, 3).transpose(0, 2, 1, 3, 4).reshape(112, 112, 3)
    )


def _second_view(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Another view of the same face: a tighter, off-centre crop at 60% of the resolution."""
    import cv2

    x1, y1, x2, y2 = (int(v) for v in box)
    w, h = x2 - x1, y2 - y1
    crop = rgb[max(0, y1 - h) : y2 + h // 2, max(0, x1 - w // 2) : x2 + w]
    return cv2.resize(crop, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)


def _verdict(result: Verdict) -> str:
    who = result.name or "unknown"
    sign = ">=" if result.score >= result.threshold else "<"
    return f"{who} ({result.score:.2f} {sign} {result.threshold:.2f})"


def run_checks(config: Config, db_path: Path | str | None) -> SelfTestReport:
    """Run every check with this config; `db_path` is the user's gallery (None: skip it)."""
    from kiosk.models import MODELS

    started = time.perf_counter()
    runner = _Runner()

    for key, spec in MODELS.items():
        if not spec.commercial_use and not spec.in_this_build:
            # The packaged app leaves the non-commercial weights out unless asked (opt-in);
            # selecting them then fails with this same line, so it is reported, not failed.
            runner.report.checks.append(Check(f"model {key}", SKIP, f"{spec.filename}: not in this build "
                                              "(non-commercial weights, left out of the packaged app)"))
            continue

        def check_model(key: str = key) -> tuple[str, None]:
            return _check_model(key)

        # Every model is checked even when another one failed: the report lists all bad files.
        runner.run(f"model {key}", check_model, independent=True)

    def pipeline() -> tuple[str, Any]:
        from kiosk.vision.pipeline import FacePipeline

        pipe = FacePipeline(config.vision, still=True)
        return f"detector {config.vision.detector}, embedder {pipe.model_version}", pipe

    pipe = runner.run("pipeline", pipeline)

    def photo() -> tuple[str, Any]:
        from kiosk.capture.images import load_rgb

        rgb = load_rgb(resource_path(*PHOTO))
        return f"{'/'.join(PHOTO)} {rgb.shape[1]}x{rgb.shape[0]} ({PHOTO_CREDIT})", rgb

    rgb = runner.run("photo", photo)

    def detection() -> tuple[str, Any]:
        faces = pipe.analyze(rgb)
        if not faces:
            raise CheckFailed("no face found in the bundled photo: face detection does not work")
        face = _largest(faces)
        x1, y1, x2, y2 = face.box
        return f"{len(faces)} face, {x2 - x1:.0f}x{y2 - y1:.0f} px, score {face.det_score:.2f}", face

    face = runner.run("detection", detection)

    def mask_flag() -> tuple[str, Any]:
        from kiosk.vision.synthetic_masks import MaskStyle, paint_mask

        masked_rgb = paint_mask(rgb, face.landmarks, MaskStyle())
        found = pipe.analyze(masked_rgb)
        if not found:
            raise CheckFailed("no face found in the photo with a painted mask")
        masked_face = _largest(found)
        seen = (f"photo: {'masked' if face.masked else 'not masked'} ({face.mask_score:.2f}); "
                f"painted mask: {'masked' if masked_face.masked else 'not masked'} ({masked_face.mask_score:.2f})")
        if face.masked or not masked_face.masked:
            raise CheckFailed(f"mask flag wrong: {seen}")
        return seen, masked_rgb

    masked_rgb = runner.run("mask flag", mask_flag)

    def embedding() -> tuple[str, None]:
        vec = np.asarray(face.embedding)
        norm = float(np.linalg.norm(vec))
        if vec.shape != (pipe.embedding.dim,) or not np.all(np.isfinite(vec)) or abs(norm - 1.0) > 1e-3:
            raise CheckFailed(f"bad embedding: shape {vec.shape}, norm {norm:.3f} "
                              f"(expected ({pipe.embedding.dim},), unit length)")
        return f"{vec.shape[0]}-d, unit length", None

    runner.run("embedding", embedding)

    with tempfile.TemporaryDirectory(prefix="face-kiosk-self-test-") as tmp, _forgotten(Path(tmp) / "gallery.db"):
        temp_db = Path(tmp) / "gallery.db"

        def enroll() -> tuple[str, Any]:
            from kiosk.enrollment.samples import make_sample
            from kiosk.gallery import Gallery

            with Gallery(temp_db) as gallery:
                person_id = gallery.add_person(PersonDetails(PERSON), [make_sample(pipe, face, "self-test")], pipe.model_version)
                counts = gallery.counts()
            return f"temporary gallery: 1 person, {counts['templates']} templates", person_id

        person_id = runner.run("enroll", enroll)

        def match() -> tuple[str, None]:
            from kiosk.gallery import Gallery
            from kiosk.recognition.recognizer import Recognizer

            # A fresh connection: the enrollment must have reached the file.
            with Gallery(temp_db) as gallery:
                recognizer = Recognizer(config, gallery, pipe)
                probes = {
                    "second crop": _second_view(rgb, face.box),
                    "painted mask": masked_rgb,
                }
                seen = []
                for label, image in probes.items():
                    results = recognizer.recognize(image, max_faces=1)
                    if not results:
                        raise CheckFailed(f"{label}: no face found")
                    seen.append(f"{label} -> {_verdict(results[0].match)}")
                    if results[0].person_id != person_id:
                        raise CheckFailed(f"the enrolled person was not recognised: {'; '.join(seen)}")
            return "; ".join(seen), None

        runner.run("match", match)

        def reject() -> tuple[str, None]:
            from dataclasses import replace

            from kiosk.gallery import Gallery
            from kiosk.recognition.recognizer import Recognizer

            scrambled = _scrambled(face.aligned)
            probe = replace(face, aligned=scrambled, masked=False,
                            embedding=pipe.embed_aligned(scrambled[None])[0])
            with Gallery(temp_db) as gallery:
                result = Recognizer(config, gallery, pipe).match_faces([probe])[0].match
            seen = f"shuffled face tiles -> {_verdict(result)}"
            if result.known:
                raise CheckFailed(f"a non-face was matched to an enrolled person: {seen}")
            return seen, None

        runner.run("reject", reject)

    def database() -> tuple[str, None]:
        from kiosk.gallery import Gallery

        if db_path is None:
            return "no database given", None
        from kiosk.gallery.open import describe, is_url

        if is_url(str(db_path)):
            from kiosk.gallery.postgres import PgGallery

            with PgGallery(str(db_path), create=False, listen=False) as shared:
                counts = shared.counts()
                if pipe is not None:
                    shared.templates(pipe.model_version)
            return (f"{describe(str(db_path))}: PostgreSQL gallery opened and closed, schema ok, "
                    f"{counts['people']} people, {counts['visits']} visits"), None
        path = Path(db_path)
        if not path.exists():
            return f"{path}: not created yet (made at the first enrollment)", None
        with Gallery(path) as gallery:
            counts = gallery.counts()
            versions = gallery.model_versions()
            if pipe is not None:
                gallery.templates(pipe.model_version)  # raises on templates from another model
        made_by = f", templates of {', '.join(versions)}" if versions else ""
        return (f"{path}: opened and closed, schema ok, {counts['people']} people, "
                f"{counts['visits']} visits{made_by}"), None

    # The user's database does not depend on the models: check it even after a failure.
    runner.run("database", database, independent=True)
    runner.report.seconds = time.perf_counter() - started
    return runner.report


# -- the command -----------------------------------------------------------------------


def _where() -> str:
    if getattr(sys, "frozen", False):
        return f"packaged app, resources in {resources_dir()}"
    return f"Python {platform.python_version()}, resources in {resources_dir()}"


def format_report(report: SelfTestReport) -> str:
    """The report as a short table: status, check, what was seen."""
    width = max((len(c.name) for c in report.checks), default=0)
    lines = [f"{c.status:<4}  {c.name:<{width}}  {c.detail}" for c in report.checks]
    return "\n".join(lines)


def _config(args: argparse.Namespace) -> Config:
    from kiosk.config import config_from_args

    return config_from_args(args)


def _db_path(args: argparse.Namespace, config: Config) -> Path | str:
    """The gallery the run works on: --db, else the config's gallery.url, else the data folder's file."""
    from kiosk.gallery.target import gallery_target

    return gallery_target(args, config)


@contextlib.contextmanager
def _forgotten(temp_db: Path) -> Iterator[None]:
    """The throw-away gallery's key (and what the key store keeps of it) goes with it: a run
    leaves no key file behind for a gallery that no longer exists."""
    from kiosk.gallery.sqlite_connection import forget_gallery

    try:
        yield
    finally:
        forget_gallery(temp_db)


def run_self_test(args: argparse.Namespace) -> int:
    """Run the self-test, print the table and the verdict; 0 when every check passed, else 1."""
    print(f"face-kiosk {__version__} self-test ({platform.system()} {platform.machine()}; {_where()})")
    try:
        config = _config(args)
    except KioskError as exc:
        print(f"self-test FAILED: {exc}", file=sys.stderr)
        return 1
    report = run_checks(config, _db_path(args, config))
    print(format_report(report), flush=True)
    failure = report.failure
    if failure is None:
        print(f"self-test passed: {len(report.checks)} checks in {report.seconds:.1f} s")
        return 0
    print(f"self-test FAILED at '{failure.name}': {failure.detail}", file=sys.stderr)
    return 1
