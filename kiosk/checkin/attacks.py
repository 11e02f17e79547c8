"""Presentation attacks the kiosk saw: one report per track the liveness check refused.

A report goes to every event target as a `presentation_attack` event (no name in it: who the
picture showed is for staff only) and to the receptionist view, which marks the track with
the reason and, since it already shows names, the person the votes pointed at.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from kiosk.liveness import LivenessDecision
from kiosk.recognition.live import TrackedFace
from kiosk.recognition.verdict import NO_SCORE


@dataclass(frozen=True)
class PresentationAttack:
    """A face the liveness check refused (an attack), as the receptionist view shows it."""

    track_id: int
    kiosk: str
    t: float  # seconds into the source, as the events' `t`
    decision: LivenessDecision
    masked: bool
    person_id: int | None  # who the votes pointed at, if anyone (staff only: never in the event)
    name: str | None
    score: float | None  # the recognition score behind that person (None: nobody was compared)

    def describe(self) -> str:
        """One line for the receptionist view (staff only)."""
        who = f"; the picture looked like {self.name} ({self.score:.2f})" if self.name and self.score is not None \
            else (f"; the picture looked like {self.name}" if self.name else "")
        masked = ", masked" if self.masked else ""
        return (f"Track {self.track_id} at {self.kiosk}: refused, a photo or a screen held up to the camera "
                f"({self.decision.reason.value}, liveness {self.decision.score:.2f}{masked}){who}")


def claimed_person(face: TrackedFace) -> tuple[int | None, str | None, float | None]:
    """(person id, name, score) the face's recognition pointed at: its settled identity, else its
    latest accepted vote; (None, None, score or None) when it named nobody."""
    ident = face.identity
    if ident.known:
        return ident.person_id, ident.name, ident.score
    vote = face.last_vote
    if vote is not None and vote.known:
        return vote.person_id, vote.name, vote.score
    score = ident.score if ident.settled else (vote.score if vote is not None else NO_SCORE)
    return None, None, None if score <= NO_SCORE else score


class AttackReports:
    """Which tracks were reported: one report per refused track, however long it stays in view."""

    TRACKS_KEPT = 256

    def __init__(self) -> None:
        self._reported: OrderedDict[int, None] = OrderedDict()

    def new(self, faces: Iterable[TrackedFace], kiosk: str, t: float) -> list[PresentationAttack]:
        """The faces of one frame whose track was judged an attack and not reported yet."""
        out = []
        for face in faces:
            if not face.liveness.attack or face.track_id in self._reported:
                continue
            self._reported[face.track_id] = None
            while len(self._reported) > self.TRACKS_KEPT:
                self._reported.popitem(last=False)
            person_id, name, score = claimed_person(face)
            out.append(PresentationAttack(face.track_id, kiosk, t, face.liveness, bool(face.masked),
                                          person_id, name, score))
        return out
