"""The check on a single still image (`identify` on photos): only the passive model can speak.

A still has no motion and no blinks, so the decision is the passive model's alone, on one frame:
live when p(real) >= `STILL_LIVE_AT`, else an attack ("screen or print texture"). It is the
weakest form of the check (it refused 9.8% of bare lfw-dev press photos at 0.5; docs/liveness.md):
say so wherever it is shown.
"""

from __future__ import annotations

from kiosk.liveness.decision import Cues, Liveness, LivenessDecision, Reason

#: The original's decision rule is the softmax's largest class; p(real) >= 0.5 is that rule
#: whenever the two attack classes split the rest, and one number for the docs to quote.
STILL_LIVE_AT = 0.5


def judge_still(p_real: float) -> LivenessDecision:
    """The decision on one still image from the passive model's p(real)."""
    cues = Cues(passive=p_real, passes=1)
    if p_real >= STILL_LIVE_AT:
        return LivenessDecision(Liveness.LIVE, p_real, Reason.STILL_PASSIVE, cues)
    return LivenessDecision(Liveness.ATTACK, p_real, Reason.TEXTURE, cues)
