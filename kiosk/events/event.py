"""One recognition decision as an event, and its JSON line (the shape other tools consume).

The JSON object has exactly these keys, in this order:
`time, t, event, person, person_id, score, masked, track, logged, kiosk, liveness`. `site` and
`event_id` travel with the event but not in the JSON: the site is part of the MQTT topic,
the id is sent as the `X-Face-Kiosk-Event` header so a receiver can drop a retried duplicate.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, get_args

EventType = Literal["arrival", "unknown", "ask_to_unmask", "sign_in", "sign_out", "presentation_attack"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)

# The JSON keys, in the order they are written. from_dict accepts exactly these.
JSON_KEYS: tuple[str, ...] = (
    "time", "t", "event", "person", "person_id", "score", "masked", "track", "logged", "kiosk", "liveness",
)
#: What the liveness check said of the event's face (kiosk.liveness.LivenessDecision.as_dict):
#: these keys, "state" one of LIVENESS_STATES and "score" in 0..1. Events decided by touch, and
#: every event while the check is off, carry null.
LIVENESS_KEYS: tuple[str, ...] = ("state", "score", "reason", "passive", "blinks", "planarity", "challenge")
LIVENESS_STATES: tuple[str, ...] = ("live", "attack", "unsure")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, kw_only=True, slots=True)
class KioskEvent:
    """A recognition decision.

    - `arrival`: a known person was recognised; `logged` is True when a visit row was written
      (False inside the cooldown). `person` and `person_id` are required.
    - `unknown`: a stranger was sent to the receptionist; `person` and `person_id` are None.
    - `ask_to_unmask`: the visitor was asked to lower the mask.
    - `sign_in`: a visitor signed in by touch (a first-time self sign-in, or a name picked from
      the expected list); `person` and `person_id` are required, `logged` is True (a visit was
      written), `track` is 0 and `score` None (no face decided it).
    - `sign_out`: a person left (the kiosk's Leaving button, an exit camera, the receptionist
      or the end-of-day sweep); `person` and `person_id` are required.
    - `presentation_attack`: the liveness check refused a face (a photo or a screen held up to
      the camera); `person` and `person_id` are None (who the picture showed is for staff
      only: the receptionist view), `logged` is False, `liveness` is required.

    `liveness` is the check's word on the face (`LIVENESS_KEYS`), None when the check is off
    or no face decided the event.

    `time` must be timezone-aware (it is stored in UTC); `t` is seconds into the source.
    """

    event: EventType
    t: float
    track: int
    kiosk: str
    site: str
    masked: bool = False
    logged: bool = False
    person: str | None = None
    person_id: int | None = None
    score: float | None = None
    liveness: dict[str, Any] | None = None
    time: datetime = field(default_factory=_utc_now)
    event_id: str = field(default_factory=_new_id)

    def __post_init__(self) -> None:
        _check(self.event in EVENT_TYPES, f"event must be one of {', '.join(EVENT_TYPES)}")
        _check(isinstance(self.time, datetime) and self.time.tzinfo is not None
               and self.time.utcoffset() is not None, "time must be a timezone-aware datetime")
        # Frozen: normalise through object.__setattr__ so every event carries UTC.
        object.__setattr__(self, "time", self.time.astimezone(timezone.utc))
        _check(_is_number(self.t) and math.isfinite(self.t) and self.t >= 0,
               "t must be a finite number >= 0")
        object.__setattr__(self, "t", float(self.t))
        _check(_is_int(self.track) and self.track >= 0, "track must be an int >= 0")
        _check(isinstance(self.masked, bool), "masked must be a bool")
        _check(isinstance(self.logged, bool), "logged must be a bool")
        _check(isinstance(self.kiosk, str) and 0 < len(self.kiosk) <= 64, "kiosk must be 1-64 chars")
        _check(isinstance(self.site, str) and len(self.site) <= 64, "site must be at most 64 chars")
        _check(self.person is None or (isinstance(self.person, str) and len(self.person) <= 200),
               "person must be None or a string of at most 200 chars")
        _check(self.person_id is None or _is_int(self.person_id), "person_id must be None or an int")
        if self.score is not None:
            _check(_is_number(self.score) and math.isfinite(self.score),
                   "score must be None or a finite number")
            object.__setattr__(self, "score", float(self.score))
        if self.event in ("arrival", "sign_in", "sign_out"):
            what = "an arrival" if self.event == "arrival" else f"a {self.event.replace('_', '-')}"
            _check(self.person is not None and self.person_id is not None,
                   f"{what} needs person and person_id")
        if self.event in ("unknown", "presentation_attack"):
            _check(self.person is None and self.person_id is None,
                   f"{'an unknown visitor' if self.event == 'unknown' else 'a presentation attack'} "
                   "has no person or person_id")
        if self.liveness is not None:
            _check_liveness(self.liveness)
            object.__setattr__(self, "liveness", dict(self.liveness))
        if self.event == "presentation_attack":
            _check(self.liveness is not None and not self.logged,
                   "a presentation attack needs liveness and is never logged")
        _check(isinstance(self.event_id, str) and 0 < len(self.event_id) <= 64,
               "event_id must be 1-64 chars")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as a dict, keys in the documented order."""
        return {
            "time": self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "t": self.t,
            "event": self.event,
            "person": self.person,
            "person_id": self.person_id,
            "score": self.score,
            "masked": self.masked,
            "track": self.track,
            "logged": self.logged,
            "kiosk": self.kiosk,
            "liveness": None if self.liveness is None else dict(self.liveness),
        }

    def to_json(self) -> str:
        """The compact JSON line (UTF-8 as is: names are not \\u-escaped)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, site: str = "",
                  event_id: str | None = None) -> KioskEvent:
        """Parse the JSON object back (strict: exactly the documented keys, right types; a line
        without `liveness`, as written before the check existed, reads as null).

        Raises ValueError with a one-line message naming the bad key.
        """
        if not isinstance(data, Mapping):
            raise ValueError("event: expected a JSON object")
        keys = set(data)
        missing = [k for k in JSON_KEYS if k not in keys and k != "liveness"]
        extra = sorted(keys - set(JSON_KEYS))
        if missing:
            raise ValueError(f"event: missing key(s) {', '.join(missing)}")
        if extra:
            raise ValueError(f"event: unknown key(s) {', '.join(map(str, extra))}")
        raw_time = data["time"]
        if not isinstance(raw_time, str):
            raise ValueError("event: time must be an ISO-8601 string")
        try:
            when = datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("event: time is not ISO-8601") from None
        if when.utcoffset() != timezone.utc.utcoffset(None):
            raise ValueError("event: time must be UTC (Z or +00:00)")
        # The dataclass checks types strictly (bool is not an int, an int is not a bool).
        return cls(
            time=when, t=data["t"], event=data["event"], person=data["person"],
            person_id=data["person_id"], score=data["score"], masked=data["masked"],
            track=data["track"], logged=data["logged"], kiosk=data["kiosk"], site=site,
            liveness=data.get("liveness"),
            **({"event_id": event_id} if event_id is not None else {}),
        )

    @classmethod
    def from_json(cls, line: str | bytes, *, site: str = "",
                  event_id: str | None = None) -> KioskEvent:
        """Parse a JSON line (see `from_dict`)."""
        try:
            data = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            raise ValueError("event: not valid JSON") from None
        return cls.from_dict(data, site=site, event_id=event_id)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"event: {message}")


def _check_liveness(value: object) -> None:
    _check(isinstance(value, Mapping) and set(value) == set(LIVENESS_KEYS),
           f"liveness must be null or an object with the keys {', '.join(LIVENESS_KEYS)}")
    assert isinstance(value, Mapping)
    _check(value["state"] in LIVENESS_STATES, f"liveness.state must be one of {', '.join(LIVENESS_STATES)}")
    score = value["score"]
    _check(_is_number(score) and 0.0 <= score <= 1.0, "liveness.score must be a number in 0..1")
    _check(isinstance(value["reason"], str) and len(value["reason"]) <= 200, "liveness.reason must be a string")
    for key in ("passive", "planarity"):
        _check(value[key] is None or (_is_number(value[key]) and math.isfinite(value[key])),
               f"liveness.{key} must be null or a finite number")
    _check(_is_int(value["blinks"]) and value["blinks"] >= 0, "liveness.blinks must be an int >= 0")
    _check(value["challenge"] is None or isinstance(value["challenge"], str),
           "liveness.challenge must be null or a string")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
