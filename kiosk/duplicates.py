"""Possible-duplicate check before enrolling: does this face already match someone in the gallery?

Uses the app's own Matcher and thresholds, so "possible duplicate" means exactly "the live
window would name this visitor as that person".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.config import MatchConfig
from kiosk.gallery.store import TemplateSet
from kiosk.matching import Matcher


@dataclass(frozen=True)
class DuplicateCandidate:
    """An enrolled person the new samples match."""

    person_id: int
    name: str
    score: float  # mean over the new samples of their best cosine against this person
    threshold: float
    matched: int  # how many of the new samples alone would be named as this person
    samples: int


def find_duplicates(templates: TemplateSet, embeddings: np.ndarray, masked: np.ndarray,
                    config: MatchConfig | None = None, exclude: int | None = None) -> list[DuplicateCandidate]:
    """People whose templates the new samples match, best first.

    A person is a candidate when the mean score of the samples reaches the mean threshold,
    or when at least half of the samples would each be named as them. `exclude` skips a
    person (the one samples are being added to).
    """
    embeddings = np.atleast_2d(np.asarray(embeddings, np.float32))
    masked = np.asarray(masked, bool).reshape(-1)
    if not len(templates) or not len(embeddings):
        return []
    matcher = Matcher(templates, config)
    scores = matcher.person_scores(embeddings, masked)  # (m, P)
    thresholds = np.array([matcher.thresholds(bool(m)) for m in masked], np.float32)
    people = np.unique(templates.person_ids)  # sorted ids: the columns of person_scores
    mean_threshold = float(thresholds.mean())
    out = []
    for col, pid in enumerate(people):
        pid = int(pid)
        if pid == exclude:
            continue
        column = scores[:, col]
        # A sample "matches" only if this person is also its best one (as identify would say).
        best = scores.argmax(axis=1) == col
        matched = int(np.sum(best & (column >= thresholds)))
        mean = float(column.mean())
        if mean >= mean_threshold or 2 * matched >= len(column):
            out.append(DuplicateCandidate(pid, templates.names.get(pid, f"#{pid}"), mean, mean_threshold,
                                          matched, len(column)))
    return sorted(out, key=lambda c: c.score, reverse=True)
