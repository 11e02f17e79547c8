"""The one verdict type: who a face is, from the matcher to the screen.

The matcher makes one per probe; the tracker votes over a track's verdicts and hands on the
winning one (`Identity` wraps it with how settled the vote is); the live results, the kiosk
flow, the events and the CLI all read these same fields. A new field is added here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The score of a verdict with nobody to compare with (an empty gallery, a track not yet voted).
NO_SCORE = -1.0


@dataclass(frozen=True)
class Verdict:
    """Who a probe is (person_id None = unknown), how sure, and at which threshold."""

    person_id: int | None
    name: str | None
    score: float  # best person's cosine (higher = more alike; NAP space for masked comparisons)
    threshold: float  # the acceptance threshold that applied to that person
    masked: bool = False  # the probe's mask state, which chose the thresholds
    candidate_id: int | None = None  # best person even when below threshold (never shown as a name)
    runner_up: float = -1.0  # second-best person's score (-1 when none)
    unmask_below: float = 1.0  # masked probes scoring in [unmask_below, threshold) are asked to unmask

    @property
    def known(self) -> bool:
        """True when the probe was matched to an enrolled person."""
        return self.person_id is not None

    @property
    def margin(self) -> float:
        """How far above the threshold (negative: below)."""
        return self.score - self.threshold

    @property
    def ask_to_unmask(self) -> bool:
        """A masked probe too uncertain to greet but too close to call a stranger.

        The kiosk asks the visitor to lower the mask briefly and matches the bare face; it
        must never greet `candidate_id` by name on this verdict.
        """
        return self.masked and not self.known and self.score >= self.unmask_below


#: No verdict yet (a track nobody has recognised).
NO_VERDICT = Verdict(None, None, NO_SCORE, 1.0)
