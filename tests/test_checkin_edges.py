"""Edges of the kiosk flow and the visit log: boundaries, fields and paths the main tests skip.

The flow is fed hand-made tracked faces (the tracker's voted identity is the flow's input), so
every frame's identity, mask flag and box is exact; times are binary fractions, so the
boundaries hold to the bit. Visits go to a real gallery in tmp_path.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ManualClock

from kiosk.checkin import visits as visits_module
from kiosk.checkin.flow import FlowTiming, KioskFlow, KioskState, Screen
from kiosk.checkin.visits import (
    CHECKIN,
    UNKNOWN,
    CheckinLog,
    export_day_csv,
    local_now,
    visits_csv_rows,
    visits_to_csv,
)
from kiosk.config import KioskConfig
from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails, Visit
from kiosk.recognition.live import TrackedFace
from kiosk.recognition.tracking import Identity
from kiosk.vision.types import FaceAnalysis, Quality

TZ = dt.timezone(dt.timedelta(hours=2))
DAY = dt.date(2026, 3, 2)
ALICE = 5
T0 = 1000.0
TIMING = FlowTiming(greeting_s=4, lower_mask_s=8, idle_s=1.5, unavailable_after_s=1, unmasked_grace_s=3)


class WallClock:
    """The check-in log's wall clock, set by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=TZ)

    def __call__(self) -> dt.datetime:
        return self.now


def face(track: int, person: int | None = None, score: float = 0.2, *, settled: bool = True,
         masked: bool = False, box: tuple[float, float, float, float] = (100, 100, 300, 300),
         epoch: int = 0) -> TrackedFace:
    """One tracked face on one frame, with the identity its track has voted (decided afresh
    `epoch` times)."""
    identity = Identity(person, "Alice" if person == ALICE else None, score, settled)
    analysis = FaceAnalysis(np.array(box, np.float32), 0.9, np.zeros((5, 2), np.float32),
                            np.zeros((112, 112, 3), np.uint8), masked, 0.9 if masked else 0.1,
                            np.zeros(0, np.float32), Quality(100, 100, 120, 0, 0))
    return TrackedFace(track, identity, masked, analysis, (), True, epoch=epoch)


def at(flow: KioskFlow, clock: ManualClock, t: float, *faces: TrackedFace) -> KioskState:
    """One frame at T0 + t."""
    clock.t = T0 + t
    return flow.observe(faces)


def tick(flow: KioskFlow, clock: ManualClock, t: float) -> KioskState:
    """The passing of time to T0 + t, without a frame."""
    clock.t = T0 + t
    return flow.tick()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def flow(clock: ManualClock) -> KioskFlow:
    return KioskFlow(None, TIMING, clock=clock)


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "g.db")
    yield g
    g.close()


def _person(gallery: Gallery, name: str) -> int:
    vec = np.random.default_rng(len(name)).normal(size=128).astype(np.float32)
    sample = NewSample(np.zeros((112, 112, 3), np.uint8), [NewTemplate("full", vec)])
    return gallery.add_person(PersonDetails(name), [sample], "test-model")


# -- the flow's timing and construction -------------------------------------------------------


def test_timing_from_config_takes_both_knobs_and_the_overrides():
    timing = FlowTiming.from_config(KioskConfig(greeting_s=6, lower_mask_s=12), idle_s=2.5)
    assert timing == FlowTiming(greeting_s=6, lower_mask_s=12, idle_s=2.5)


def test_a_new_flow_starts_on_attract_now_and_honours_its_timing(clock):
    assert KioskFlow(clock=clock).state == KioskState(Screen.ATTRACT, T0)
    slow = KioskFlow(None, FlowTiming(greeting_s=10), clock=clock)
    assert at(slow, clock, 0.5, face(1, ALICE, 0.7)).screen is Screen.GREETING
    assert tick(slow, clock, 8.5).screen is Screen.GREETING  # 8 s in: a 10 s card is not over


def test_without_a_visit_log_nothing_is_said_to_be_recorded(clock):
    flow = KioskFlow(clock=clock)  # the default timing, and no log
    greeting = at(flow, clock, 0.5, face(1, ALICE, 0.7))
    assert greeting.screen is Screen.GREETING and greeting.recorded is False
    tick(flow, clock, 10)
    unknown = at(flow, clock, 10.5, face(2))
    assert unknown.screen is Screen.UNKNOWN and unknown.recorded is False


