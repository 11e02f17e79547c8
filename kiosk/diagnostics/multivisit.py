"""Returning masked visitors, with and without own-mask learning (docs/matching.md).

Each enrolled person (3 bare photos of lfw-dev's identification.json) visits twice, through the
live recognizer and the kiosk session (flow, visit log, learning) at the clip's own time:

1. Visit 1 (photo 4, in their own mask): they walk up masked and take the mask off when asked,
   or after 2 s anyway (at the desk), and stay until greeted and 2 s bare. With learning on, the
   kiosk may keep one own-mask sample from the masked frames of that same track.
2. Visit 2 (photo 5, the same mask): a masked walk-up; asked visitors lower the mask.

Strangers (eval's unknown visitors, one photo each) walk up masked against the same gallery,
after every visit 1: greeted as someone while masked is a false match (FPIR); a stranger asked
to lower the mask is then matched bare, which own-mask samples do not touch, so the walk ends
there. The same walks (same seeds) run against the gallery without learning (the app's
defaults), so the two columns are paired.
A still-photo check adds many more strangers cheaply: each unknown visitor's masked photo
matched once against both galleries (single photos, not fused tracks).

Masks are painted through the photo's landmarks with detection re-run; `style="same"` puts
everyone, strangers too, in the same light-blue surgical mask (the worst case for false
matches between masked faces), `style="own"` gives each person their own random mask (the same
on both visits) and each stranger another.

    python -m kiosk.diagnostics.multivisit [--people 150] [--strangers 300] [--style same] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kiosk.capture.sources import Frame
from kiosk.checkin.flow import Screen
from kiosk.checkin.session import KioskSession, MediaClock
from kiosk.config import Config, LivenessConfig
from kiosk.diagnostics.arrivals import FIRST_DECISIONS, FPS, walk_on_bare, walk_up_frames
from kiosk.diagnostics.eval_data import (
    FaceCache,
    default_data_dir,
    person_photos,
    split_dev_people,
)
from kiosk.errors import KioskError
from kiosk.gallery.api import GalleryStore, PersonDetails
from kiosk.recognition.live import LiveRecognizer
from kiosk.recognition.matching import Matcher
from kiosk.recognition.recognizer import Recognizer
from kiosk.vision.pipeline import FacePipeline
from kiosk.vision.synthetic_masks import MaskStyle, paint_mask

SEED = 20241  # masks and walks (eval uses 20240, the calibrations 101-401)
ENROLLED = 3  # bare photos per person; photo 4 is visit 1, photo 5 visit 2
SAME_STYLE = MaskStyle()  # light-blue surgical


@dataclass(frozen=True)
class Visit:
    """What the kiosk did on one masked walk-up."""

    first: str  # "greeted", "unknown", "lower-mask" or "none" (the clip ended first)
    person: int | None  # who was greeted
    learned: int | None = None  # whose own-mask sample was kept on this visit


@dataclass(frozen=True)
class Share:
    """k of n, with the Wilson 95% interval's upper bound (small samples)."""

    k: int
    n: int

    @property
    def rate(self) -> float:
        """k / n."""
        return self.k / self.n if self.n else 0.0

    @property
    def upper95(self) -> float:
        """Upper end of the Wilson score interval at 95%."""
        if not self.n:
            return 1.0
        z, p, n = 1.96, self.k / self.n, self.n
        return min(1.0, (p + z * z / (2 * n) + z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n))

    def __str__(self) -> str:
        return f"{100 * self.rate:5.1f}% ({self.k}/{self.n}, <= {100 * self.upper95:.1f}%)"


@dataclass(frozen=True)
class _Visitor:
    name: str
    person_id: int
    masked: tuple[np.ndarray, np.ndarray]  # visit 1, visit 2 (photos 4 and 5 in their mask)
    bare: tuple[np.ndarray, np.ndarray]
    seed: int


