"""The shipped score calibration: impostor-score tails per comparison kind, and the NAP adapter.

`tools/calibrate.py` measures, on lfw-dev only, how often two *different* people score at
least `t` (the impostor exceedance, i.e. the false-accept rate per comparison) for every kind
of comparison the matcher makes, and fits the far upper tail with a generalised Pareto
distribution (peaks over threshold). Thresholds are then derived, never hand-set:

- 1:1 (verify): the score whose impostor exceedance is `verify_far`;
- 1:N (identify): the score whose exceedance is `1 - (1 - target_fpir) ** (1 / N)` for a
  gallery of N people, so a stranger matches *someone* with probability ~target_fpir.

Everything is keyed by the embedder's model version: templates (and thresholds) are only
comparable within one version.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from kiosk.errors import ModelError
from kiosk.vision.geometry import l2_normalise

log = logging.getLogger(__name__)

# Comparison kinds ("cells"): the probe's mask state x the template's.
UNMASKED = "unmasked"  # unmasked probe vs template from an unmasked photo
MASKED = "masked"  # exactly one side masked (masked probe vs unmasked photo, or the reverse)
MASK_VS_MASK = "mask-vs-mask"  # masked probe vs template from a masked photo: strangers look alike
CELLS = (UNMASKED, MASKED, MASK_VS_MASK)


def fused_cell(cell: str) -> str:
    """The cell of probes fused from several frames of one track (their own impostor tails)."""
    return f"{cell}+fused"


@dataclass(frozen=True)
class ImpostorTail:
    """P(impostor score >= t): empirical quantiles down to `p_u`, a GPD fit beyond.

    `quantiles` holds (exceedance, score) pairs with exceedance descending, all >= p_u.
    Above `u` (the score exceeded with probability `p_u`) the exceedance is
    p_u * (1 + xi * (t - u) / sigma) ** (-1 / xi).
    """

    u: float
    p_u: float
    sigma: float
    xi: float
    quantiles: tuple[tuple[float, float], ...] = ()
    n: int = 0  # impostor comparisons behind the fit (for the record)

    def threshold(self, far: float) -> float:
        """The score that impostors reach or exceed with probability `far`."""
        far = float(min(max(far, 1e-12), 0.5))
        if far < self.p_u:
            ratio = far / self.p_u
            if abs(self.xi) < 1e-9:
                t = self.u - self.sigma * math.log(ratio)
            else:
                t = self.u + self.sigma / self.xi * (ratio ** (-self.xi) - 1.0)
            if self.xi < 0:  # bounded tail: never beyond its end point
                t = min(t, self.u - self.sigma / self.xi)
            return float(min(t, 1.0))
        # Interpolate the empirical quantiles in log-exceedance.
        pts = sorted([*self.quantiles, (self.p_u, self.u)])
        probs = np.log([p for p, _ in pts])
        scores = np.array([s for _, s in pts])
        return float(np.interp(math.log(far), probs, scores))

    def exceedance(self, score: float) -> float:
        """Estimated impostor probability of scoring >= `score` (the inverse of `threshold`)."""
        if score <= self.u:
            pts = sorted([*self.quantiles, (self.p_u, self.u)], key=lambda q: q[1])
            scores = np.array([s for _, s in pts])
            logs = np.log([p for p, _ in pts])
            return float(np.exp(np.interp(score, scores, logs)))
        z = 1.0 + self.xi * (score - self.u) / self.sigma
        if z <= 0:
            return 0.0
        if abs(self.xi) < 1e-9:
            return float(self.p_u * math.exp(-(score - self.u) / self.sigma))
        return float(self.p_u * z ** (-1.0 / self.xi))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImpostorTail:
        """Read one cell of calibration.json."""
        return cls(
            u=float(data["u"]), p_u=float(data["p_u"]), sigma=float(data["sigma"]), xi=float(data["xi"]),
            quantiles=tuple((float(p), float(s)) for p, s in data.get("quantiles", [])),
            n=int(data.get("n", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written by tools/calibrate.py."""
        return {"u": round(self.u, 6), "p_u": self.p_u, "sigma": round(self.sigma, 6), "xi": round(self.xi, 6),
                "quantiles": [[p, round(s, 6)] for p, s in self.quantiles], "n": self.n}


