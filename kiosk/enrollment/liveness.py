"""Enrolment from the camera takes a live face only: the liveness check's decision on the track
each camera sample came from (kiosk.liveness, `TrackedFace.liveness` from the live loop).

- A sample can be taken while its track is still unsure (the capture's turn steps are what
  shows a head to the check), but the enrolment is saved only once every camera sample's
  track has been judged live.
- A track judged an attack (a photo or a screen held up) stops the capture: its samples are
  dropped, and the operator reads why.
- With the check off every face carries NOT_CHECKED, which is live: nothing changes.

Photos imported from files are not judged (they are photos by nature; the operator chose them).
"""

from __future__ import annotations

from collections.abc import Sequence

from kiosk.enrollment.guided import GuidedCapture
from kiosk.liveness import LivenessDecision
from kiosk.recognition.live import TrackedFace
from kiosk.vision.types import FaceAnalysis

_TRACKS_KEPT = 64


class CaptureLiveness:
    """The liveness of the camera samples' tracks, for one enrolment session."""

    def __init__(self) -> None:
        self._latest: dict[int, LivenessDecision] = {}  # track -> latest decision
        self._slot_track: dict[int, int] = {}  # capture slot -> the track its sample came from

    def observe(self, faces: Sequence[TrackedFace]) -> TrackedFace | None:
        """One frame's tracked faces; the first face judged an attack, if any."""
        for face in faces:
            self._latest[face.track_id] = face.liveness
        # The samples' tracks are kept; of the others (passers-by), the oldest go first.
        samples = set(self._slot_track.values())
        others = [t for t in self._latest if t not in samples]
        for track in others[: max(0, len(self._latest) - _TRACKS_KEPT)]:
            del self._latest[track]
        return next((f for f in faces if f.liveness.attack), None)

    def captured(self, slot: int, sample: FaceAnalysis, faces: Sequence[TrackedFace]) -> None:
        """Slot `slot` was filled with `sample`, one of this frame's `faces`' analyses."""
        track = next((f.track_id for f in faces if f.analysis is sample), None)
        if track is not None:
            self._slot_track[slot] = track

    def refuse(self, track_id: int, capture: GuidedCapture) -> int:
        """Empty every slot taken from `track_id`; returns how many."""
        slots = [s for s, t in self._slot_track.items() if t == track_id]
        for slot in slots:
            if capture.slots[slot] is not None:
                capture.retake(slot)
            del self._slot_track[slot]
        return len(slots)

    def forget_empty(self, capture: GuidedCapture) -> None:
        """Forget the tracks of slots that were emptied (retaken, started over)."""
        for slot in [s for s in self._slot_track if s >= len(capture.slots) or capture.slots[s] is None]:
            del self._slot_track[slot]

    def not_live(self, capture: GuidedCapture) -> list[LivenessDecision]:
        """The decisions of the filled slots' tracks that are not live yet (empty: all live)."""
        self.forget_empty(capture)
        out = []
        for track in sorted(set(self._slot_track.values())):
            decision = self._latest.get(track)
            if decision is not None and not decision.live:
                out.append(decision)
        return out