def run_visit(pipeline: FacePipeline, gallery: GalleryStore, config: Config, masked: np.ndarray,
              bare: np.ndarray, seed: int, *, bare_after_s: float | None = None, masked_only: bool = False,
              max_seconds: float = 12.0) -> Visit:
    """One masked walk-up through LiveRecognizer and KioskSession at clip time. The visitor
    lowers the mask when asked (or after `bare_after_s`); with `bare_after_s` the visit goes
    on after a greeting until the bare face was seen for 2 s (time to learn), else it ends there.
    `masked_only` ends it when the mask comes off (what follows is matched bare, the same with
    or without own-mask samples)."""
    clock = MediaClock()  # the clip's time, for the flow and the gallery polls
    session = KioskSession(gallery, config, flow_clock=clock)
    live = LiveRecognizer(Recognizer(config, gallery, pipeline), clock=clock)
    frames: Iterator[np.ndarray] = walk_up_frames(masked, np.random.default_rng(seed))
    first, person, lowered_at = "none", None, None
    learned_before = session.learner.learned if session.learner else 0
    for i in range(int(max_seconds * FPS)):
        clock.t = i / FPS
        state = session.observe(live.process(Frame(i + 1, next(frames), clock.t)))
        asked = state.screen is Screen.LOWER_MASK
        if lowered_at is None and (asked or (bare_after_s is not None and clock.t >= bare_after_s)):
            if masked_only:
                return Visit("lower-mask" if first == "none" else first, person)
            lowered_at = clock.t
            frames = walk_on_bare(bare, seed, i)
        if first == "none":
            first = FIRST_DECISIONS.get(state.screen, "none")
        if state.screen is Screen.GREETING and person is None:
            person = state.person_id
        decided = person is not None or state.screen is Screen.UNKNOWN
        if decided and (bare_after_s is None or (lowered_at is not None and clock.t - lowered_at >= 2.0)):
            break
    learned = None
    if session.learner is not None and session.learner.learned > learned_before:
        learned = person
    return Visit(first, person, learned)


def _style(kind: str, key: str) -> tuple[MaskStyle, np.random.Generator]:
    rng = np.random.default_rng([SEED, zlib.crc32(key.encode())])
    return (SAME_STYLE if kind == "same" else MaskStyle.random(rng)), rng


def _masked(cache: FaceCache, rel: str, style: MaskStyle, rng: np.random.Generator) -> np.ndarray | None:
    from kiosk.capture.images import load_rgb

    face = cache.face(rel)
    return None if face is None else paint_mask(load_rgb(cache.root / rel), face.landmarks, style, rng)


def _enroll(cache: FaceCache, gallery: GalleryStore, names: list[str], photos: dict[str, list[str]]) -> dict[str, int]:
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face

    ids = {}
    for name in names:
        samples = []
        for rel in photos[name][:ENROLLED]:
            try:
                samples.append(make_sample(cache.pipeline, pick_enrollment_face(cache.faces(rel) or [], rel,
                                                                                cache.shapes.get(rel)), source=rel))
            except KioskError:
                continue
        if samples:
            ids[name] = gallery.add_person(PersonDetails(name), samples, cache.pipeline.model_version)
    return ids


@dataclass
class MultiVisitReport:
    """Counts behind the table (docs/matching.md)."""

    style: str
    people: int
    strangers: int
    visit1_greeted_right: Share
    learned_right: Share
    learned_wrong: int
    visit2: dict[str, dict[str, Share]]  # condition -> masked right (not asked) / asked / wrong / right at all
    strangers_walk: dict[str, dict[str, Share]]  # condition -> greeted as someone / asked
    strangers_photo: dict[str, Share]  # condition -> still masked photos accepted as someone
    seconds: float