# -- who goes first, and what a track remembers ---------------------------------------------


def test_the_widest_face_goes_first_wherever_it_sits(flow, clock):
    # A narrow face low on the left, a wide one high on the right: width alone decides.
    narrow = face(1, None, box=(0, 400, 100, 500))
    wide = face(2, ALICE, 0.7, box=(600, 100, 800, 300))
    state = at(flow, clock, 0.5, narrow, wide)
    assert state.screen is Screen.GREETING and state.track_id == 2


def test_a_handled_visitor_stays_handled_while_63_others_come_and_go(flow, clock):
    assert at(flow, clock, 0.5, face(1)).screen is Screen.UNKNOWN
    others = [face(100 + i, settled=False, box=(10 * i, 0, 10 * i + 50, 50)) for i in range(63)]
    assert at(flow, clock, 4.5, *others).screen is Screen.APPROACHING
    # 64 tracks in all: the flow still knows track 1 was sent to the receptionist.
    assert at(flow, clock, 5.0, face(1)).screen is Screen.ATTRACT


def test_a_crowd_of_more_than_64_faces_in_one_frame_is_handled_and_remembered(flow, clock):
    # A group photo on the wall behind a stranger: 66 faces in one frame.
    crowd = [face(100 + i, settled=False, box=(10 * i, 500, 10 * i + 50, 550)) for i in range(65)]
    front = face(1, box=(0, 0, 400, 400))
    assert at(flow, clock, 0.5, front, *crowd).screen is Screen.UNKNOWN
    # After the card, the stranger in front is not sent to the receptionist a second time.
    assert at(flow, clock, 4.5, front, *crowd).screen is Screen.APPROACHING


@pytest.mark.parametrize(("masked_frames", "masked"), [(2, False), (3, True)])  # 2 of 4 is half, not more
def test_a_greeting_is_masked_when_more_than_half_of_its_frames_were(flow, clock, masked_frames, masked):
    # Four frames in all: three of a face still being voted on, then the settled one (bare).
    for i in range(3):
        at(flow, clock, 0.25 * (i + 1), face(1, settled=False, masked=i < masked_frames))
    state = at(flow, clock, 1.0, face(1, ALICE, 0.7))
    assert state.screen is Screen.GREETING and state.masked is masked


def test_the_logged_scores_are_the_unknowns_own_and_the_best_of_a_greeting(gallery, clock):
    alice = _person(gallery, "Alice")
    visits = CheckinLog(gallery, cooldown_s=600, clock=WallClock())
    flow = KioskFlow(visits, TIMING, clock=clock)
    big = (0, 0, 400, 400)
    assert at(flow, clock, 0.5, face(2, None, 0.23, box=big)).screen is Screen.UNKNOWN
    # Alice settles behind the stranger during his card; her votes drift down before her turn.
    at(flow, clock, 1.5, face(2, None, 0.23, box=big), face(1, alice, 0.8))
    at(flow, clock, 2.5, face(2, None, 0.23, box=big), face(1, alice, 0.6))
    state = at(flow, clock, 4.5, face(2, None, 0.23, box=big), face(1, alice, 0.6))
    assert state.screen is Screen.GREETING and state.score == pytest.approx(0.8)
    rows = {r.kind: r for r in gallery.visits(DAY)}
    assert rows[UNKNOWN].score == pytest.approx(0.23)
    assert rows[CHECKIN].score == pytest.approx(0.8)


# -- screens between frames ------------------------------------------------------------------


def test_a_missed_detection_keeps_the_approaching_screen_as_it_was(flow, clock):
    approaching = at(flow, clock, 0.5, face(1, settled=False))
    assert approaching == KioskState(Screen.APPROACHING, T0 + 0.5, 1)
    assert tick(flow, clock, 1.0) == approaching
    assert at(flow, clock, 1.5) == approaching  # an empty frame, too


def test_the_card_ends_on_attract_now_when_the_last_waiting_face_left_idle_s_ago(flow, clock):
    assert at(flow, clock, 0.0, face(1, ALICE, 0.7, box=(0, 0, 400, 400))).screen is Screen.GREETING
    at(flow, clock, 2.5, face(1, ALICE, 0.7, box=(0, 0, 400, 400)), face(2, settled=False))
    at(flow, clock, 3.5, face(1, ALICE, 0.7, box=(0, 0, 400, 400)))  # only Alice lingers
    # The card is over 1.5 s (idle_s exactly) after the stranger was last seen.
    assert tick(flow, clock, 4.0) == KioskState(Screen.ATTRACT, T0 + 4.0)


