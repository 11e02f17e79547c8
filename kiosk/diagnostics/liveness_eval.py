"""`face-kiosk eval --liveness`: how often the liveness check refuses real people and accepts attacks.

ISO/IEC 30107-3's two errors, on development data (../shared/data and the labelled samples):

- BPCER (bona fide presentations refused): the real clips' tracks the check judged an attack
  (and, said apart, those it had not judged live by the clip's end: not greeted either); the
  passive model alone on bare development photos (what `identify` can use on a still).
- APCER (attacks accepted), per attack type: the labelled samples (passive model, stills); the
  simulated photo attacks made from development photos (`kiosk.diagnostics.photo_attacks`),
  recorded through the live loop and judged by the whole check in `passive` mode: a track judged
  live is an accepted attack.
- Cost: per face and frame (the mesh cues and the crops), per passive pass, per track.

Small samples: counts with the exact one-sided 95% upper bound (`kiosk.diagnostics.confidence`),
never a bare percentage. Run: `python -m kiosk.diagnostics.liveness_eval [--data DIR] [--people N]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.capture.images import load_rgb
from kiosk.config import Config, LivenessConfig
from kiosk.diagnostics.confidence import rate_text
from kiosk.diagnostics.liveness_clips import (
    FaceFrame,
    RecordedClip,
    attack_recordings,
    first_photo,
    real_clips,
    record,
    score_frame,
    split_people,
)
from kiosk.errors import ImageError, KioskError
from kiosk.liveness.decision import Liveness, LivenessDecision, Reason
from kiosk.liveness.monitor import LivenessMonitor, LivenessSettings, settings_from_config
from kiosk.liveness.passive import PassiveScorer
from kiosk.liveness.still import STILL_LIVE_AT
from kiosk.vision.pipeline import FacePipeline

#: The labelled samples (../shared/models/minifasnet/samples): file -> attack type ("real": bona fide).
SAMPLES = {
    "minivision_image_T1.jpg": "real", "minivision_image_F1.jpg": "print", "minivision_image_F2.jpg": "screen",
    "vietmoney_true_001.jpg": "real", "vietmoney_true_002.jpg": "real", "vietmoney_true_003.png": "real",
    "vietmoney_fake_001.jpg": "attack (type not given)", "vietmoney_fake_002.jpg": "print",
    "vietmoney_fake_003.jpg": "attack (type not given)",
}


class _CachedScorer:
    """A PassiveScorer that remembers each recorded face's score (replays ask again); the time
    of every real model run goes to `seconds`."""

    def __init__(self, scorer: PassiveScorer, frames: dict[int, FaceFrame], seconds: list[float]) -> None:
        self._scorer = scorer
        self._frames = frames
        self.seconds = seconds

    def score_input(self, face: object) -> float:
        frame = self._frames[id(face)]
        if frame.p_real is None:
            t0 = time.perf_counter()
            score_frame(frame, self._scorer)
            self.seconds.append(time.perf_counter() - t0)
        assert frame.p_real is not None
        return frame.p_real


@dataclass(frozen=True)
class TrackOutcome:
    """What the check made of one recorded track."""

    clip: str
    truth: str
    look: str
    track_id: int
    frames: int
    decision: LivenessDecision  # at the end of the clip
    decided_after_s: float | None  # track time of the first live/attack decision


def replay(clip: RecordedClip, settings: LivenessSettings, scorer: PassiveScorer,
           costs: list[float] | None = None, pass_seconds: list[float] | None = None) -> list[TrackOutcome]:
    """Judge every track of a recording, frame by frame in clip time (lockstep). `costs` gets
    the seconds of each `observe` of a track not decided yet (a decided track costs nothing
    more), passive passes included; `pass_seconds` those of each passive model run."""
    frames = {id(f.face): f for fr in clip.tracks.values() for f in fr}
    cached = _CachedScorer(scorer, frames, pass_seconds if pass_seconds is not None else [])
    monitor = LivenessMonitor(settings, cached)  # type: ignore[arg-type]
    by_time = sorted(((f.t, tid, f) for tid, fr in clip.tracks.items() for f in fr), key=lambda x: (x[0], x[1]))
    decided: dict[int, float] = {}
    last: dict[int, LivenessDecision] = {}
    for t, tid, f in by_time:
        undecided = tid not in decided
        t0 = time.perf_counter()
        d = monitor.observe_cut(tid, t, f.face, f.mesh)
        if costs is not None and undecided:
            costs.append(time.perf_counter() - t0)
        last[tid] = d
        if d.state is not Liveness.UNSURE and tid not in decided:
            decided[tid] = d.age_s
    return [TrackOutcome(clip.name, clip.truth, clip.look, tid, len(clip.tracks[tid]), last[tid], decided.get(tid))
            for tid in sorted(clip.tracks)]


@dataclass
class LivenessReport:
    """Everything `format_report` prints."""

    settings: LivenessSettings
    real: list[TrackOutcome] = field(default_factory=list)
    attacks: list[TrackOutcome] = field(default_factory=list)
    attacks_motion_only: list[TrackOutcome] = field(default_factory=list)  # the passive model's say removed
    attack_clips_without_track: int = 0
    samples: list[tuple[str, str, float]] = field(default_factory=list)  # (file, type, p_real)
    photos: list[float] = field(default_factory=list)  # p_real of bare development photos
    photo_failures: int = 0
    observe_ms: list[float] = field(default_factory=list)  # per face and frame, passes included
    pass_ms: list[float] = field(default_factory=list)  # per passive model run
    track_seconds: float = 0.0
    passes: int = 0


def _counts(outcomes: Iterable[TrackOutcome], state: Liveness) -> tuple[int, int]:
    items = list(outcomes)
    return sum(o.decision.state is state for o in items), len(items)


def recordings(data: Path, people: int, cache: Path | None = None, log: bool = True) -> list[RecordedClip]:
    """The real clips and the simulated attacks of the first `people` of the report half,
    recorded through the live vision; kept in `cache` (a pickle, development use only) when
    given, so the check can be replayed with other settings without the vision."""
    if cache is not None and cache.is_file():
        with cache.open("rb") as fh:
            clips: list[RecordedClip] = pickle.load(fh)  # noqa: S301 - our own file, development only
        return clips
    live = FacePipeline()
    clips = []
    video = data / "video"
    if video.is_dir():
        for name, frames, fps in real_clips(video):
            if log:
                print(f"real clip {name}: {len(frames)} frames", file=sys.stderr, flush=True)
            clips.append(record(live, frames, fps, name, "real"))
    lfw = data / "lfw-dev" / "images"
    if lfw.is_dir():
        still = FacePipeline(still=True)
        for clip in attack_recordings(live, still, lfw, split_people(lfw, "report")[:people]):
            if log:
                print(f"{clip.name}: {len(clip.tracks)} track(s)", file=sys.stderr, flush=True)
            clips.append(clip)
    if cache is not None:
        with cache.open("wb") as fh:
            pickle.dump(clips, fh)
    return clips


def evaluate(data: Path, samples_dir: Path | None, people: int = 40, photos: int = 200,
             settings: LivenessSettings | None = None, log: bool = True, cache: Path | None = None) -> LivenessReport:
    """Measure the check on development data (`data` = ../shared/data)."""
    settings = settings or settings_from_config(LivenessConfig(mode="passive"))
    report = LivenessReport(settings)
    scorer = PassiveScorer()
    still = FacePipeline(still=True)
    lfw = data / "lfw-dev" / "images"

    def judged(clip: RecordedClip) -> list[TrackOutcome]:
        outcomes = replay(clip, settings, scorer, report.observe_ms, report.pass_ms)
        for o in outcomes:
            report.track_seconds += clip.tracks[o.track_id][-1].t - clip.tracks[o.track_id][0].t
            report.passes += o.decision.cues.passes
        return outcomes

    motion_only = dataclasses.replace(settings, calibration=dataclasses.replace(settings.calibration, passive_clip=0.0))
    for clip in recordings(data, people, cache, log):
        outcomes = judged(clip)
        if not clip.attack:
            report.real += outcomes
            continue
        if not outcomes:
            report.attack_clips_without_track += 1
        report.attacks += outcomes
        report.attacks_motion_only += replay(clip, motion_only, scorer)
    if lfw.is_dir():
        for person in split_people(lfw, "report")[:photos]:
            try:
                faces = still.analyze(load_rgb(first_photo(lfw, person)), max_faces=1)
            except (ImageError, KioskError):
                faces = []
            if not faces or faces[0].mesh is None:
                report.photo_failures += 1
                continue
            report.photos.append(scorer.score(load_rgb(first_photo(lfw, person)), faces[0].mesh))
    if samples_dir is not None and samples_dir.is_dir():
        for name, kind in SAMPLES.items():
            path = samples_dir / name
            if not path.exists():
                continue
            rgb = load_rgb(path)
            faces = still.analyze(rgb, max_faces=1)
            if faces and faces[0].mesh is not None:
                report.samples.append((name, kind, scorer.score(rgb, faces[0].mesh)))
    report.observe_ms = [s * 1e3 for s in report.observe_ms]
    report.pass_ms = [s * 1e3 for s in report.pass_ms]
    return report


def format_report(r: LivenessReport) -> str:
    """The table for docs/liveness.md."""
    lines = [f"Liveness check, mode {r.settings.mode} (development data; counts, exact one-sided 95% upper bound)"]
    refused, n = _counts(r.real, Liveness.ATTACK)
    not_live = sum(o.decision.state is not Liveness.LIVE for o in r.real)
    lines.append(f"BPCER, real clips (tracks judged an attack / tracks): {rate_text(refused, n)}")
    lines.append(f"  not judged live by the clip's end (not greeted yet): {rate_text(not_live, n)}")
    for o in r.real:
        d = o.decision
        when = f"after {o.decided_after_s:.1f} s" if o.decided_after_s is not None else "undecided"
        lines.append(f"    {o.clip} track {o.track_id} ({o.frames} frames): {d.state.value}, {d.reason.value}, {when}; "
                     f"passive {_p(d.cues.passive)}, planarity {_p(d.cues.planarity)}, blinks {d.cues.blinks}")
    bad = sum(p < STILL_LIVE_AT for p in r.photos)
    lines.append(f"BPCER, passive model alone on bare lfw-dev photos (p(real) < 0.5): {rate_text(bad, len(r.photos))}"
                 f" ({r.photo_failures} photos without a usable face left out)")
    lines.append("APCER, simulated photo attacks (tracks judged live / attack tracks; a clip's own track is its "
                 "longest, the others are short-lived second boxes on part of the face):")
    for label, outcomes in (("the whole check", r.attacks), ("the motion cues alone (passive model's say removed)",
                                                             r.attacks_motion_only)):
        lines.append(f"  {label}:")
        for kind in sorted({o.truth for o in outcomes}):
            for look in ("bare", "masked"):
                sel = [o for o in outcomes if o.truth == kind and o.look == look]
                if not sel:
                    continue
                accepted, total = _counts(sel, Liveness.LIVE)
                own = [max((o for o in sel if o.clip == clip), key=lambda o: o.frames) for clip in sorted({o.clip for o in sel})]
                caught = [o for o in own if o.decision.state is Liveness.ATTACK]
                times = [o.decided_after_s for o in caught if o.decided_after_s is not None]
                reasons = {reason.value: sum(o.decision.reason is reason for o in caught) for reason in Reason}
                why = ", ".join(f"{n} {k}" for k, n in reasons.items() if n)
                median = f", after a median {statistics.median(times):.1f} s ({why})" if times else ""
                lines.append(f"    {kind}, {look}: accepted {rate_text(accepted, total)}; the clip's own track judged "
                             f"an attack in {len(caught)} of {len(own)} clips{median}")
    if r.attack_clips_without_track:
        lines.append(f"  ({r.attack_clips_without_track} attack clips had no track long enough to judge)")
    lines.append("Labelled samples, passive model on the still (p(real); accepted when >= 0.5):")
    for kind in sorted({k for _, k, _ in r.samples}):
        scores = [p for _, k, p in r.samples if k == kind]
        wrong = sum((p >= STILL_LIVE_AT) if kind != "real" else (p < STILL_LIVE_AT) for p in scores)
        label = "BPCER" if kind == "real" else f"APCER {kind}"
        lines.append(f"  {label}: {rate_text(wrong, len(scores))}")
    for name, kind, p in r.samples:
        lines.append(f"    {name} ({kind}): {p:.3f}")
    if r.observe_ms:
        lines.append(f"Cost: {statistics.median(r.observe_ms):.2f} ms per face and frame of an undecided track "
                     f"(median; the frames with a passive pass are in the tail; a decided track costs nothing more), "
                     f"{statistics.median(r.pass_ms):.1f} ms per passive pass "
                     f"(both models, median of {len(r.pass_ms)}); {r.passes / max(r.track_seconds, 1e-9):.2f} passes "
                     f"per track-second")
    return "\n".join(lines)


def _p(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def main_eval_liveness(args: argparse.Namespace, config: Config) -> int:
    """`face-kiosk eval --liveness [MODE] [--data DIR] [--people N] [--photos N] [--recordings FILE]`:
    the report for docs/liveness.md, with the config's liveness thresholds in MODE."""
    from kiosk.diagnostics.eval_data import default_data_dir

    data = Path(args.data) if getattr(args, "data", None) else default_data_dir()
    if not data.is_dir():
        raise KioskError(f"eval --liveness needs the development data at {data} (give it with --data)")
    settings = settings_from_config(config.liveness.model_copy(update={"mode": args.liveness}))
    samples = data.parent / "models" / "minifasnet" / "samples"
    recordings = Path(args.recordings) if getattr(args, "recordings", None) else None
    report = evaluate(data, samples, args.people, args.photos, settings, log=bool(getattr(args, "verbose", False)),
                      cache=recordings)
    print(format_report(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """python -m kiosk.diagnostics.liveness_eval"""
    root = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--samples", type=Path, default=root.parent / "shared" / "models" / "minifasnet" / "samples")
    parser.add_argument("--people", type=int, default=40, help="people whose photos make simulated attacks")
    parser.add_argument("--photos", type=int, default=300, help="bare photos for the passive model's BPCER")
    parser.add_argument("--mode", choices=("passive", "active"), default="passive")
    parser.add_argument("--recordings", type=Path, help="keep the recorded clips in this file (pickle) and "
                        "replay them from it next time (development only)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no development data at {args.data}", file=sys.stderr)
        return 1
    settings = settings_from_config(LivenessConfig(mode=args.mode))
    print(format_report(evaluate(args.data, args.samples, args.people, args.photos, settings,
                                 cache=args.recordings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
