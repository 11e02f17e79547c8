"""Following faces across frames, voting their identity, and announcing arrivals.

Detection runs on every frame; recognition (the expensive embedding) only when a track
needs it: a new track, a clearly better view than the one last recognised, an identity not
settled yet, a mask that came off or went on (until the new probe holds `fuse_frames` views),
or every `recheck_s`. Names come from a vote over the last few recognitions, so
one bad frame does not make a name flicker. Each track announces one `Arrival`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from kiosk.recognition.learning import LearnCandidate, MaskedView
from kiosk.recognition.verdict import NO_SCORE, Verdict
from kiosk.vision.geometry import iou_matrix
from kiosk.vision.types import FaceAnalysis


@dataclass(frozen=True)
class TrackerConfig:
    """How tracks are formed and when faces are recognised again."""

    iou_match: float = 0.3  # a detection continues the track it overlaps at least this much
    max_missed_s: float = 1.0  # a track not seen for longer than this has left
    window: int = 5  # recognitions kept per track for the vote
    min_agree: int = 2  # identical known votes before a name is shown
    confident_margin: float = 0.12  # ... or one vote this far above its threshold
    unknown_after: int = 3  # all-unknown votes before an unknown visitor is announced
    recheck_s: float = 1.0  # recognise a settled track again this often
    contested_recheck_s: float = 0.25  # ... this often while its last vote disagreed
    better_quality: float = 0.15  # ... or when its quality beats the best recognised by this much
    mask_smoothing: float = 0.4  # weight of the newest mask score in the track's running mean
    mask_threshold: float = 0.5  # a smoothed mask score at or above this means masked
    fuse_frames: int = 3  # a track's probe: the quality-weighted mean of its best this-many frames
    learn_views: int = 3  # masked frames kept per track for own-mask learning (kiosk.recognition.learning)

    def __post_init__(self) -> None:
        if not 0 < self.iou_match <= 1:
            raise ValueError("iou_match must be in (0, 1]")
        if self.window < max(self.min_agree, self.unknown_after):
            raise ValueError("window must hold min_agree and unknown_after votes")
        if self.min_agree < 1 or self.unknown_after < 1:
            raise ValueError("min_agree and unknown_after must be at least 1")
        if self.fuse_frames < 1:
            raise ValueError("fuse_frames must be at least 1")
        if self.learn_views < 0:
            raise ValueError("learn_views must be at least 0")


@dataclass(frozen=True)
class Identity:
    """Who a track is, as far as the votes tell; `settled` once they agree enough."""

    person_id: int | None
    name: str | None
    score: float  # mean score of the votes behind this identity (-1: none yet)
    settled: bool
    agreeing: int = 0  # votes behind it
    votes: int = 0  # votes held
    ask_to_unmask: bool = False  # not named, and the latest look was a near miss with a mask on

    @property
    def known(self) -> bool:
        """True when the track is an enrolled person."""
        return self.person_id is not None

    @property
    def pending(self) -> bool:
        """True until the votes agree on a person or on "unknown"."""
        return not self.settled


PENDING = Identity(None, None, NO_SCORE, False)


@dataclass(frozen=True)
class Arrival:
    """A person (or an unknown visitor) has arrived: once per track, when its identity settles."""

    track_id: int
    person_id: int | None
    name: str | None
    score: float
    masked: bool
    timestamp: float  # capture time of the frame that settled it
    frame_id: int
    first_seen: float  # capture time of the track's first frame

    @property
    def known(self) -> bool:
        """True for an enrolled person."""
        return self.person_id is not None


@dataclass
class Track:
    """One face followed over frames (internal state of the Tracker)."""

    track_id: int
    box: np.ndarray
    first_seen: float
    last_seen: float
    frames: int = 1
    mask_score: float = 0.0
    votes: deque[Verdict] = field(default_factory=deque)
    last_recognised: float | None = None
    best_quality: float = -1.0
    identity: Identity = PENDING
    arrived: bool = False
    mask_threshold: float = 0.5
    pool: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (quality, embedding), best first
    pool_masked: bool = False  # the mask state the pooled frames were taken in
    mesh: np.ndarray | None = None  # the face-mesh points of its latest frame
    # For own-mask learning: the best masked frames, and whom the track ever named.
    views: list[MaskedView] = field(default_factory=list)  # best quality first
    named: set[int] = field(default_factory=set)  # people any vote accepted
    shown: set[int] = field(default_factory=set)  # people its identity named
    bare_votes: Counter[int] = field(default_factory=Counter)  # accepted votes on the bare face, per person
    offered: bool = False  # its bare-face confirmation was handed on (once per track)
    live: bool | None = None  # set by the liveness check (kiosk/liveness); None: not checked
    epoch: int = 0  # how often its identity was decided afresh (gallery changed, mask came off)

    @property
    def masked(self) -> bool:
        """The smoothed mask state."""
        return self.mask_score >= self.mask_threshold


def vote_identity(votes: list[Verdict], config: TrackerConfig, current: Identity = PENDING) -> Identity:
    """The identity a list of votes (oldest first) supports, given the one shown so far.

    A known person needs `min_agree` votes, or a single vote `confident_margin` above its
    threshold (a clear first look names at once), and no other person with half as many votes
    (two people competing for one track name nobody); "unknown" needs `unknown_after` votes. A name
    already shown stays while any vote in a full window still supports it (bad frames
    of the same person are not a new person), and is never flipped on a tie. Ties between
    other people go to the most recent vote.
    """
    if not votes:
        return current
    counts = Counter(v.person_id for v in votes)
    last_index = {v.person_id: i for i, v in enumerate(votes)}
    known = [pid for pid in counts if pid is not None]
    best_known = max(known, key=lambda pid: (counts[pid], last_index[pid])) if known else None
    known_votes = counts[best_known] if best_known is not None else 0

    def identity_of(pid: int | None) -> Identity:
        mine = [v for v in votes if v.person_id == pid]
        name = next((v.name for v in reversed(mine) if v.name), None)
        return Identity(pid, name, float(np.mean([v.score for v in mine])), True, len(mine), len(votes))

    confident = best_known is not None and any(
        v.person_id == best_known and v.margin >= config.confident_margin for v in votes)
    # Naming someone new: another person with half as many votes means the looks disagree.
    rival = max((counts[pid] for pid in known if pid != best_known), default=0)
    contested = not current.known and 2 * rival >= known_votes
    if best_known is not None and not contested and (known_votes >= config.min_agree or (confident and not current.known)):
        if current.known and current.person_id != best_known and counts[current.person_id] >= known_votes:
            return identity_of(current.person_id)
        return identity_of(best_known)
    if current.known and (counts[current.person_id] > 0 or len(votes) < config.window):
        return Identity(current.person_id, current.name, current.score, True, counts[current.person_id], len(votes))
    ask = votes[-1].ask_to_unmask
    if counts[None] >= config.unknown_after and counts[None] > known_votes:
        return dataclasses.replace(identity_of(None), ask_to_unmask=ask)
    if current.settled and not current.known:  # one stray known vote does not name anyone
        return Identity(None, None, current.score, True, counts[None], len(votes), ask)
    return Identity(None, None, NO_SCORE, False, 0, len(votes), ask)


class Tracker:
    """Greedy IoU association plus per-track identity voting. Not thread-safe (one worker)."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, boxes: np.ndarray, timestamp: float, mask_scores: np.ndarray | None = None) -> list[int]:
        """Assign each detected box (n, 4) to a track (new or continued); returns the track ids.

        Tracks not seen for `max_missed_s` are dropped. A track continues only with the box
        it overlaps most (greedy by IoU), so two people passing each other keep their tracks.
        """
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        n = len(boxes)
        ids: list[int | None] = [None] * n
        live = list(self.tracks.values())
        if live and n:
            ious = iou_matrix(np.stack([t.box for t in live]), boxes)
            pairs = np.argwhere(ious >= self.config.iou_match)
            order = np.argsort(-ious[pairs[:, 0], pairs[:, 1]], kind="stable")
            used_tracks: set[int] = set()
            for ti, di in pairs[order]:
                if ti in used_tracks or ids[di] is not None:
                    continue
                used_tracks.add(int(ti))
                track = live[ti]
                track.box, track.last_seen = boxes[di].copy(), timestamp
                track.frames += 1
                ids[di] = track.track_id
        for di in range(n):
            if ids[di] is None:
                track = Track(self._next_id, boxes[di].copy(), timestamp, timestamp,
                              mask_threshold=self.config.mask_threshold)
                self._next_id += 1
                self.tracks[track.track_id] = track
                ids[di] = track.track_id
        track_ids = [tid for tid in ids if tid is not None]
        assert len(track_ids) == n, "every box continues a track or starts one"
        if mask_scores is not None:
            alpha = self.config.mask_smoothing
            for tid, score in zip(track_ids, np.asarray(mask_scores, np.float32).reshape(-1)):
                track = self.tracks[tid]
                track.mask_score = float(score) if track.frames == 1 else (
                    alpha * float(score) + (1 - alpha) * track.mask_score)
        for tid in [t.track_id for t in live if timestamp - t.last_seen > self.config.max_missed_s]:
            del self.tracks[tid]
        return track_ids

    def peek(self, boxes: np.ndarray) -> list[int | None]:
        """The track each box would most likely continue (IoU >= iou_match), without updating anything."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        live = list(self.tracks.values())
        if not live or not len(boxes):
            return [None] * len(boxes)
        ious = iou_matrix(boxes, np.stack([t.box for t in live]))
        best = ious.argmax(1)
        return [live[j].track_id if ious[i, j] >= self.config.iou_match else None for i, j in enumerate(best)]

    def boxes(self) -> np.ndarray:
        """(n, 4) the latest box of every live track."""
        return np.array([t.box for t in self.tracks.values()], np.float32).reshape(-1, 4)

    def last_mesh(self, track_id: int) -> np.ndarray | None:
        """The face-mesh points of a track's latest frame (None: none yet)."""
        return self.tracks[track_id].mesh

    def needs_recognition(self, track_id: int, quality: float, now: float) -> bool:
        """True when this track should be embedded and matched on the current frame."""
        track = self.tracks[track_id]
        if track.last_recognised is None or not track.identity.settled:
            return True
        same = 0  # the latest votes taken in the track's present mask state
        for v in reversed(track.votes):
            if v.masked != track.masked:
                break
            same += 1
        if same < min(len(track.votes), self.config.fuse_frames):
            # The mask came off (or went on): the earlier votes were about the other face, and
            # the probe starts again. Match every frame until `fuse_frames` votes of this face,
            # so a visitor who lowers the mask when asked is named in a few frames, not seconds.
            return True
        if track.votes[-1].person_id != track.identity.person_id:
            # Contested: the last look disagreed with the name shown. Look again soon, but not
            # on every frame, so a head turned for a moment does not vote a name away.
            return now - track.last_recognised >= self.config.contested_recheck_s
        if quality > track.best_quality + self.config.better_quality:
            return True
        return now - track.last_recognised >= self.config.recheck_s

    def fuse(self, track_id: int, embedding: np.ndarray, quality: float, masked: bool) -> tuple[np.ndarray, int]:
        """Pool a frame's embedding with the track's best ones; returns (fused unit probe, frames in it).

        The pool keeps the `fuse_frames` best-quality frames taken in the track's current mask
        state: when the visitor lowers (or puts on) the mask, the pool starts again, so a bare
        face is never averaged with its masked frames.
        """
        track = self.tracks[track_id]
        if track.pool and track.pool_masked != masked:
            track.pool.clear()
        track.pool_masked = masked
        track.pool.append((float(quality), np.asarray(embedding, np.float32)))
        track.pool.sort(key=lambda q: -q[0])
        del track.pool[self.config.fuse_frames:]
        weights = np.array([max(q, 1e-3) for q, _ in track.pool], np.float32)
        mean = (weights[:, None] * np.stack([e for _, e in track.pool])).sum(0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32), len(track.pool)

    def add_recognition(self, track_id: int, vote: Verdict, quality: float, now: float,
                        frame_id: int = 0) -> Arrival | None:
        """Record one recognition; returns the track's Arrival the first time its identity settles."""
        track = self.tracks[track_id]
        if (not vote.masked and track.identity.settled and not track.identity.known
                and all(v.masked for v in track.votes)):
            # The first look at the bare face of a track called unknown in a mask (asked to
            # lower it): the masked votes say nothing about this face. Decide afresh from it.
            _decide_afresh(track)
        track.votes.append(vote)
        while len(track.votes) > self.config.window:
            track.votes.popleft()
        track.last_recognised = now
        track.best_quality = max(track.best_quality, quality)
        track.identity = vote_identity(list(track.votes), self.config, track.identity)
        if vote.person_id is not None:
            track.named.add(vote.person_id)
            if not vote.masked:
                track.bare_votes[vote.person_id] += 1
        if track.identity.person_id is not None:
            track.shown.add(track.identity.person_id)
        if track.identity.settled and not track.arrived:
            track.arrived = True
            ident = track.identity
            return Arrival(track_id, ident.person_id, ident.name, ident.score, track.masked,
                           now, frame_id, track.first_seen)
        return None

    def keep_view(self, track_id: int, face: FaceAnalysis, quality: float, vote: Verdict) -> None:
        """Remember a masked frame the track was just recognised on (its best `learn_views`)."""
        track = self.tracks[track_id]
        if not vote.masked or self.config.learn_views == 0:
            return
        track.views.append(MaskedView(float(quality), np.asarray(face.embedding, np.float32), face.aligned,
                                      face.face_crop, vote))
        track.views.sort(key=lambda v: -v.quality)
        del track.views[self.config.learn_views:]

    def learn_candidate(self, track_id: int, person_id: int | None = None, *,
                        confirmed_by: str = "bare face") -> LearnCandidate | None:
        """What the track may teach about `person_id` (default: the person it is named as), or None.

        Never when any vote named someone else or the shown name changed. Confirmed on the bare
        face: the identity is settled on that person with `min_agree` accepted bare votes, and
        only masked frames whose probe pointed to them count. Confirmed by a receptionist: their
        word replaces the bare votes, and every masked frame counts.
        """
        track = self.tracks[track_id]
        pid = track.identity.person_id if person_id is None else person_id
        if pid is None or track.named - {pid} or track.shown - {pid}:
            return None
        views = track.views
        if confirmed_by == "bare face":
            if track.identity.person_id != pid or not track.identity.settled:
                return None
            if track.bare_votes[pid] < self.config.min_agree:
                return None
            views = [v for v in views if v.resembles(pid)]
        if not views:
            return None
        return LearnCandidate(track_id, pid, tuple(views), track.live, confirmed_by=confirmed_by)

    def confirmation(self, track_id: int) -> LearnCandidate | None:
        """The track's bare-face confirmation, the first time there is one (then never again)."""
        track = self.tracks[track_id]
        if track.offered:
            return None
        candidate = self.learn_candidate(track_id)
        if candidate is not None:
            track.offered = True
        return candidate

    def last_vote(self, track_id: int) -> Verdict | None:
        """The most recent recognition of a track (raw, before voting), or None."""
        votes = self.tracks[track_id].votes
        return votes[-1] if votes else None

    def identity(self, track_id: int) -> Identity:
        """The current identity of a track."""
        return self.tracks[track_id].identity

    def forget_identities(self) -> None:
        """Vote again from scratch (after the gallery changed, e.g. someone was enrolled or removed).

        Arrivals are not repeated for tracks that already arrived; each track's `epoch` grows, so
        whoever acted on its earlier identity (the kiosk flow) knows it was decided again.
        """
        for track in self.tracks.values():
            _decide_afresh(track)
            track.pool.clear()
            track.last_recognised = None
            track.best_quality = -1.0


def _decide_afresh(track: Track, keep: Verdict | None = None) -> None:
    """Drop a track's votes (keeping `keep`, if any) and vote its identity again."""
    track.votes.clear()
    if keep is not None:
        track.votes.append(keep)
    track.identity = PENDING
    track.epoch += 1