def per_comparison_far(fpir: float, n_people: int) -> float:
    """Per-comparison false-accept rate that gives `fpir` over a gallery of `n_people`.

    Assumes independent comparisons; with real probes (some strangers look like many
    people) the true FPIR comes out at or below the target (Jensen), so this errs safe.
    """
    n = max(1, int(n_people))
    return float(-math.expm1(math.log1p(-fpir) / n))


@dataclass(frozen=True)
class Calibration:
    """One embedder version's score adapter and its impostor tails per cell and template size.

    The adapter is fixed, learned without identity labels (tools/train_nap.py): `mean` is
    subtracted from every embedding (impostor scores then centre on 0 whatever the number of
    photos averaged into a template) and, when either side is masked, the `nap` directions
    (how a mask moves an embedding) are projected out too.
    `tails[cell][k]` describes impostor scores against templates averaged from k photos (more
    photos make a template more typical, and strangers score a little higher against it).
    """

    model_version: str
    tails: dict[str, dict[int, ImpostorTail]]
    mean: np.ndarray | None = None  # (D,)
    nap: np.ndarray | None = None  # (k, D) orthonormal nuisance directions

    def tail(self, cell: str, photos: int = 1) -> ImpostorTail:
        """The tail for templates of `photos` photos (the largest calibrated size not above it)."""
        by_k = self.tails[cell]
        sizes = [k for k in sorted(by_k) if k <= max(1, photos)] or [min(by_k)]
        return by_k[sizes[-1]]

    def threshold(self, cell: str, far: float, photos: int = 1) -> float:
        """The score an impostor of this cell reaches with probability `far`."""
        return self.tail(cell, photos).threshold(far)

    def plain(self, x: np.ndarray) -> np.ndarray:
        """Rows in the space of unmasked comparisons: centred and re-normalised."""
        x = np.asarray(x, np.float32)
        if self.mean is not None:
            x = x - self.mean
        return l2_normalise(x)

    def masked_space(self, x: np.ndarray) -> np.ndarray:
        """Rows in the space of comparisons with a masked side: centred, NAP-projected, re-normalised."""
        x = np.asarray(x, np.float32)
        if self.mean is not None:
            x = x - self.mean
        if self.nap is not None:
            x = x - (x @ self.nap.T) @ self.nap
        return l2_normalise(x)


CALIBRATION_KEY = "calibration"


def _read_calibration_file() -> dict[str, Any]:
    from kiosk.models import verified_model_path

    path = verified_model_path(CALIBRATION_KEY)
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable calibration ({exc})") from None
    return data


def _load_adapter(key: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    from kiosk.models import verified_model_path

    with np.load(verified_model_path(key)) as data:
        mean = np.asarray(data["mean"], np.float32)
        directions = np.asarray(data["directions"], np.float32)
    if mean.shape != (dim,) or directions.ndim != 2 or directions.shape[1] != dim:
        raise ModelError(f"adapter {key}: expected mean ({dim},) and directions (k, {dim}), "
                         f"got {mean.shape} and {directions.shape}")
    return mean, directions


@cache
def load_calibration(model_version: str) -> Calibration | None:
    """The shipped calibration for this embedder version, or None when there is none."""
    entry = _read_calibration_file().get("embedders", {}).get(model_version)
    if entry is None:
        return None
    tails = {cell: {int(k): ImpostorTail.from_dict(d) for k, d in by_k.items()}
             for cell, by_k in entry["cells"].items()}
    mean = nap = None
    if entry.get("adapter"):
        mean, nap = _load_adapter(entry["adapter"], int(entry["dim"]))
    return Calibration(model_version, tails, mean, nap)


def calibrated_versions() -> list[str]:
    """The embedder versions the shipped calibration covers."""
    return sorted(_read_calibration_file().get("embedders", {}))