def run_multivisit(config: Config, data: Path, *, people: int = 150, strangers: int = 300,
                   style: str = "same", still_strangers: int = 1000, progress: bool = False) -> MultiVisitReport:
    """Measure visit 2 and the strangers with and without learning (see the module docstring)."""
    start = time.perf_counter()
    lfw = data / "lfw-dev"
    ident = json.loads((lfw / "identification.json").read_text(encoding="utf-8"))
    names = [n for n in sorted(ident) if len(ident[n]) >= ENROLLED + 2][:people]
    photos = {n: list(ident[n]) for n in names}
    unknown_people = split_dev_people(lfw)[0]
    cache = FaceCache(FacePipeline(config.vision, still=True), lfw / "images", seed=SEED)
    live_pipeline = FacePipeline(config.vision)
    learning = config.model_copy(update={"match": config.match.model_copy(
        update={"use_masked_samples": True, "learn_masked_samples": True})})
    conditions = {"without learning": config, "with learning": learning}

    def say(text: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - start:6.0f} s] {text}", flush=True)

    from kiosk.gallery import Gallery

    with tempfile.TemporaryDirectory() as tmp:
        galleries = {c: Gallery(Path(tmp) / f"{i}.db", encrypt=False) for i, c in enumerate(conditions)}
        try:
            ids = {c: _enroll(cache, g, names, photos) for c, g in galleries.items()}
            visitors = _visitors(cache, names, photos, ids["with learning"], style)
            say(f"{len(visitors)} people enrolled with both visits")

            # Visit 1 teaches the learning gallery only (the other has nothing to learn).
            v1 = []
            for k, who in enumerate(visitors):
                v1.append((who.person_id, run_visit(live_pipeline, galleries["with learning"], learning,
                                                    who.masked[0], who.bare[0], who.seed, bare_after_s=2.0)))
                if k % 25 == 24:
                    say(f"visit 1: {k + 1}")
            learned_right = sum(v.learned == pid for pid, v in v1)
            learned_wrong = sum(v.learned is not None and v.learned != pid for pid, v in v1)
            say(f"visit 1 done: {learned_right} learned")

            visit2: dict[str, dict[str, Share]] = {}
            for cond, cfg in conditions.items():
                out = [(who.person_id, run_visit(live_pipeline, galleries[cond], cfg, who.masked[1], who.bare[1],
                                                 who.seed + 1)) for who in visitors]
                n = len(out)
                visit2[cond] = {
                    "masked right (not asked)": Share(sum(v.first == "greeted" and v.person == pid for pid, v in out), n),
                    "asked to unmask": Share(sum(v.first == "lower-mask" for _, v in out), n),
                    "greeted right at all": Share(sum(v.person == pid for pid, v in out), n),
                    "greeted wrong": Share(sum(v.person is not None and v.person != pid for pid, v in out), n),
                }
                say(f"visit 2 {cond}: " + ", ".join(f"{k} {s}" for k, s in visit2[cond].items()))

            walkers = _strangers(cache, lfw, unknown_people[:strangers], style)
            strangers_walk: dict[str, dict[str, Share]] = {}
            for cond, cfg in conditions.items():
                out2 = [run_visit(live_pipeline, galleries[cond], cfg, m, b, seed, masked_only=True)
                        for m, b, seed in walkers]
                strangers_walk[cond] = {
                    "greeted as someone, masked (FPIR)": Share(sum(v.person is not None for v in out2), len(out2)),
                    "asked to unmask": Share(sum(v.first == "lower-mask" for v in out2), len(out2)),
                }
                say(f"strangers {cond}: " + ", ".join(f"{k} {s}" for k, s in strangers_walk[cond].items()))

            strangers_photo = _still_strangers(cache, lfw, unknown_people[:still_strangers], style, galleries,
                                               conditions)
        finally:
            for g in galleries.values():
                g.close()
    return MultiVisitReport(style, len(visitors), len(walkers), Share(sum(v.person == pid for pid, v in v1), len(v1)),
                            Share(learned_right, len(v1)), learned_wrong, visit2, strangers_walk, strangers_photo,
                            time.perf_counter() - start)


def _visitors(cache: FaceCache, names: list[str], photos: dict[str, list[str]], ids: dict[str, int],
              style: str) -> list[_Visitor]:
    """Everyone enrolled whose visit photos have a face, with their own mask painted on both."""
    from kiosk.capture.images import load_rgb

    out = []
    for name in names:
        rels = photos[name][ENROLLED:ENROLLED + 2]
        if name not in ids or any(cache.face(rel) is None for rel in rels):
            continue
        mask, rng = _style(style, name)
        masked = [_masked(cache, rel, mask, rng) for rel in rels]
        if masked[0] is None or masked[1] is None:
            continue
        bare = [load_rgb(cache.root / rel) for rel in rels]
        out.append(_Visitor(name, ids[name], (masked[0], masked[1]), (bare[0], bare[1]), zlib.crc32(name.encode())))
    return out


