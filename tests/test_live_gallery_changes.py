"""The running kiosk sees changes made by other processes (issue 11, item 6 / table row 4).

`Gallery.data_version()` changes on every commit, this connection's and any other's; the live
recognizer polls it at most once a second (an injectable clock here, no sleeps) and reads the
templates again when it changed.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys

import numpy as np
import pytest

from kiosk.capture.sources import Frame
from kiosk.checkin.visits import CheckinLog
from kiosk.config import Config
from kiosk.gallery import Gallery
from kiosk.gallery.api import PersonDetails
from kiosk.recognition.live import GALLERY_POLL_S, LiveRecognizer
from kiosk.recognition.recognizer import Recognizer


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _enroll(pipeline, gallery, name: str, rgb: np.ndarray) -> int:
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face

    sample = make_sample(pipeline, pick_enrollment_face(pipeline.analyze(rgb)))
    return gallery.add_person(PersonDetails(name, consent_text="test", consent_at="2026-01-01T00:00:00+00:00"),
                              [sample], pipeline.model_version)


def _names(live: LiveRecognizer, rgb: np.ndarray, start: int, n: int = 6) -> set[str | None]:
    """The names shown over `n` frames (0.2 s apart in media time)."""
    names = set()
    for i in range(start, start + n):
        result = live.process(Frame(i, rgb, i * 0.2))
        names |= {f.identity.name for f in result.faces}
    return names


def _cli(*argv: str) -> subprocess.CompletedProcess:
    # Another process, as an admin would run it next to the kiosk (the same user folders and
    # keys: the environment is inherited).
    return subprocess.run([sys.executable, "-m", "kiosk", *argv], capture_output=True, text=True, timeout=120,
                          check=False)


def test_data_version_sees_this_and_other_connections(tmp_path):
    with Gallery(tmp_path / "g.db") as mine, Gallery(tmp_path / "g.db") as other:
        v0 = mine.data_version()
        assert mine.data_version() == v0  # nothing changed, nothing to reload
        mine.set_setting("a", "1")  # its own commit (PRAGMA data_version alone misses it)
        v1 = mine.data_version()
        other.set_setting("b", "2")  # another connection's commit
        v2 = mine.data_version()
        assert len({v0, v1, v2}) == 3
        assert mine.data_version() == v2


def test_a_visit_logged_elsewhere_does_not_make_the_tracks_vote_again(pipeline, tmp_path, astronaut_rgb):
    with Gallery(tmp_path / "g.db") as mine, Gallery(tmp_path / "g.db") as other:
        _enroll(pipeline, mine, "Eileen Collins", astronaut_rgb)
        before = mine.templates(pipeline.model_version)
        other.record_visit(None, "unknown")
        mine.data_version()
        assert mine.templates(pipeline.model_version) is before  # same rows: the same object


def test_a_person_removed_by_another_process_is_not_named_after_the_next_poll(pipeline, tmp_path,
                                                                              astronaut_rgb):
    db = tmp_path / "g.db"
    clock = Clock()
    with Gallery(db) as gallery:
        pid = _enroll(pipeline, gallery, "Eileen Collins", astronaut_rgb)
        live = LiveRecognizer(Recognizer(Config(), gallery, pipeline), clock=clock)
        assert "Eileen Collins" in _names(live, astronaut_rgb, 1)

        proc = _cli("people", "remove", "--db", str(db), "--id", str(pid), "--yes")
        assert proc.returncode == 0, proc.stderr
        assert "removed Eileen Collins" in proc.stdout

        # No poll yet (less than a second since the last one): the old templates are still used.
        clock.t += GALLERY_POLL_S / 2
        assert "Eileen Collins" in _names(live, astronaut_rgb, 7, n=2)
        # The next poll (at most GALLERY_POLL_S later) sees the other process's commit.
        clock.t += GALLERY_POLL_S / 2
        names = _names(live, astronaut_rgb, 10)
        assert "Eileen Collins" not in names
        assert live.gallery_people() == 0

        # Someone enrolled through another connection is named after the next poll, on the same track.
        with Gallery(db) as other:
            _enroll(pipeline, other, "Eileen Again", astronaut_rgb)
        clock.t += GALLERY_POLL_S
        assert "Eileen Again" in _names(live, astronaut_rgb, 20)


def test_polls_at_most_once_per_second(tmp_path):
    class CountingGallery:
        def __init__(self) -> None:
            self.calls = 0

        def data_version(self) -> int:
            self.calls += 1
            return 1

    class Rec:
        gallery = CountingGallery()

    clock = Clock()
    live = LiveRecognizer.__new__(LiveRecognizer)  # only the polling parts
    live.recognizer, live._clock, live._next_poll, live._gallery_version = Rec(), clock, float("-inf"), None
    for _ in range(50):
        live.poll_gallery()
        clock.t += 0.05  # 20 fps for 2.5 s
    assert Rec.gallery.calls == 3


def test_a_visit_for_a_person_removed_meanwhile_is_skipped_with_one_log_line(pipeline, tmp_path, astronaut_rgb,
                                                                           caplog):
    db = tmp_path / "g.db"
    with Gallery(db) as kiosk_side:
        pid = _enroll(pipeline, kiosk_side, "Eileen Collins", astronaut_rgb)
        log = CheckinLog(kiosk_side, 600, clock=lambda: dt.datetime(2026, 5, 4, 9, 0).astimezone())
        with Gallery(db) as admin_side:
            admin_side.remove_person(pid)
        with caplog.at_level(logging.WARNING, logger="kiosk.checkin.visits"):
            assert log.checkin(pid, 0.8, False) is None  # no crash, no row
        assert kiosk_side.visits() == []
    lines = [r for r in caplog.records if r.name == "kiosk.checkin.visits"]
    assert len(lines) == 1 and "no longer in the gallery" in lines[0].getMessage()
    assert lines[0].exc_info is None  # one line, no traceback


def test_record_visit_for_a_missing_person_is_a_gallery_error(tmp_path):
    from kiosk.errors import GalleryError

    with Gallery(tmp_path / "g.db") as gallery, pytest.raises(GalleryError, match="no longer in the gallery"):
        gallery.record_visit(12345, "checkin")
