"""Possible-duplicate check before enrolling: does this face already match someone in the gallery?

Each new sample is identified with the app's own Matcher, thresholds and all, so "possible
duplicate" means exactly "the live window would name this visitor as that person".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from kiosk.config import MatchConfig
from kiosk.gallery.api import TemplateSet
from kiosk.recognition.matching import Matcher
from kiosk.recognition.verdict import Verdict


@dataclass(frozen=True)
class DuplicateCandidate:
    """An enrolled person some of the new samples are identified as."""

    person_id: int
    name: str
    score: float  # the best of those samples' scores against this person
    threshold: float  # the threshold that score was accepted at
    matched: int  # how many of the new samples are identified as this person
    samples: int  # how many new samples there were


def find_duplicates(templates: TemplateSet, embeddings: np.ndarray, masked: np.ndarray,
                    config: MatchConfig | None = None, exclude: int | None = None) -> list[DuplicateCandidate]:
    """People the new samples are identified as, most samples first.

    A person counts when at least a third of the samples (and at least one) are named as
    them: one stray sample in five should not stop an enrollment. `exclude` skips a person
    (the one samples are being added to).
    """
    embeddings = np.atleast_2d(np.asarray(embeddings, np.float32))
    masked = np.asarray(masked, bool).reshape(-1)
    if exclude is not None:
        # Drop that person before matching: otherwise they win the top-1 and hide a look-alike.
        keep = templates.person_ids != exclude
        templates = dataclasses.replace(
            templates, person_ids=templates.person_ids[keep], kinds=templates.kinds[keep],
            matrix=templates.matrix[keep],
        )
    if not len(templates) or not len(embeddings):
        return []
    results = Matcher(templates, config).identify(embeddings, masked)
    found: dict[int, list[Verdict]] = {}
    for result in results:
        if result.person_id is not None and result.person_id != exclude:
            found.setdefault(result.person_id, []).append(result)
    n = len(results)
    out = []
    for pid, hits in found.items():
        if 3 * len(hits) < n:
            continue
        best = max(hits, key=lambda r: r.score - r.threshold)
        out.append(DuplicateCandidate(pid, best.name or templates.names.get(pid, f"#{pid}"), best.score,
                                      best.threshold, len(hits), n))
    return sorted(out, key=lambda c: (c.matched, c.score - c.threshold), reverse=True)
