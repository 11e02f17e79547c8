"""One score from the cues, and the decision: live, attack or unsure, with the deciding cue.

The score adds evidence in log-odds units (0: none either way) and maps it to 0..1:

- planarity (`kiosk.liveness.planarity`): +`motion_weight` for a face whose shape changed like a
  head's, -`motion_weight` for one that moved enough and stayed flat, sloping in between, nothing
  in the undecided middle (`flat_full`..`flat_end` and `head_start`..`head_full`);
- each blink, up to `max_blinks`: +`blink_weight` (a photo cannot blink; the mesh on a blurred
  frame of one can, rarely: 1 of 68 simulated calibration clips showed one such "blink", none two);
- the passive model: the mean logit of its p(real) over the track's passes, clipped at
  +-`passive_clip`, its positive side scaled by `passive_trust_real` (it calls most press photos
  real, so "real" is weak evidence) and the whole weighted up to full over `passive_full_passes`
  passes (one pass is one frame's opinion);
- the active challenge: +`challenge_weight` when passed; a failed one decides on its own.

Live at `live_at` or above, attack at `attack_at` or below. With the weights below a clear
planarity reading decides on its own; a blink needs support (a second one, or the passive
model's "real"); the passive model decides alone only its strongest "attack" (mean p(real) under
~0.05 on two passes, i.e. 1 s apart: a replayed video moves like a head and blinks, and only
that model sees the screen), and its "real" never makes a face live without motion or a blink
("never trust it alone"); a failed challenge decides.

Where the numbers come from (development data only: the real clips and the calibration half of
the simulated attacks, `kiosk/diagnostics/liveness_eval.py`; the measured table is in
`docs/liveness.md`):
- planarity (track values at 1.6-2 s): simulated photo clips -0.15..0.68
  (walk-ups while being carried up to ~0.6, tilted prints up to ~0.7: the mesh reads a tilt as a
  small turn), real heads that turn or talk 0.8-2.3, real faces walking straight at the camera
  0.2-0.7 (25 px eye distance). So flat up to `flat_end` 0.4, a head fully only from
  `head_full` 1.0: the walkers stay undecided (not refused, not yet greeted) rather than letting
  a tilted print through.
- passive: on 400 bare lfw-dev photos 3% score under 0.05 (logit -2.9); on 56 frames of the real
  clips 2 under 0.5, none under 0.2; 4 of the 5 attack samples under 0.25, one at 0.65.
- the weights: a walk-up photo the passive model calls real (logit +4.6 -> +1.15) must still end
  under `attack_at` on planarity alone (-5 + 1.15 < -2.94); a real head that turned must reach
  `live_at` even when the passive model doubts it (p 0.3: +5 - 0.85 > 2.94).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kiosk.liveness.decision import Cues, Liveness, Reason


@dataclass(frozen=True)
class FusionCalibration:
    """Weights and thresholds of the fused score (module docstring: where they come from)."""

    flat_full: float = 0.2  # planarity at or below: fully flat
    flat_end: float = 0.4  # ... above: no flat evidence
    head_start: float = 0.5  # planarity above: some head evidence
    head_full: float = 1.0  # ... at or above: full
    min_moved: float = 0.5  # share of frames that moved enough for flat evidence to count fully
    # Flat evidence needs a face large enough for a head's small turns to show above the mesh's
    # jitter (which is about as many pixels whatever the size): none at `flat_min_eye_px` eye
    # distance, full from `flat_full_eye_px`. The one real track that read flat (0.20) was a
    # face of 25 px walking straight at the camera; the simulated attacks reach 40-60 px.
    flat_min_eye_px: float = 24.0
    flat_full_eye_px: float = 36.0
    motion_weight: float = 5.0
    blink_weight: float = 2.0  # per blink, at most `max_blinks`: a blurred frame can fake one, rarely two
    max_blinks: int = 2
    passive_clip: float = 5.5  # one pass (half weight) stays above attack_at on its own
    passive_trust_real: float = 0.25
    passive_full_passes: int = 2
    challenge_weight: float = 6.0
    live_at: float = 2.944  # log-odds of 0.95 (config: liveness.live_score)
    attack_at: float = -2.944  # of 0.05 (liveness.attack_score)


DEFAULT_CALIBRATION = FusionCalibration()


def planarity_evidence(value: float | None, moved: float, eye_px: float,
                       cal: FusionCalibration = DEFAULT_CALIBRATION) -> float:
    """-1 (flat, having moved enough, large enough to tell) .. +1 (changed shape like a head);
    0 undecided."""
    if value is None:
        return 0.0
    if value >= cal.head_start:
        return min(1.0, (value - cal.head_start) / (cal.head_full - cal.head_start))
    if value >= cal.flat_end:
        return 0.0
    flat = min(1.0, (cal.flat_end - value) / (cal.flat_end - cal.flat_full))
    size = (eye_px - cal.flat_min_eye_px) / (cal.flat_full_eye_px - cal.flat_min_eye_px)
    return -flat * min(1.0, moved / cal.min_moved) * max(0.0, min(1.0, size))


def passive_evidence(mean_logit: float | None, passes: int, cal: FusionCalibration = DEFAULT_CALIBRATION) -> float:
    """The passive model's say: its mean logit, clipped, "real" scaled down, grown over passes."""
    if mean_logit is None or passes <= 0:
        return 0.0
    clipped = max(-cal.passive_clip, min(cal.passive_clip, mean_logit))
    if clipped > 0:
        clipped *= cal.passive_trust_real
    return clipped * min(1.0, passes / cal.passive_full_passes)


@dataclass(frozen=True)
class Evidence:
    """Each cue's share of the score (log-odds units)."""

    motion: float = 0.0
    blink: float = 0.0
    passive: float = 0.0
    challenge: float = 0.0

    @property
    def total(self) -> float:
        """The sum: the score before it is mapped to 0..1."""
        return self.motion + self.blink + self.passive + self.challenge


def decide(evidence: Evidence, cues: Cues, challenge_failed: bool = False,
           cal: FusionCalibration = DEFAULT_CALIBRATION) -> tuple[Liveness, float, Reason]:
    """(state, score 0..1, reason) from the evidence."""
    total = evidence.total
    score = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, total))))
    if challenge_failed:
        return Liveness.ATTACK, min(score, 1.0 / (1.0 + math.exp(-cal.attack_at))), Reason.CHALLENGE_FAILED
    if total <= cal.attack_at:
        reason = Reason.FLAT if evidence.motion <= evidence.passive else Reason.TEXTURE
        return Liveness.ATTACK, score, reason
    if total >= cal.live_at:
        positive = {Reason.MOVES_LIKE_A_HEAD: evidence.motion, Reason.BLINKED: evidence.blink,
                    Reason.CHALLENGE_PASSED: evidence.challenge}
        return Liveness.LIVE, score, max(positive, key=lambda r: positive[r])
    if cues.passes == 0 and cues.planarity is None:
        return Liveness.UNSURE, score, Reason.WAITING
    return Liveness.UNSURE, score, Reason.NO_MOTION
