"""The visit log policy: one check-in per person per cooldown, one unknown event per track, CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

import numpy as np
import pytest

from kiosk.checkin.visits import CHECKIN, UNKNOWN, CheckinLog, export_day_csv, visits_to_csv
from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails, Visit

TZ = dt.timezone(dt.timedelta(hours=2))


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _person(gallery: Gallery, name: str) -> int:
    vec = np.random.default_rng(len(name)).normal(size=128).astype(np.float32)
    sample = NewSample(np.zeros((112, 112, 3), np.uint8), [NewTemplate("full", vec)])
    return gallery.add_person(PersonDetails(name), [sample], "test-model")


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "g.db")
    yield g
    g.close()


@pytest.fixture
def clock():
    return FakeClock(dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=TZ))


def test_one_checkin_per_person_per_cooldown(gallery, clock):
    alice, bob = _person(gallery, "Alice"), _person(gallery, "Bob")
    log = CheckinLog(gallery, cooldown_s=600, clock=clock)

    first = log.checkin(alice, 0.71, masked=True)
    assert first is not None and first.kind == CHECKIN and first.masked
    clock.advance(30)
    assert log.checkin(alice, 0.8, masked=False) is None  # still within the cooldown
    assert log.checkin(bob, 0.6, masked=False) is not None  # cooldowns are per person
    clock.advance(569)
    assert log.checkin(alice, 0.7, masked=False) is None  # 599 s after the first
    clock.advance(1)
    assert log.checkin(alice, 0.7, masked=False) is not None  # 600 s: a new visit

    rows = gallery.visits(dt.date(2026, 3, 2))
    assert [(r.name, r.kind) for r in reversed(rows)] == [
        ("Alice", CHECKIN), ("Bob", CHECKIN), ("Alice", CHECKIN)]
    oldest = rows[-1]
    assert oldest.ts == "2026-03-02T09:00:00+02:00"
    assert oldest.score == pytest.approx(0.71) and oldest.masked == 1
    assert oldest.source == "kiosk"


def test_zero_cooldown_logs_every_checkin(gallery, clock):
    alice = _person(gallery, "Alice")
    log = CheckinLog(gallery, cooldown_s=0, clock=clock)
    assert log.checkin(alice, 0.7, False) is not None
    assert log.checkin(alice, 0.7, False) is not None
    assert gallery.counts()["visits"] == 2


def test_clock_set_backwards_never_double_logs(gallery, clock):
    alice = _person(gallery, "Alice")
    log = CheckinLog(gallery, cooldown_s=600, clock=clock)
    assert log.checkin(alice, 0.7, False) is not None
    clock.advance(-3600)
    assert log.checkin(alice, 0.7, False) is None
    assert log.in_cooldown(alice)


def test_restart_keeps_todays_cooldowns(gallery, clock):
    alice = _person(gallery, "Alice")
    CheckinLog(gallery, cooldown_s=600, clock=clock).checkin(alice, 0.7, False)
    clock.advance(60)
    again = CheckinLog(gallery, cooldown_s=600, clock=clock)  # e.g. the app was restarted
    assert again.in_cooldown(alice)
    assert again.checkin(alice, 0.7, False) is None
    clock.advance(600)
    assert again.checkin(alice, 0.7, False) is not None
    assert gallery.counts()["visits"] == 2


def test_a_restart_just_after_midnight_keeps_the_cooldown_of_a_checkin_just_before(gallery):
    alice, bob = _person(gallery, "Alice"), _person(gallery, "Bob")
    clock = FakeClock(dt.datetime(2026, 3, 2, 23, 59, 0, tzinfo=TZ))
    log = CheckinLog(gallery, cooldown_s=600, clock=clock)
    assert log.checkin(alice, 0.7, False) is not None
    clock.advance(-3600 * 24)
    assert log.checkin(bob, 0.7, False) is not None  # the day before, at 23:59: long past
    clock.advance(3600 * 24 + 120)  # 00:01 on the next day: the kiosk is restarted
    again = CheckinLog(gallery, cooldown_s=600, clock=clock)
    assert again.in_cooldown(alice)
    assert again.checkin(alice, 0.7, False) is None
    assert not again.in_cooldown(bob)
    clock.advance(480)  # 600 s after 23:59
    assert again.checkin(alice, 0.7, False) is not None
    assert [v.ts for v in gallery.visits(dt.date(2026, 3, 3)) if v.person_id == alice] == ["2026-03-03T00:09:00+02:00"]


def test_a_restart_reads_back_as_many_days_as_a_day_long_cooldown_spans(gallery):
    alice = _person(gallery, "Alice")
    clock = FakeClock(dt.datetime(2026, 3, 2, 0, 30, 0, tzinfo=TZ))
    CheckinLog(gallery, cooldown_s=86_400, clock=clock).checkin(alice, 0.7, False)
    clock.advance(86_400 - 1)  # 00:29:59 the next day: still within the day-long cooldown
    assert CheckinLog(gallery, cooldown_s=86_400, clock=clock).in_cooldown(alice)
    clock.advance(1)
    assert not CheckinLog(gallery, cooldown_s=86_400, clock=clock).in_cooldown(alice)


def test_a_sign_in_by_touch_is_the_visit_the_face_then_seen_belongs_to(gallery, clock):
    ada, alan = _person(gallery, "Ada"), _person(gallery, "Alan")
    log = CheckinLog(gallery, cooldown_s=600, clock=clock)
    log.arrived(ada)  # she signed in on the screen just now
    clock.advance(60)
    assert log.checkin(ada, 0.8, False) is None  # recognised a minute later: the same visit
    # Alan signed in on another kiosk (or before a restart): his sign_in row seeds the cooldown.
    gallery.record_visit(alan, "sign_in", None, False, "kiosk", clock().isoformat(timespec="seconds"))
    clock.advance(60)
    restarted = CheckinLog(gallery, cooldown_s=600, clock=clock)
    assert restarted.in_cooldown(alan) and restarted.checkin(alan, 0.8, False) is None
    clock.advance(600)
    assert log.checkin(ada, 0.8, False) is not None and restarted.checkin(alan, 0.8, False) is not None


def test_unknown_visitor_once_per_track(gallery, clock):
    log = CheckinLog(gallery, cooldown_s=600, clock=clock)
    assert log.unknown(track_id=7, score=0.2, masked=False) is not None
    assert log.unknown(track_id=7, score=0.3, masked=True) is None
    assert log.unknown(track_id=8, score=0.1, masked=True) is not None
    rows = gallery.visits(dt.date(2026, 3, 2))
    assert [(r.person_id, r.kind) for r in rows] == [(None, UNKNOWN), (None, UNKNOWN)]


def test_unknown_track_memory_is_bounded(gallery, clock):
    log = CheckinLog(gallery, cooldown_s=600, clock=clock)
    for track in range(600):
        log.unknown(track, None, False)
    assert len(log._unknown_tracks) <= 512
    assert log.unknown(599, None, False) is None  # the newest tracks are still remembered


def test_a_failing_store_does_not_raise(clock, caplog):
    class Broken:
        def record_visit(self, *a, **k):
            raise OSError("disk full")

        def visits(self, day=None):
            raise OSError("locked")

    log = CheckinLog(Broken(), cooldown_s=600, clock=clock)
    assert log.checkin(1, 0.9, False) is None
    assert not log.in_cooldown(1)  # nothing was written, so the next sighting tries again
    assert "could not record" in caplog.text


def test_csv_export_of_one_day(gallery, clock, tmp_path):
    alice = _person(gallery, "=cmd|' /C calc'!A0")  # a formula-looking name
    log = CheckinLog(gallery, cooldown_s=600, clock=clock)
    log.checkin(alice, 0.712345, True)
    clock.advance(5)
    log.unknown(1, 0.2, False)
    clock.advance(86_400)  # the next day: not in the export
    log.checkin(alice, 0.7, False)

    out = tmp_path / "visits.csv"
    assert export_day_csv(gallery, dt.date(2026, 3, 2), out) == 2
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel then reads UTF-8 names right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["time", "kind", "name", "person_id", "score", "masked", "source", "site", "kiosk"]
    assert rows[1] == ["2026-03-02T09:00:00+02:00", CHECKIN, "'=cmd|' /C calc'!A0", str(alice),
                       "0.712", "yes", "kiosk", "", "kiosk"]
    assert rows[2][1:3] == [UNKNOWN, "Unknown visitor"]
    assert len(rows) == 3
    assert not (tmp_path / "visits.csv.tmp").exists()


def test_csv_text_sorted_oldest_first():
    text = visits_to_csv([
        Visit(2, "2026-03-02T10:00:00+00:00", CHECKIN, 1, "B", None, False, ""),
        Visit(1, "2026-03-02T09:00:00+00:00", CHECKIN, 2, "A", 0.5, True, ""),
    ])
    lines = text.splitlines()
    assert lines[1].split(",")[2] == "A" and lines[2].split(",")[2] == "B"
    assert lines[2].split(",")[4] == ""  # no score stays empty, not "None"


# -- from surviving mutants: the boundaries and fields the kiosk and the events rely on ------


def test_the_cooldown_ends_at_its_exact_second(gallery, clock):
    alice = _person(gallery, "Alice")
    log = CheckinLog(gallery, cooldown_s=600, clock=clock)
    log.checkin(alice, 0.7, False)
    clock.advance(599)
    assert log.in_cooldown(alice)
    clock.advance(1)
    assert not log.in_cooldown(alice)


def test_a_restart_seeds_the_latest_checkin_past_unknowns_and_naive_times(gallery, clock):
    alice = _person(gallery, "Alice")
    gallery.record_visit(alice, CHECKIN, 0.7, False, "kiosk", "2026-03-02T06:00:00+02:00")
    # Written by an older version without a zone: read as local time, not a crash.
    local_recent = (clock.now - dt.timedelta(seconds=30)).astimezone().replace(tzinfo=None)
    gallery.record_visit(alice, CHECKIN, 0.7, False, "kiosk", local_recent.isoformat(timespec="seconds"))
    gallery.record_visit(None, UNKNOWN, 0.1, False, "kiosk", "2026-03-02T08:59:50+02:00")  # newest
    log = CheckinLog(gallery, cooldown_s=600, clock=clock)
    assert log.in_cooldown(alice)  # the 30-second-old visit counts, not the 06:00 one


def test_unknown_visits_keep_their_score_and_mask_and_the_returned_visit_is_the_row(gallery, clock):
    log = CheckinLog(gallery, cooldown_s=600, clock=clock, source="door")
    visit = log.unknown(track_id=3, score=0.23456, masked=True)
    (row,) = gallery.visits(dt.date(2026, 3, 2))
    assert (row.kind, row.person_id, row.score, bool(row.masked), row.source) == (UNKNOWN, None, 0.2346, True, "door")
    assert visit == Visit(row.id, "2026-03-02T09:00:00+02:00", UNKNOWN, None, None, 0.2346, True, "door")
    alice = _person(gallery, "Alice")
    checkin = log.checkin(alice, 0.71, False)
    assert (checkin.person_id, checkin.score, checkin.masked, checkin.source) == (alice, 0.71, False, "door")
    assert checkin.id is not None and checkin.id != visit.id


def test_many_people_checked_in_keep_their_cooldowns(gallery, clock):
    log = CheckinLog(gallery, cooldown_s=600, clock=clock)
    people = [_person(gallery, f"P{i}") for i in range(520)]  # more than the log keeps in memory
    for pid in people:
        log.checkin(pid, 0.7, False)
    clock.advance(60)
    assert log.checkin(people[0], 0.7, False) is None  # still within the cooldown


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(lead):
    text = visits_to_csv([Visit(1, "2026-03-02T09:00:00+00:00", CHECKIN, 1, f"{lead}SUM(A1)", 0.5, False, "")])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 2 and rows[1][2] == f"'{lead}SUM(A1)".replace("\r", " ")
