"""Own-mask learning: a returning masked visitor is matched against their own mask, safely.

When a track's identity is confirmed on the bare face (the visitor lowered the mask and was
named, or a receptionist confirmed who it is), the best masked frame of that same track is kept
as one own-mask sample of the person. The matcher compares masked visitors with the mean of a
person's own-mask samples (`match.use_masked_samples`) at its own, calibrated mask-vs-mask
thresholds (docs/matching.md, "Learning own-mask samples"), so the next masked visit is
recognised without asking them to lower the mask.

What is never learned from:
- a track that failed liveness (`live is False`; `None` means no liveness check ran for it,
  e.g. none is configured, and does not block);
- a track whose votes ever named someone else, or whose shown name changed;
- masked frames whose best candidate was not the confirmed person, or that scored below the
  ask-to-unmask band for them (the masked face must at least resemble the bare one);
- anything while `match.learn_masked_samples` or `match.use_masked_samples` is off.

Learned samples are ordinary samples (crop kept, template re-made by `people reembed`), stored
through `GalleryStore.add_samples` in one audited transaction; at most
`match.learned_masked_max` per person: the newest replaces the oldest learned one, in the same
transaction. They carry `source` "learned own-mask: bare face" (or ": receptionist") so the gallery manager shows them
and a receptionist can delete them like any photo.

The tracker (kiosk.recognition.tracking) collects the masked views and names a track's
`LearnCandidate` once its bare identity is confirmed; the kiosk session decides whether to
learn (only for a visit it greeted and logged). A receptionist-confirmed route is an API
(`Tracker.learn_candidate(track, person, confirmed=True)` then `OwnMaskLearner.learn`) the
receptionist view can call later; no screen calls it yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from kiosk.config import MatchConfig
from kiosk.errors import KioskError
from kiosk.gallery.api import GalleryStore, NewSample, NewTemplate
from kiosk.recognition.matching import MASKED_PHOTO
from kiosk.recognition.verdict import Verdict

log = logging.getLogger(__name__)

#: The `source` of every learned sample starts with this (how the cap finds them).
LEARNED_SOURCE = "learned own-mask"


@dataclass(frozen=True)
class MaskedView:
    """One masked frame of a track, as recognised: its crops, embedding, quality and the vote
    the track's (fused) masked probe got on that frame."""

    quality: float
    embedding: np.ndarray  # (D,) the frame's own embedding (what a learned template stores)
    aligned: np.ndarray  # 112x112x3
    face_crop: np.ndarray | None  # 256x256x3 loose crop (to re-embed later)
    vote: Verdict

    def resembles(self, person_id: int) -> bool:
        """The frame's probe pointed to this person: accepted, or a near miss (ask to unmask)."""
        return self.vote.candidate_id == person_id and (self.vote.known or self.vote.ask_to_unmask)


@dataclass(frozen=True)
class LearnCandidate:
    """A track confirmed as one person, with the masked frames it may teach."""

    track_id: int
    person_id: int
    views: tuple[MaskedView, ...]  # masked frames that resemble the person, best first
    live: bool | None  # the track's liveness: False = failed (never learned), None = not checked
    model_version: str = ""
    confirmed_by: str = "bare face"  # or "receptionist"

    @property
    def best(self) -> MaskedView | None:
        """The masked frame to keep (highest quality), or None."""
        return self.views[0] if self.views else None


@dataclass(frozen=True)
class LearnOutcome:
    """What `OwnMaskLearner.learn` did."""

    learned: bool
    reason: str  # why not (or "learned")
    replaced: tuple[int, ...] = ()  # learned sample ids that made room


def learning_enabled(config: MatchConfig) -> bool:
    """True when learned own-mask samples are both kept and matched."""
    return config.learn_masked_samples and config.use_masked_samples


class OwnMaskLearner:
    """Stores own-mask samples from confirmed tracks, capped per person. One per kiosk session."""

    def __init__(self, gallery: GalleryStore, config: MatchConfig, *, kiosk: str = "") -> None:
        self.gallery = gallery
        self.config = config
        self.kiosk = kiosk
        self.learned = 0

    def learn(self, candidate: LearnCandidate) -> LearnOutcome:
        """Keep the candidate's best masked frame as an own-mask sample of its person."""
        if not learning_enabled(self.config):
            return LearnOutcome(False, "learning is off")
        if candidate.live is False:
            return LearnOutcome(False, "the track failed liveness")
        best = candidate.best
        if best is None or not candidate.model_version:
            return LearnOutcome(False, "no masked frame resembling the person")
        pid = candidate.person_id
        sample = NewSample(
            aligned=best.aligned,
            templates=[NewTemplate(MASKED_PHOTO, best.embedding, best.quality)],
            # A short label the gallery keeps as it is (a longer one would be taken for a file
            # name and hashed, kiosk.gallery.stored_faces.photo_provenance, hiding the prefix).
            source=f"{LEARNED_SOURCE}: {candidate.confirmed_by}",
            quality=best.quality, masked=True, face_crop=best.face_crop,
        )
        try:
            learned = [s.id for s in self.gallery.samples(pid) if s.source.startswith(LEARNED_SOURCE)]
            replaced = tuple(learned[: max(0, len(learned) - self.config.learned_masked_max + 1)])  # oldest first
            self.gallery.add_samples(pid, [sample], candidate.model_version, replacing=replaced)
        except KioskError as exc:  # removed meanwhile, the server offline: nothing learned, nothing lost
            log.warning("own-mask sample of person %s not kept: %s", pid, exc)
            return LearnOutcome(False, str(exc))
        self.learned += 1
        log.info("kept an own-mask sample of person %s (track %s%s, confirmed by %s)%s", pid, candidate.track_id,
                 f" at {self.kiosk}" if self.kiosk else "", candidate.confirmed_by,
                 f", replacing {len(replaced)}" if replaced else "")
        return LearnOutcome(True, "learned", replaced)