def test_the_card_ends_on_attract_now_when_only_the_greeted_face_is_in_view(flow, clock):
    at(flow, clock, 0.0, face(1, ALICE, 0.7))
    assert at(flow, clock, 4.0, face(1, ALICE, 0.7)) == KioskState(Screen.ATTRACT, T0 + 4.0)


def test_a_lower_mask_request_survives_a_missed_detection_and_times_out_at_its_second(flow, clock):
    asked = at(flow, clock, 0.0, face(2, masked=True))
    assert asked == KioskState(Screen.LOWER_MASK, T0, 2, masked=True, score=pytest.approx(0.2))
    assert tick(flow, clock, 0.5) == asked
    for i in range(1, 16):
        assert at(flow, clock, 0.5 * i, face(2, masked=True)) == asked  # up to 7.5 s
    state = tick(flow, clock, 8.0)  # lower_mask_s exactly, between frames
    assert state.screen is Screen.UNKNOWN and state.masked


def test_a_prompt_holds_the_screen_while_its_visitor_is_in_view(flow, clock):
    asked = at(flow, clock, 0.0, face(2, masked=True))
    assert asked.screen is Screen.LOWER_MASK
    # A nearer face not yet voted on steps in and out: the request stays up for its visitor.
    near = face(3, settled=False, box=(0, 0, 500, 500))
    assert at(flow, clock, 0.5, face(2, masked=True), near) == asked
    assert at(flow, clock, 1.0, face(2, masked=True)) == asked
    # Missed on a frame while the newcomer is seen: still the request, not the newcomer.
    assert at(flow, clock, 1.5, near) == asked
    for i in range(4, 16):
        assert at(flow, clock, 0.5 * i, face(2, masked=True), near) == asked
    assert at(flow, clock, 8.0, face(2, masked=True), near).screen is Screen.UNKNOWN
    clock.t = T0 + 12.0  # the card is over: the newcomer's turn
    assert at(flow, clock, 12.0, face(2, masked=True), near) == KioskState(Screen.APPROACHING, T0 + 12.0, 3)


def test_an_interrupted_prompt_resumes_with_its_own_start_and_deadline(flow, clock):
    asked = at(flow, clock, 0.0, face(2, masked=True))
    near = face(3, settled=False, box=(0, 0, 500, 500))
    # Its visitor missed for idle_s while a newcomer is in view: the newcomer gets the screen.
    at(flow, clock, 0.5, near)
    assert at(flow, clock, 1.5, near).screen is Screen.APPROACHING
    # The newcomer leaves, the visitor is back: the same prompt (same start, so it is not
    # announced again) ...
    assert at(flow, clock, 2.0, face(2, masked=True)) == asked
    # ... and when they come back only after its deadline, it is over: the receptionist.
    at(flow, clock, 6.0, near)
    assert at(flow, clock, 7.5, near).screen is Screen.APPROACHING
    state = at(flow, clock, 8.5, face(2, masked=True))
    assert state.screen is Screen.UNKNOWN and state.track_id == 2 and state.masked


def test_a_bare_face_gets_exactly_the_unmasked_grace_to_be_recognised(flow, clock):
    assert at(flow, clock, 0.0, face(2, masked=True)).screen is Screen.LOWER_MASK
    for i in range(1, 7):  # bare from 0.5 s to 3.0 s: 2.5 s of grace so far
        assert at(flow, clock, 0.5 * i, face(2)).screen is Screen.LOWER_MASK
    state = at(flow, clock, 3.5, face(2))  # unmasked_grace_s exactly
    assert state.screen is Screen.UNKNOWN and state.masked is False


# -- a track decided afresh (issue 21, row 9) -----------------------------------------------------


