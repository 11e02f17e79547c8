"""Per track, frame by frame: the cues, the passive model's schedule, the challenge, the decision.

`LivenessMonitor.observe(track_id, t, frame, box, mesh)` is called for every face of every frame
the live loop analyses (the track's id from the tracker, the frame's capture time, the RGB frame,
the detector's box and the face mesh the pipeline made anyway). It returns that track's current
`LivenessDecision`. The caller forgets tracks that ended (`retain`).

Cost per face and frame: two homography fits on 478 points and the eye ratios (~0.3 ms), plus
cutting two 80x80 crops. The passive model runs at most once per `passive_interval_s` per track,
on the best frame since its last pass (sharp, frontal, large): about 4 ms for both models
(OpenCV's DNN engine; 10 ms in onnxruntime).

A decision of LIVE or ATTACK is final for the track: an attacker gets no second try on the
same track, and a greeted visitor is not taken back.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from kiosk.config import LIVENESS_MODES, LivenessConfig
from kiosk.liveness.blinks import BlinkCounter, BlinkRule
from kiosk.liveness.challenge import Challenge, ChallengeRule, ChallengeState
from kiosk.liveness.decision import (
    NOT_CHECKED,
    ChallengeKind,
    Cues,
    Liveness,
    LivenessDecision,
    Reason,
)
from kiosk.liveness.fusion import (
    DEFAULT_CALIBRATION,
    Evidence,
    FusionCalibration,
    decide,
    passive_evidence,
    planarity_evidence,
)
from kiosk.liveness.mesh_motion import eye_distance
from kiosk.liveness.passive import PassiveInput, PassiveScorer, passive_box
from kiosk.liveness.planarity import PlanarityCue, PlanarityReading, PlanarityRule
from kiosk.vision.landmarks import (
    EYE_LEFT_INNER,
    EYE_LEFT_OUTER,
    EYE_RIGHT_INNER,
    EYE_RIGHT_OUTER,
    NOSE_TIP,
)

MODES = LIVENESS_MODES


@dataclass(frozen=True)
class LivenessSettings:
    """How the check runs (`kiosk.config.LivenessConfig` makes these from the user's settings)."""

    mode: str = "passive"
    passive_interval_s: float = 1.0  # at most one passive pass per track this often
    first_pass_after_s: float = 0.2  # the first pass: on the best of the track's first frames
    challenge_after_s: float = 2.5  # active mode: ask when still unsure this long after the first frame
    challenge: ChallengeKind = ChallengeKind.TURN
    calibration: FusionCalibration = DEFAULT_CALIBRATION
    planarity: PlanarityRule = field(default_factory=PlanarityRule)
    blink: BlinkRule = field(default_factory=BlinkRule)
    challenge_rule: ChallengeRule = field(default_factory=ChallengeRule)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"liveness mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.passive_interval_s < 1.0:
            raise ValueError("passive_interval_s must be at least 1 s (one passive pass per track per second)")


def settings_from_config(config: LivenessConfig) -> LivenessSettings:
    """The check's settings from the user's (`liveness` in config.json)."""
    def log_odds(p: float) -> float:
        return math.log(p / (1 - p))

    return LivenessSettings(
        mode=config.mode,
        passive_interval_s=config.passive_interval_s,
        challenge_after_s=config.challenge_after_s,
        challenge=ChallengeKind(config.challenge),
        calibration=dataclasses.replace(DEFAULT_CALIBRATION, live_at=log_odds(config.live_score),
                                        attack_at=log_odds(config.attack_score)),
        challenge_rule=dataclasses.replace(ChallengeRule(), timeout_s=config.challenge_timeout_s),
    )


def sharpness(face: PassiveInput) -> float:
    """The Laplacian's variance on the 2.7x crop: high for a sharp face, low for a blurred one."""
    gray = cv2.cvtColor(face.crops[0], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def frame_quality(face: PassiveInput, mesh: np.ndarray | None, sharp_var: float | None = None) -> float:
    """How good a frame is for the passive model: sharp (Laplacian variance of the 2.7x crop),
    frontal (nose between the eyes) and large (eye distance)."""
    sharp = math.log1p(sharpness(face) if sharp_var is None else sharp_var)
    if mesh is None:
        return sharp
    pts = np.asarray(mesh, np.float64)[:, :2]
    eyes = eye_distance(mesh)
    left = (pts[EYE_LEFT_OUTER] + pts[EYE_LEFT_INNER]) / 2
    right = (pts[EYE_RIGHT_INNER] + pts[EYE_RIGHT_OUTER]) / 2
    axis = (right - left) / eyes
    yaw = abs(float(np.dot(pts[NOSE_TIP] - (left + right) / 2, axis))) / (eyes / 2)
    return sharp + 2.0 * max(0.0, 1.0 - yaw) + math.log(eyes)


class TrackLiveness:
    """One track's cues and decision."""

    def __init__(self, first_seen: float, settings: LivenessSettings) -> None:
        self.settings = settings
        self.first_seen = first_seen
        self.planarity = PlanarityCue(settings.planarity)
        self.blinks = BlinkCounter(settings.blink)
        self.passive_logits: list[float] = []
        self.passive_probs: list[float] = []
        self.last_pass: float | None = None
        self._candidate: tuple[float, PassiveInput] | None = None
        self.challenge: Challenge | None = None
        self.decision = LivenessDecision(Liveness.UNSURE, 0.5, Reason.WAITING, Cues())
        self._jitter_px = 1.0  # the mesh's jitter for the challenge, until the planarity cue measured it
        self._reading: PlanarityReading | None = None

    @property
    def final(self) -> bool:
        """True once the track was judged live or an attack."""
        return self.decision.state is not Liveness.UNSURE

    def pass_due(self, t: float) -> bool:
        """True when the passive model may (and should) run on this track now."""
        if self._candidate is None:
            return False
        if self.last_pass is None:
            return t - self.first_seen >= self.settings.first_pass_after_s
        return t - self.last_pass >= self.settings.passive_interval_s

    def offer(self, face: PassiveInput, mesh: np.ndarray | None, sharp_var: float | None = None) -> None:
        """Keep this frame's passive crops if it is the best frame since the last pass."""
        quality = frame_quality(face, mesh, sharp_var)
        if self._candidate is None or quality > self._candidate[0]:
            self._candidate = (quality, face)

    def run_passive(self, t: float, scorer: PassiveScorer) -> None:
        """The passive model on the best frame since the last pass."""
        assert self._candidate is not None
        p = scorer.score_input(self._candidate[1])
        self._candidate = None
        self.last_pass = t
        self.passive_probs.append(p)
        q = min(max(p, 1e-6), 1 - 1e-6)
        self.passive_logits.append(math.log(q / (1 - q)))

    def update_motion(self, t: float, mesh: np.ndarray, sharp_var: float | None = None) -> bool:
        """Feed the mesh to the planarity and blink cues; True when a blink ended here."""
        reading = self.planarity.update(t, mesh)
        self._jitter_px = self.planarity.jitter_px or self._jitter_px
        self._reading = reading
        return self.blinks.update(t, mesh, sharp_var, self.planarity.jitter_px)

    def update_challenge(self, t: float, mesh: np.ndarray | None, blinked: bool, may_ask: bool = True) -> None:
        """Active mode: start, feed or end the challenge. `may_ask`: this track's visitor is the one
        the screen would ask now; a question still asking someone the screen no longer faces is
        withdrawn (asked afresh, with a new time limit, when they are faced again)."""
        s = self.settings
        if self.challenge is None:
            if may_ask and self.decision.state is Liveness.UNSURE and t - self.first_seen >= s.challenge_after_s:
                self.challenge = Challenge(s.challenge, t, s.challenge_rule)
            else:
                return
        elif not may_ask and self.challenge.state is ChallengeState.ASKING:
            self.challenge = None
            return
        self.challenge.update(t, mesh, blinked, self._jitter_px)

    def decide(self, t: float) -> LivenessDecision:
        """The decision from the cues so far (unchanged once final)."""
        if self.final:
            return self.decision
        cal = self.settings.calibration
        reading = self._reading
        value = None if reading is None else reading.value
        moved = 0.0 if reading is None else reading.moved
        eye_px = 0.0 if reading is None else reading.eye_px
        passes = len(self.passive_logits)
        mean_logit = float(np.mean(self.passive_logits)) if passes else None
        ch = self.challenge
        evidence = Evidence(
            motion=cal.motion_weight * planarity_evidence(value, moved, eye_px, cal),
            blink=cal.blink_weight * min(self.blinks.blinks, cal.max_blinks),
            passive=passive_evidence(mean_logit, passes, cal),
            challenge=cal.challenge_weight if ch is not None and ch.state is ChallengeState.PASSED else 0.0,
        )
        cues = Cues(
            passive=float(np.mean(self.passive_probs)) if passes else None, passes=passes, planarity=value,
            moved=moved, motion_frames=0 if reading is None else reading.frames, blinks=self.blinks.blinks,
            challenge=None if ch is None else ch.state.value,
        )
        failed = ch is not None and ch.state in (ChallengeState.FAILED, ChallengeState.TIMED_OUT)
        state, score, reason = decide(evidence, cues, failed, cal)
        asking = ch.kind if ch is not None and ch.state is ChallengeState.ASKING and state is Liveness.UNSURE else None
        self.decision = LivenessDecision(state, score, reason, cues, t - self.first_seen, asking)
        return self.decision


class LivenessMonitor:
    """The liveness check of every track the live loop follows. One per worker thread.

    `scorer` is built on first need when not given (mode off never loads it).
    """

    def __init__(self, settings: LivenessSettings | None = None, scorer: PassiveScorer | None = None) -> None:
        self.settings = settings or LivenessSettings()
        self._scorer = scorer
        self.tracks: dict[int, TrackLiveness] = {}
        self.passes = 0  # passive passes run, for the benchmark

    @property
    def scorer(self) -> PassiveScorer:
        """The passive model (loaded on first use)."""
        if self._scorer is None:
            self._scorer = PassiveScorer()
        return self._scorer

    def observe(self, track_id: int, t: float, frame: np.ndarray, box: np.ndarray,
                mesh: np.ndarray | None, may_ask: bool = True) -> LivenessDecision:
        """One face of one frame: update its track's cues and return the track's decision.

        `frame` is the RGB frame, `box` the detector's box (the passive crops come from the
        mesh's box, from this one only when there is no mesh), `mesh` the face's (478, 3) mesh
        points in pixels. `may_ask` (active mode): the screen faces this visitor and can show
        them the challenge (the kiosk says which track, kiosk.recognition.liveness_feed); a face
        nobody asked is never refused for not answering.
        """
        if self.settings.mode == "off":
            return NOT_CHECKED
        track = self.tracks.get(track_id)
        if track is not None and track.final:  # nothing more to cut or compute
            return self.observe_cut(track_id, t, None, mesh)
        return self.observe_cut(track_id, t, PassiveInput.cut(frame, passive_box(mesh) if mesh is not None else box),
                                mesh, may_ask)

    def observe_cut(self, track_id: int, t: float, face: PassiveInput | None, mesh: np.ndarray | None,
                    may_ask: bool = True) -> LivenessDecision:
        """`observe` with the passive crops already cut (None: none from this frame)."""
        if self.settings.mode == "off":
            return NOT_CHECKED
        track = self.tracks.get(track_id)
        if track is None:
            track = self.tracks[track_id] = TrackLiveness(t, self.settings)
        if track.final:
            track.decision = _aged(track.decision, t - track.first_seen)
            return track.decision
        sharp_var = sharpness(face) if face is not None else None
        blinked = track.update_motion(t, mesh, sharp_var) if mesh is not None else False
        if face is not None:
            track.offer(face, mesh, sharp_var)
        if track.pass_due(t):
            track.run_passive(t, self.scorer)
            self.passes += 1
        if self.settings.mode == "active":
            track.update_challenge(t, mesh, blinked, may_ask)
        return track.decide(t)

    def decision(self, track_id: int) -> LivenessDecision:
        """The track's latest decision (UNSURE / waiting for a track never observed)."""
        if self.settings.mode == "off":
            return NOT_CHECKED
        track = self.tracks.get(track_id)
        return track.decision if track is not None else LivenessDecision(Liveness.UNSURE, 0.5, Reason.WAITING, Cues())

    def retain(self, alive: Iterable[int]) -> None:
        """Forget every track not in `alive` (the tracker's current tracks)."""
        keep = set(alive)
        for tid in [t for t in self.tracks if t not in keep]:
            del self.tracks[tid]


def _aged(decision: LivenessDecision, age: float) -> LivenessDecision:
    return LivenessDecision(decision.state, decision.score, decision.reason, decision.cues, age, None)
