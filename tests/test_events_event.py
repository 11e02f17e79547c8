"""KioskEvent: the exact JSON shape other tools consume, and strict parsing back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from kiosk.events.event import JSON_KEYS, LIVENESS_KEYS, KioskEvent
from kiosk.liveness import Cues, Liveness, LivenessDecision, Reason

WHEN = datetime(2026, 3, 4, 9, 15, 30, 123456, tzinfo=timezone.utc)


def arrival(**overrides: object) -> KioskEvent:
    fields: dict[str, object] = dict(
        event="arrival", t=12.5, track=3, kiosk="desk-1", site="hq", person="Ada Lovelace",
        person_id=17, score=0.61, masked=True, logged=True, time=WHEN,
    )
    fields.update(overrides)
    return KioskEvent(**fields)  # type: ignore[arg-type]


def test_json_is_exactly_the_documented_object_in_order() -> None:
    line = arrival().to_json()
    assert line == (
        '{"time":"2026-03-04T09:15:30.123Z","t":12.5,"event":"arrival",'
        '"person":"Ada Lovelace","person_id":17,"score":0.61,"masked":true,"track":3,'
        '"logged":true,"kiosk":"desk-1","liveness":null}'
    )
    assert tuple(json.loads(line)) == JSON_KEYS
    assert "site" not in line and "event_id" not in line


def test_unknown_visitor_has_nulls_and_names_are_not_escaped() -> None:
    unknown = KioskEvent(event="unknown", t=0, track=0, kiosk="desk-1", site="hq", time=WHEN)
    data = json.loads(unknown.to_json())
    assert data["person"] is None and data["person_id"] is None and data["score"] is None
    assert data["masked"] is False and data["logged"] is False
    assert isinstance(data["t"], float)
    assert '"person":"Zoë Ødegård"' in arrival(person="Zoë Ødegård").to_json()


def test_time_is_utc_whatever_zone_it_was_made_in() -> None:
    cet = timezone(timedelta(hours=1))
    event = arrival(time=datetime(2026, 3, 4, 10, 15, 30, tzinfo=cet))
    assert event.time.utcoffset() == timedelta(0)
    assert json.loads(event.to_json())["time"] == "2026-03-04T09:15:30.000Z"
    assert KioskEvent(event="unknown", t=1, track=1, kiosk="k", site="").time.tzinfo is not None


def test_event_id_is_made_once_per_event() -> None:
    a, b = arrival(), arrival()
    assert a.event_id != b.event_id and len(a.event_id) == 32
    assert a.event_id == a.event_id  # frozen: the same on every retry
    with pytest.raises(AttributeError):
        a.event_id = "x"  # type: ignore[misc]


def test_round_trip_through_from_dict() -> None:
    event = arrival()
    back = KioskEvent.from_json(event.to_json(), site="hq", event_id=event.event_id)
    assert back.to_json() == event.to_json()
    assert back.site == "hq" and back.event_id == event.event_id
    plus = json.loads(event.to_json())
    plus["time"] = "2026-03-04T09:15:30.123+00:00"
    assert KioskEvent.from_dict(plus).time == event.time.replace(microsecond=123000)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("event", "left", "event must be one of"),
    ("masked", 1, "masked must be a bool"),
    ("track", True, "track must be an int"),
    ("track", -1, "track must be an int >= 0"),
    ("person_id", "17", "person_id must be None or an int"),
    ("score", "high", "score must be None or a finite number"),
    ("t", -0.5, "t must be a finite number >= 0"),
    ("time", "yesterday", "time is not ISO-8601"),
    ("time", "2026-03-04T10:15:30+01:00", "time must be UTC"),
    ("time", "2026-03-04T10:15:30", "time must be UTC"),
    ("person", None, "an arrival needs person and person_id"),
])
def test_from_dict_names_what_is_wrong(key: str, value: object, message: str) -> None:
    data = json.loads(arrival().to_json())
    data[key] = value
    with pytest.raises(ValueError, match=message) as info:
        KioskEvent.from_dict(data)
    assert "\n" not in str(info.value)


def test_from_dict_wants_exactly_the_keys() -> None:
    data = json.loads(arrival().to_json())
    with pytest.raises(ValueError, match="unknown key"):
        KioskEvent.from_dict({**data, "extra": 1})
    del data["kiosk"]
    with pytest.raises(ValueError, match="missing key.*kiosk"):
        KioskEvent.from_dict(data)
    with pytest.raises(ValueError, match="not valid JSON"):
        KioskEvent.from_json("{")


def test_constructor_checks_consistency() -> None:
    with pytest.raises(ValueError, match="unknown visitor has no person"):
        KioskEvent(event="unknown", t=1, track=1, kiosk="k", site="", person="Ada", person_id=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        arrival(time=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="score"):
        arrival(score=float("nan"))
    # ask_to_unmask may or may not carry the candidate
    KioskEvent(event="ask_to_unmask", t=1, track=2, kiosk="k", site="", masked=True)


FLAT = LivenessDecision(Liveness.ATTACK, 0.0089, Reason.FLAT, Cues(passive=0.73421, passes=2, planarity=-0.0931))


def attack(**overrides: object) -> KioskEvent:
    fields: dict[str, object] = dict(event="presentation_attack", t=1.6, track=4, kiosk="desk-1", site="hq",
                                     score=0.95, liveness=FLAT.as_dict(), time=WHEN)
    fields.update(overrides)
    return KioskEvent(**fields)  # type: ignore[arg-type]


def test_a_presentation_attack_has_the_same_keys_no_person_and_the_checks_word() -> None:
    line = attack().to_json()
    data = json.loads(line)
    assert tuple(data) == JSON_KEYS
    assert (data["event"], data["person"], data["person_id"], data["logged"]) == ("presentation_attack", None,
                                                                                 None, False)
    assert data["liveness"] == {"state": "attack", "score": 0.0089, "reason": "flat like a photo",
                                "passive": 0.7342, "blinks": 0, "planarity": -0.093, "challenge": None}
    assert tuple(data["liveness"]) == LIVENESS_KEYS  # the decision's own JSON, key for key
    assert KioskEvent.from_json(line).to_json() == line
    with pytest.raises(ValueError, match="presentation attack has no person"):
        attack(person="Ada Lovelace", person_id=17)
    with pytest.raises(ValueError, match="needs liveness and is never logged"):
        attack(liveness=None)
    with pytest.raises(ValueError, match="needs liveness and is never logged"):
        attack(logged=True)


def test_an_arrival_carries_the_checks_word_and_an_old_line_without_it_reads_as_null() -> None:
    live = LivenessDecision(Liveness.LIVE, 0.97, Reason.MOVES_LIKE_A_HEAD, Cues(planarity=1.4)).as_dict()
    assert json.loads(arrival(liveness=live).to_json())["liveness"]["state"] == "live"
    old = json.loads(arrival().to_json())
    del old["liveness"]
    assert KioskEvent.from_dict(old).liveness is None


@pytest.mark.parametrize(("change", "message"), [
    ({"state": "maybe"}, "liveness.state must be one of"),
    ({"score": 1.5}, "liveness.score must be a number in 0..1"),
    ({"blinks": -1}, "liveness.blinks"),
    ({"planarity": "flat"}, "liveness.planarity"),
    ({"extra": 1}, "liveness must be null or an object with the keys"),
])
def test_a_malformed_liveness_is_refused_in_one_line(change: dict[str, object], message: str) -> None:
    data = json.loads(attack().to_json())
    data["liveness"] = {**data["liveness"], **change}
    with pytest.raises(ValueError, match=message) as info:
        KioskEvent.from_dict(data)
    assert "\n" not in str(info.value)
