"""Mask-aware matching of probe embeddings against the gallery's templates.

Decision rules live here, shared by the CLI, the live window, kiosk mode and `eval`,
so every number the benchmarks print is measured at the app's own thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.config import MatchConfig
from kiosk.gallery.store import TemplateSet

# Template kinds stored per enrollment sample.
FULL = "full"
SYNTH_MASK = "synthetic-mask"


@dataclass(frozen=True)
class MatchResult:
    """Who a probe is (person_id None = unknown), how sure, and at which threshold."""

    person_id: int | None
    name: str | None
    score: float  # best person score (cosine, higher = more alike)
    threshold: float
    runner_up: float  # second-best person's score (-1 when none)
    candidate_id: int | None = None  # best person even when below threshold (never shown as a name)

    @property
    def known(self) -> bool:
        """True when the probe was matched to an enrolled person."""
        return self.person_id is not None

    @property
    def margin(self) -> float:
        """How far above the threshold (negative: below)."""
        return self.score - self.threshold


class Matcher:
    """Scores probes against one TemplateSet with thresholds chosen by mask state."""

    def __init__(self, templates: TemplateSet, config: MatchConfig | None = None) -> None:
        self.config = config or MatchConfig()
        self.templates = templates
        # Templates grouped by person so a per-person max is one np.maximum.reduceat.
        self._order = np.argsort(templates.person_ids, kind="stable")
        sorted_ids = templates.person_ids[self._order]
        self._people, self._starts = np.unique(sorted_ids, return_index=True)
        self._matrix = templates.matrix[self._order] if len(templates) else templates.matrix

    def thresholds(self, masked: bool) -> float:
        """The acceptance threshold for a probe of this mask state and this gallery size."""
        if masked and self.config.threshold_masked is not None:
            return self.config.threshold_masked
        if not masked and self.config.threshold_unmasked is not None:
            return self.config.threshold_unmasked
        return 0.45 if masked else 0.5

    def person_scores(self, probes: np.ndarray, masked: np.ndarray) -> np.ndarray:
        """(m, P) best cosine per person over that person's templates."""
        sims = probes @ self._matrix.T
        return np.maximum.reduceat(sims, self._starts, axis=1)

    def identify(self, probes: np.ndarray, masked: np.ndarray) -> list[MatchResult]:
        """1:N: the matched person (or None) for each probe embedding."""
        probes = np.atleast_2d(np.asarray(probes, np.float32))
        masked = np.asarray(masked, bool).reshape(-1)
        if not len(self._people):
            return [MatchResult(None, None, -1.0, self.thresholds(bool(m)), -1.0) for m in masked]
        scores = self.person_scores(probes, masked)
        results = []
        for i in range(len(probes)):
            order = np.argsort(-scores[i])
            best = int(order[0])
            top = float(scores[i, best])
            second = float(scores[i, order[1]]) if len(order) > 1 else -1.0
            threshold = self.thresholds(bool(masked[i]))
            pid = int(self._people[best])
            accepted = top >= threshold
            results.append(
                MatchResult(
                    pid if accepted else None,
                    self.templates.names.get(pid) if accepted else None,
                    top,
                    threshold,
                    second,
                    candidate_id=pid,
                )
            )
        return results


def verify_score(a: np.ndarray, b: np.ndarray) -> float:
    """1:1 cosine similarity of two unit vectors."""
    return float(np.dot(a, b))


def verify_threshold(config: MatchConfig, masked_a: bool, masked_b: bool) -> float:
    """The 1:1 acceptance threshold for this pair's mask states."""
    if config.verify_threshold is not None:
        return config.verify_threshold
    return 0.45 if (masked_a or masked_b) else 0.5


def verify_pair(a: np.ndarray, masked_a: bool, b: np.ndarray, masked_b: bool,
                config: MatchConfig | None = None) -> tuple[float, bool]:
    """1:1: (score, same person?) at the app's threshold for these mask states."""
    config = config or MatchConfig()
    score = verify_score(a, b)
    return score, bool(score >= verify_threshold(config, masked_a, masked_b))
