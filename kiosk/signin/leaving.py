"""Who is leaving: the "Leaving" button signs out the person the camera next recognises with
confidence (the tracker's settled vote: the same rule that greets them), the largest face first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kiosk.recognition.live import TrackedFace


@dataclass(frozen=True)
class Recognised:
    """A face the tracker has named with confidence."""

    person_id: int
    name: str
    track_id: int


def recognised_face(faces: Iterable[TrackedFace]) -> Recognised | None:
    """The largest face whose track has a settled identity, or None (nobody, or not sure yet)."""
    named = [f for f in faces if f.identity.settled and f.identity.person_id is not None]
    if not named:
        return None
    face = max(named, key=lambda f: float(f.box[2] - f.box[0]))
    assert face.identity.person_id is not None
    return Recognised(face.identity.person_id, face.identity.name or "", face.track_id)
