"""What the liveness check says about one track: live, attack or unsure, with a score and a reason."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Liveness(enum.Enum):
    """The check's verdict on a track."""

    LIVE = "live"  # a live face: may be greeted, logged and enrolled
    ATTACK = "attack"  # a photo, a screen or a refused challenge: never greeted, logged or enrolled as anyone
    UNSURE = "unsure"  # not decided yet: not greeted by name either


class Reason(enum.Enum):
    """Why, in words for the receptionist view and the events."""

    MOVES_LIKE_A_HEAD = "moves like a head"
    BLINKED = "blinked"
    CHALLENGE_PASSED = "did what the screen asked"
    FLAT = "flat like a photo"
    TEXTURE = "screen or print texture"
    CHALLENGE_FAILED = "did not do what the screen asked"
    STILL_PASSIVE = "looks live to the passive model (a still: no motion to check)"
    NO_MOTION = "no motion yet"
    WAITING = "not enough frames yet"
    OFF = "liveness check off"


class ChallengeKind(enum.Enum):
    """What the screen asks the visitor to do in `active` mode."""

    TURN = "turn"  # turn the head a little to either side
    BLINK = "blink"


@dataclass(frozen=True)
class Cues:
    """The evidence behind a decision (for the receptionist view, the events and the eval)."""

    passive: float | None = None  # mean p(real) of the passive passes so far (None: no pass yet)
    passes: int = 0  # passive passes run on this track
    planarity: float | None = None  # median log(residual / jitter) of the recent frames (~0: flat)
    moved: float = 0.0  # share of those frames on which the face had moved enough to tell
    motion_frames: int = 0  # frames behind `planarity`
    blinks: int = 0
    challenge: str | None = None  # "asking", "passed", "failed", "timed out" (active mode)


@dataclass(frozen=True)
class LivenessDecision:
    """The check's current word on one track. `score` is the fused evidence mapped to 0..1
    (0.5: none either way); `reason` names the cue that decided, or what is missing."""

    state: Liveness
    score: float
    reason: Reason
    cues: Cues
    age_s: float = 0.0  # how long the track has been watched
    challenge: ChallengeKind | None = None  # active mode: ask the visitor for this now

    @property
    def live(self) -> bool:
        """True when the face was judged live."""
        return self.state is Liveness.LIVE

    @property
    def attack(self) -> bool:
        """True when the face was judged a presentation attack."""
        return self.state is Liveness.ATTACK

    def as_dict(self) -> dict[str, object]:
        """For events and `identify --jsonl`: state, score, reason and the cues."""
        return {
            "state": self.state.value, "score": round(self.score, 4), "reason": self.reason.value,
            "passive": None if self.cues.passive is None else round(self.cues.passive, 4),
            "blinks": self.cues.blinks,
            "planarity": None if self.cues.planarity is None else round(self.cues.planarity, 3),
            "challenge": self.cues.challenge,
        }


#: The decision while the check is off: everyone counts as live, as before the check existed.
NOT_CHECKED = LivenessDecision(Liveness.LIVE, 1.0, Reason.OFF, Cues())
