"""What the kiosk flow does with a face's liveness decision, before it looks at who the face is.

The decision is the track's (kiosk.liveness, fed by the live loop: `TrackedFace.liveness`):

- LIVE, or the check off (every face then counts as live): PASS, the flow decides as it
  always did (greet, log, ask to lower the mask, send to the receptionist).
- ATTACK: REFUSE. The receptionist card, nobody named, no visit logged, never again for the
  track; the session reports a `presentation_attack`.
- UNSURE: nobody is greeted or logged on it yet. ASK while the check's challenge is on (active
  mode: "please turn your head a little" / "please blink"); otherwise WAIT ("please look at
  the camera"). Once the identity has settled (a person, or a stranger), it waits at most
  `wait_s` of the screen's attention (the time the kiosk faced this visitor, not someone
  else's greeting) for the face to be judged live; then GIVE_UP: the receptionist card as
  for a stranger (an unknown visit, never one as the voted person) and no attack reported,
  since nothing showed one.
"""

from __future__ import annotations

import enum
from collections import OrderedDict

from kiosk.config import LivenessConfig
from kiosk.liveness import Liveness
from kiosk.recognition.live import TrackedFace


class Gate(enum.Enum):
    """What the flow does with the face in front of the kiosk."""

    PASS = "pass"  # live (or no check): decide on who it is, as ever
    REFUSE = "refuse"  # an attack: the receptionist card, nobody named
    ASK = "ask"  # unsure, the challenge is on: show its prompt
    WAIT = "wait"  # unsure: "please look at the camera"
    GIVE_UP = "give up"  # unsure too long after the identity settled: the receptionist card


#: A recognised face still unsure this long (seconds) goes to the receptionist.
DEFAULT_WAIT_S = 8.0
_TRACKS_KEPT = 64  # tracks whose waiting time is remembered (the oldest go first)
_STEP_S = 0.5  # the most one pair of judgements adds to a visitor's waiting time


def liveness_wait_s(config: LivenessConfig) -> float:
    """How long a settled identity waits for liveness: `unsure_wait_s`, and in active mode at
    least until the challenge (asked `challenge_after_s` after the face appeared) has run out."""
    wait = config.unsure_wait_s
    if config.mode == "active":
        wait = max(wait, config.challenge_after_s + config.challenge_timeout_s + 0.5)
    return wait


class LivenessGate:
    """Judges the kiosk's primary face by its liveness decision. Call from the flow's thread."""

    def __init__(self, wait_s: float = DEFAULT_WAIT_S) -> None:
        self.wait_s = wait_s
        self._waited: OrderedDict[int, float] = OrderedDict()  # track -> seconds faced, settled and unsure
        self._last: tuple[int, float] | None = None  # (track, flow time) of the latest judgement

    def judge(self, now: float, face: TrackedFace) -> Gate:
        """PASS, REFUSE, ASK, WAIT or GIVE_UP for `face`, the face the kiosk faces at flow time `now`."""
        last, self._last = self._last, (face.track_id, now)
        decision = face.liveness
        if decision.state is Liveness.LIVE:
            return Gate.PASS
        if decision.state is Liveness.ATTACK:
            return Gate.REFUSE
        if decision.challenge is not None:
            return Gate.ASK
        if not face.identity.settled:
            return Gate.WAIT
        # Only the time since this same face's previous judgement counts: while the kiosk greeted
        # or asked someone else, this visitor was not being waited for.
        # A gap (no frame, the face missed) counts for at most _STEP_S.
        faced = now - last[1] if last is not None and last[0] == face.track_id and face.track_id in self._waited else 0.0
        waited = self._waited[face.track_id] = self._waited.get(face.track_id, 0.0) + min(max(0.0, faced), _STEP_S)
        self._waited.move_to_end(face.track_id)
        while len(self._waited) > _TRACKS_KEPT:
            self._waited.popitem(last=False)
        return Gate.GIVE_UP if waited >= self.wait_s else Gate.WAIT
