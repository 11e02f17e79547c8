"""`bench --live` pieces: the arrivals replay and the online latency/stall probe."""

from __future__ import annotations

import pytest
from live_helpers import ScriptedSource

from ui.live_bench import ArrivalsSource, Probe
from ui.video_widget import PaintInfo


def test_arrivals_source_replays_gap_then_clip_and_marks_the_face_frame():
    source = ArrivalsSource(ScriptedSource(length=5, fps=10.0), first_face_index=2, gap_s=0.3)
    with source:
        assert source.fps == 10.0
        got = [source.read() for _ in range(3 + 5 + 3 + 5)]
    blank = [bool((g == 128).all()) for g in got]
    assert blank == [True] * 3 + [False] * 5 + [True] * 3 + [False] * 5
    assert [int(g[0, 0, 0]) for g in got[3:8]] == [0, 1, 2, 3, 4]  # every clip frame, in order
    assert len(source.passes()) == 2


def paint(t, frame_ts, names=(), boxes=0):
    return PaintInfo(t, 0, frame_ts, 0, tuple(names), boxes)


def test_probe_measures_each_arrival_once_from_face_to_paint():
    faces = [10.0, 20.0]
    probe = Probe(lambda: faces)
    probe.ready_at = 5.0
    for info in (
        paint(10.05, 9.9, boxes=0),  # a frame from before the face
        paint(10.08, 10.0, boxes=1),  # box first
        paint(10.15, 10.1, names=["A"], boxes=1),  # then the name
        paint(10.20, 10.2, names=["A"], boxes=1),  # later paints of the same arrival do not count
        paint(20.30, 20.2, names=["A"], boxes=1),  # second arrival: box and name at once
    ):
        probe.on_paint(info)
    assert probe.boxes == pytest.approx([0.08, 0.30])
    assert probe.names == pytest.approx([0.15, 0.30])
    assert probe.arrivals() == 2


def test_probe_ignores_arrivals_before_the_models_were_ready():
    probe = Probe(lambda: [1.0, 10.0])
    probe.ready_at = 5.0
    probe.on_paint(paint(1.2, 1.1, names=["A"], boxes=1))
    assert probe.names == [] and probe.arrivals() == 1