class Log:
    """What the flow asks to log."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, object]] = []

    def checkin(self, person_id, score, masked):
        self.rows.append(("checkin", person_id))
        return object()

    def unknown(self, track_id, score, masked):
        self.rows.append(("unknown", track_id))
        return object()


def test_a_visitor_sent_on_is_greeted_at_once_when_decided_afresh_and_named(clock):
    log = Log()
    flow = KioskFlow(log, TIMING, clock=clock)
    assert at(flow, clock, 0.0, face(2)).screen is Screen.UNKNOWN
    at(flow, clock, 1.0, face(2, settled=False, epoch=1))  # the gallery changed: voting again
    assert at(flow, clock, 1.1, face(2, settled=False, epoch=1)).screen is Screen.UNKNOWN
    # Named by the fresh decision: the receptionist card gives way to their greeting.
    greeting = at(flow, clock, 1.2, face(2, ALICE, 0.7, epoch=1))
    assert greeting == KioskState(Screen.GREETING, T0 + 1.2, 2, ALICE, "Alice", False, 0.7, True)
    assert log.rows == [("unknown", 2), ("checkin", ALICE)]
    at(flow, clock, 6.0, face(2, ALICE, 0.7, epoch=2))  # greeted once per track, whatever comes later
    assert log.rows == [("unknown", 2), ("checkin", ALICE)]


def test_a_name_without_a_fresh_decision_does_not_undo_the_receptionist_card(flow, clock):
    assert at(flow, clock, 0.0, face(2)).screen is Screen.UNKNOWN
    assert at(flow, clock, 1.0, face(2, ALICE, 0.7)).screen is Screen.UNKNOWN  # the same epoch
    assert at(flow, clock, 5.0, face(2, ALICE, 0.7)).screen is Screen.ATTRACT


def test_a_fresh_decision_that_says_unknown_again_is_final_for_that_epoch(flow, clock):
    assert at(flow, clock, 0.0, face(2)).screen is Screen.UNKNOWN
    assert at(flow, clock, 1.0, face(2, epoch=1)).screen is Screen.UNKNOWN  # still unknown: nothing new
    assert at(flow, clock, 1.5, face(2, ALICE, 0.7, epoch=1)).screen is Screen.UNKNOWN
    assert at(flow, clock, 2.0, face(2, ALICE, 0.7, epoch=2)).screen is Screen.GREETING  # the next one counts


# -- the visit log ---------------------------------------------------------------------------


def test_local_now_is_an_aware_local_time_to_the_second():
    now = local_now()
    assert now.tzinfo is not None and now.microsecond == 0


def test_a_person_removed_after_being_recognised_is_skipped_and_not_put_in_cooldown(gallery):
    alice = _person(gallery, "Alice")
    log = CheckinLog(gallery, cooldown_s=600, clock=WallClock())
    gallery.remove_person(alice)  # e.g. `people remove` in another process
    assert log.checkin(alice, 0.7, False) is None
    assert not log.in_cooldown(alice)
    assert gallery.visits(DAY) == []  # not logged as an unknown visitor either


def test_a_restart_reads_past_a_damaged_timestamp(gallery):
    alice, bob = _person(gallery, "Alice"), _person(gallery, "Bob")
    gallery.record_visit(bob, CHECKIN, 0.7, False, "kiosk", "2026-03-02T99:99")  # newest by text order
    gallery.record_visit(alice, CHECKIN, 0.7, False, "kiosk", "2026-03-02T08:59:30+02:00")
    log = CheckinLog(gallery, cooldown_s=600, clock=WallClock())
    assert log.in_cooldown(alice)
    assert not log.in_cooldown(bob)


def test_the_last_512_unknown_tracks_are_all_remembered(tmp_path):
    with Gallery(tmp_path / "g.db", encrypt=False) as gallery:
        log = CheckinLog(gallery, cooldown_s=600, clock=WallClock())
        for track in range(512):
            log.unknown(track, None, False)
        assert log.unknown(0, None, False) is None  # the oldest of the 512: still one visit


def test_a_negative_cooldown_is_refused_naming_the_setting(gallery):
    with pytest.raises(ValueError, match="cooldown_s must be >= 0"):
        CheckinLog(gallery, cooldown_s=-1, clock=WallClock())


def _log_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == visits_module.__name__]


def test_each_visit_written_is_logged_with_its_row_person_score_and_mask(gallery, caplog):
    caplog.set_level(logging.INFO, logger=visits_module.__name__)  # what `face-kiosk -v` shows
    alice = _person(gallery, "Alice")
    log = CheckinLog(gallery, cooldown_s=600, clock=WallClock())
    checkin = log.checkin(alice, 0.71234, True)
    unknown = log.unknown(7, 0.25, False)
    first, second = (r.getMessage() for r in _log_lines(caplog))
    for fact in (f"visit {checkin.id}:", CHECKIN, f"person={alice}", "score=0.7123", "masked=True"):
        assert fact in first
    for fact in (f"visit {unknown.id}:", UNKNOWN, "person=None", "score=0.25", "masked=False"):
        assert fact in second


def test_a_visit_that_could_not_be_written_is_logged_with_its_kind(gallery, caplog):
    alice = _person(gallery, "Alice")
    log = CheckinLog(gallery, cooldown_s=600, clock=WallClock())
    gallery.remove_person(alice)  # refused by the gallery: one warning with its reason
    assert log.checkin(alice, 0.7, False) is None
    gallery.close()  # a failure below the gallery's own errors: logged with its traceback
    assert log.unknown(1, 0.2, False) is None
    refused, failed = _log_lines(caplog)
    assert refused.levelno == logging.WARNING
    assert CHECKIN in refused.getMessage() and f"person {alice}" in refused.getMessage()
    assert failed.levelno == logging.ERROR and failed.exc_info
    assert UNKNOWN in failed.getMessage()


# -- CSV -------------------------------------------------------------------------------------


def test_csv_rows_spell_out_every_field():
    rows = visits_csv_rows([
        Visit(1, "2026-03-02T09:00:00+02:00", UNKNOWN, None, None, None, False, ""),  # before schema v4
        Visit(2, "2026-03-02T09:01:00+02:00", CHECKIN, 7, "Ann", 0.71234, True, "door", "hq", "k2"),
        Visit(3, "2026-03-02T09:02:00+02:00", CHECKIN, 8, None, 0.6, False, "kiosk"),  # no name
    ])
    assert rows[1:] == [
        ["2026-03-02T09:00:00+02:00", UNKNOWN, "Unknown visitor", "", "", "no", "", "", ""],
        ["2026-03-02T09:01:00+02:00", CHECKIN, "Ann", 7, "0.712", "yes", "door", "hq", "k2"],
        ["2026-03-02T09:02:00+02:00", CHECKIN, "", 8, "0.600", "no", "kiosk", "", ""],
    ]


def test_csv_rows_follow_the_time_then_the_row_id():
    # Two kiosks' rows merged (ids out of time order), and two rows logged in the same second.
    same = "2026-03-02T09:00:00+02:00"
    rows = visits_csv_rows([
        Visit(1, "2026-03-02T10:00:00+02:00", CHECKIN, 1, "Late", None, False, ""),
        Visit(9, same, CHECKIN, 2, "Second", None, False, ""),
        Visit(4, same, CHECKIN, 3, "First", None, False, ""),
    ])
    assert [r[2] for r in rows[1:]] == ["First", "Second", "Late"]


def test_csv_text_keeps_a_name_with_a_line_break_on_one_line():
    text = visits_to_csv([Visit(1, "2026-03-02T09:00:00+02:00", CHECKIN, 1, "Ann\nMarie", 0.5, False, "")])
    assert "\r" not in text  # text CSV ends its lines with \n alone
    lines = text.split("\n")
    assert len(lines) == 3 and lines[2] == ""
    assert lines[1].split(",")[2] == "Ann Marie"


def test_export_replaces_an_existing_file(gallery, tmp_path):
    CheckinLog(gallery, cooldown_s=600, clock=WallClock()).unknown(1, 0.2, False)
    out = tmp_path / "visits.csv"
    out.write_text("an older export\n")
    assert export_day_csv(gallery, DAY, out) == 1  # the save dialog confirmed replacing it
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert rows[0][0] == "time" and len(rows) == 2 and rows[1][1] == UNKNOWN


def test_the_export_ends_each_row_in_one_crlf_where_text_files_translate_line_ends(gallery, tmp_path,
                                                                                   monkeypatch):
    # Windows writes "\n" to a text file as "\r\n": the export must not get "\r\r\n" there
    # (a blank row after each visit in Excel). Emulated with the pure-Python io, which takes
    # the line separator from os.linesep (the C io fixes it when Python is built).
    import _pyio

    monkeypatch.setattr(os, "linesep", "\r\n")
    monkeypatch.setattr(visits_module, "io", SimpleNamespace(TextIOWrapper=_pyio.TextIOWrapper))
    CheckinLog(gallery, cooldown_s=600, clock=WallClock()).unknown(1, 0.2, False)
    out = tmp_path / "visits.csv"
    assert export_day_csv(gallery, DAY, out) == 1
    raw = out.read_bytes()
    assert raw.count(b"\r\n") == 2 and b"\r\r" not in raw
