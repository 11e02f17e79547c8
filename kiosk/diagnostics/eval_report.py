"""What `face-kiosk eval` reports: the targets, the numbers of each section and of the whole
run (written by --json), and the table it prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded by the run itself (models)
    pass

TARGETS = {
    "lfw_unmasked": 0.995,
    "lfw_masked": 0.985,
    "rank1_unmasked": 0.99,
    "rank1_masked": 0.97,
    "fpir": 0.005,
}


@dataclass
class PairResult:
    """1:1 numbers for one probe condition."""

    pairs: int
    ten_fold_accuracy: float
    accuracy_at_app_threshold: float
    tar_at_far_1e3: float
    false_accepts: int
    false_rejects: int
    no_face: int
    probe_flagged_masked: int
    app_thresholds: list[float] = field(default_factory=list)


@dataclass
class IdentResult:
    """1:N numbers for one enrollment size and probe condition."""

    enrolled: int
    enroll_failed: int
    probes: int
    unknowns: int
    rank1: float  # probes accepted as the right person
    wrong_person: float  # probes accepted as someone else
    fpir: float  # unknown visitors accepted as someone
    ask_unmask_genuine: float  # probes that would be asked to lower the mask
    ask_unmask_unknown: float
    rescued_by_unmask: float  # probes asked to unmask whose unmasked face then matches correctly
    probe_no_face: int
    unknown_no_face: int
    probe_flagged_masked: int
    threshold_unmasked: float
    threshold_masked: float


@dataclass
class MaskResult:
    """Mask flag on real masked photos and on unmasked LFW faces."""

    masked_real_photos: int
    masked_real_no_face: int
    masked_real_flagged: int
    lfw_faces: int
    lfw_flagged: int

    @property
    def recall(self) -> float:
        """Masked photos flagged masked (a photo with no face found counts as a miss)."""
        return self.masked_real_flagged / max(1, self.masked_real_photos)

    @property
    def false_flag_rate(self) -> float:
        """Unmasked LFW faces flagged masked."""
        return self.lfw_flagged / max(1, self.lfw_faces)


@dataclass
class EvalReport:
    """All numbers of one eval run (written by --json)."""

    model_version: str
    detector: str
    profile: str
    seconds: float
    pairs: dict[str, PairResult]  # empty when the profile has no pairs
    identification: dict[str, dict[str, IdentResult]]
    masks: MaskResult
    targets: dict[str, float]
    arrivals: dict[str, dict[str, float]] = field(default_factory=dict)  # kind -> shares (kiosk.diagnostics.arrivals)
    masked_samples: dict[str, dict[str, float]] = field(default_factory=dict)  # "off"/"on" -> numbers
    # The liveness mode each section ran with (section -> why), printed with the report.
    liveness: dict[str, str] = field(default_factory=dict)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _mark(value: float, target: float, lower_is_better: bool = False) -> str:
    ok = value <= target if lower_is_better else value >= target
    return "ok" if ok else "short"


def format_report(r: EvalReport) -> str:
    """The table `face-kiosk eval` prints."""
    subset = "" if r.profile == "full" else f" ({r.profile} subset)"
    lines = [f"face-kiosk eval: {r.model_version}, detector {r.detector}{subset}, {r.seconds:.0f} s"]
    if r.liveness:
        lines.append("Liveness check per section: " + "; ".join(f"{k}: {v}" for k, v in r.liveness.items())
                     + " (the check itself: face-kiosk eval --liveness)")
    lines.append("")
    if r.pairs:
        lines += _pairs_lines(r)
    lines += _ident_lines(r)
    if r.masked_samples:
        lines += _masked_sample_lines(r)
    if r.arrivals:
        lines += _arrival_lines(r)
    mk = r.masks
    lines += [
        "Mask flag (the pipeline's own)",
        f"  mask recall on masked-real: {_pct(mk.recall)} of {mk.masked_real_photos} photos "
        f"({mk.masked_real_no_face} with no face found, counted as misses)",
        f"  false mask flags on LFW: {_pct(mk.false_flag_rate)} of {mk.lfw_faces} unmasked faces",
    ]
    return "\n".join(lines)


def _pairs_lines(r: EvalReport) -> list[str]:
    u, m = r.pairs["unmasked"], r.pairs["masked"]
    return [
        f"LFW View 1 DevTrain pairs ({u.pairs} pairs; masked: mask painted on the second photo)",
        f"  {'':<44}{'unmasked':>10}{'masked':>10}",
        f"  {'10-fold accuracy (threshold from 9 folds)':<44}{_pct(u.ten_fold_accuracy):>10}{_pct(m.ten_fold_accuracy):>10}",
        f"  {'accuracy at the app threshold':<44}{_pct(u.accuracy_at_app_threshold):>10}"
        f"{_pct(m.accuracy_at_app_threshold):>10}   target {_pct(r.targets['lfw_unmasked'])} / "
        f"{_pct(r.targets['lfw_masked'])}: {_mark(u.accuracy_at_app_threshold, r.targets['lfw_unmasked'])} / "
        f"{_mark(m.accuracy_at_app_threshold, r.targets['lfw_masked'])}",
        f"  {'TAR at FAR 1e-3':<44}{_pct(u.tar_at_far_1e3):>10}{_pct(m.tar_at_far_1e3):>10}",
        f"  {'false accepts / false rejects (app)':<44}{f'{u.false_accepts}/{u.false_rejects}':>10}"
        f"{f'{m.false_accepts}/{m.false_rejects}':>10}",
        f"  {'probes flagged masked':<44}{u.probe_flagged_masked:>10}{m.probe_flagged_masked:>10}",
        f"  {'pairs with no face found (counted as misses)':<44}{u.no_face:>10}{m.no_face:>10}",
        f"  {'app thresholds used (unmasked | masked)':<44}{', '.join(f'{t:.3f}' for t in u.app_thresholds)}"
        f" | {', '.join(f'{t:.3f}' for t in m.app_thresholds)}",
        "",
    ]


def _masked_sample_lines(r: EvalReport) -> list[str]:
    off, on = r.masked_samples["off"], r.masked_samples["on"]
    lines = [f"Own-mask enrolment sample (3 bare photos + 1 in a painted mask; {int(off['people'])} people, "
             f"{int(off['probes'])} probes)",
             f"  {'use_masked_samples':<44}{'off':>10}{'on':>10}"]
    for key, label in (("rank1_masked", "rank-1, masked probes"), ("fpir_masked", "FPIR, masked unknown visitors"),
                       ("rank1_unmasked", "rank-1, unmasked probes"), ("fpir_unmasked", "FPIR, unmasked visitors")):
        lines.append(f"  {label:<44}{_pct(off[key]):>10}{_pct(on[key]):>10}")
    return [*lines, ""]


def _arrival_lines(r: EvalReport) -> list[str]:
    k = max(int(x) for x in r.identification)
    mode = r.liveness.get("walk-up arrivals", "off").split(" ")[0]
    lines = [f"Walk-up arrivals at the kiosk ({k} enrolment photo(s); live recognizer + kiosk flow at clip time; "
             f"liveness {mode})",
             f"  {'':<18}{'arrivals':>9}{'greeted right':>15}{'greeted wrong':>15}{'receptionist':>14}"
             f"{'asked to unmask':>17}{'undecided':>11}{'median s':>10}"]
    for kind, a in r.arrivals.items():
        lines.append(f"  {kind.replace('_', ', '):<18}{int(a['arrivals']):>9}{_pct(a['greeted_right']):>15}"
                     f"{_pct(a['greeted_wrong']):>15}{_pct(a['receptionist']):>14}{_pct(a['asked_to_unmask']):>17}"
                     f"{_pct(a['undecided']):>11}{a['median_s']:>10.1f}")
    return [*lines, ""]


def _ident_lines(r: EvalReport) -> list[str]:
    lines: list[str] = []
    for k, res in r.identification.items():
        a, b = res["unmasked"], res["masked"]
        lines += [
            f"1:N identification, {k} enrolment photo(s): {a.enrolled} enrolled ({a.enroll_failed} failed), "
            f"{a.probes} probes, {a.unknowns} unknown visitors",
            f"  {'':<44}{'unmasked':>10}{'masked':>10}",
            f"  {'rank-1 (right person accepted)':<44}{_pct(a.rank1):>10}{_pct(b.rank1):>10}   target "
            f"{_pct(r.targets['rank1_unmasked'])} / {_pct(r.targets['rank1_masked'])}: "
            f"{_mark(a.rank1, r.targets['rank1_unmasked'])} / {_mark(b.rank1, r.targets['rank1_masked'])}",
            f"  {'FPIR (unknown visitors accepted)':<44}{_pct(a.fpir):>10}{_pct(b.fpir):>10}   target <= "
            f"{_pct(r.targets['fpir'])}: {_mark(a.fpir, r.targets['fpir'], True)} / "
            f"{_mark(b.fpir, r.targets['fpir'], True)}",
            f"  {'wrong person accepted':<44}{_pct(a.wrong_person):>10}{_pct(b.wrong_person):>10}",
            f"  {'asked to lower the mask: probes / unknowns':<44}{'':>10}"
            f"{_pct(b.ask_unmask_genuine) + ' / ' + _pct(b.ask_unmask_unknown):>18}",
            f"  {'right person after lowering the mask':<44}{'':>10}{_pct(b.rank1 + b.rescued_by_unmask):>10}",
            f"  {'probes / unknowns with no face found':<44}{f'{a.probe_no_face}/{a.unknown_no_face}':>10}"
            f"{f'{b.probe_no_face}/{b.unknown_no_face}':>10}",
            f"  {'probes flagged masked':<44}{a.probe_flagged_masked:>10}{b.probe_flagged_masked:>10}",
            f"  {'thresholds (unmasked / masked probe)':<44}{f'{a.threshold_unmasked:.3f} / {a.threshold_masked:.3f}':>20}",
            "",
        ]
    return lines

