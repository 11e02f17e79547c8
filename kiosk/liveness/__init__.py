"""Presentation-attack detection (liveness): is the face in front of the camera a live person?

Qt-free. Per track, from what the live loop computes anyway (the face mesh) and a small passive
model run at most once a second: a fused score, a decision (live / attack / unsure) and a
reason. `LivenessMonitor` is the entry point; `docs/liveness.md` says how it works, what it
stops and what it does not.
"""

from kiosk.liveness.decision import (
    NOT_CHECKED,
    ChallengeKind,
    Cues,
    Liveness,
    LivenessDecision,
    Reason,
)
from kiosk.liveness.monitor import MODES, LivenessMonitor, LivenessSettings, settings_from_config
from kiosk.liveness.passive import PassiveScorer
from kiosk.liveness.still import judge_still

__all__ = [
    "MODES", "NOT_CHECKED", "ChallengeKind", "Cues", "Liveness", "LivenessDecision", "LivenessMonitor",
    "LivenessSettings", "PassiveScorer", "Reason", "judge_still", "settings_from_config",
]