def _strangers(cache: FaceCache, lfw: Path, people: list[str], style: str) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(masked photo, bare photo, walk seed) of each unknown visitor whose photo has a face."""
    from kiosk.capture.images import load_rgb

    out = []
    for name in people:
        rel = person_photos(lfw, name)[0]
        mask, rng = _style(style, "stranger " + name)
        masked = _masked(cache, rel, mask, rng)
        if masked is not None:
            out.append((masked, load_rgb(cache.root / rel), zlib.crc32(name.encode())))
    return out


def _still_strangers(cache: FaceCache, lfw: Path, people: list[str], style: str,
                     galleries: Mapping[str, GalleryStore], conditions: dict[str, Config]) -> dict[str, Share]:
    """Each stranger's masked photo matched once (single photo, not fused) against both galleries."""
    probes = []
    for name in people:
        rel = person_photos(lfw, name)[0]
        mask, rng = _style(style, "stranger " + name)
        painted = _masked(cache, rel, mask, rng)
        found = cache.pipeline.analyze(painted, max_faces=1) if painted is not None else []
        if found and found[0].masked:
            probes.append(found[0].embedding)
    out = {}
    for cond, gallery in galleries.items():
        matcher = Matcher(gallery.templates(cache.pipeline.model_version), conditions[cond].match)
        verdicts = matcher.identify(np.stack(probes), np.ones(len(probes), bool))
        out[cond] = Share(sum(v.known for v in verdicts), len(verdicts))
    return out


def format_report(r: MultiVisitReport) -> str:
    """The table for docs/matching.md."""
    lines = [f"Multi-visit walk-ups ({r.style} masks): {r.people} people, {r.strangers} strangers, {r.seconds:.0f} s",
             f"  visit 1 greeted right: {r.visit1_greeted_right}; own-mask sample kept: {r.learned_right}"
             f" (into someone else: {r.learned_wrong})",
             f"  {'':<40}{'without learning':>26}{'with learning':>26}"]
    for key in next(iter(r.visit2.values())):
        lines.append(f"  visit 2, {key:<31}" + "".join(f"{str(r.visit2[c][key]):>26}" for c in r.visit2))
    for key in next(iter(r.strangers_walk.values())):
        lines.append(f"  strangers walking up, {key:<18}" + "".join(f"{str(r.strangers_walk[c][key]):>26}"
                                                                   for c in r.strangers_walk))
    lines.append(f"  {'strangers, still masked photos, FPIR':<40}" + "".join(f"{str(s):>26}"
                                                                          for s in r.strangers_photo.values()))
    return "\n".join(lines)


def as_dict(r: MultiVisitReport) -> dict[str, object]:
    """For --json: every count, rate and upper bound."""
    def share(s: Share) -> dict[str, float]:
        return {"k": s.k, "n": s.n, "rate": round(s.rate, 4), "upper95": round(s.upper95, 4)}

    out = asdict(r)
    out["visit1_greeted_right"] = share(r.visit1_greeted_right)
    out["learned_right"] = share(r.learned_right)
    out["visit2"] = {c: {k: share(s) for k, s in d.items()} for c, d in r.visit2.items()}
    out["strangers_walk"] = {c: {k: share(s) for k, s in d.items()} for c, d in r.strangers_walk.items()}
    out["strangers_photo"] = {c: share(s) for c, s in r.strangers_photo.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m kiosk.diagnostics.multivisit`: print the table (and write --json)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(default_data_dir()))
    parser.add_argument("--people", type=int, default=150)
    parser.add_argument("--strangers", type=int, default=300)
    parser.add_argument("--still-strangers", type=int, default=1000)
    parser.add_argument("--style", choices=("same", "own"), default="same")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    # The visitors are photos walking up: what is measured is recognition, so liveness is off.
    report = run_multivisit(Config(liveness=LivenessConfig(mode="off")), Path(args.data), people=args.people, strangers=args.strangers,
                            style=args.style, still_strangers=args.still_strangers, progress=True)
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(as_dict(report), indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

