"""Retention that really happens (issue 11, item 3 / table row 2): people past `retention_until`
and visits older than `visits_retention_days` are purged at start and daily, audited, in the CLI,
the GUI and `face-kiosk watch`: one rule (kiosk.gallery.retention), an injectable date."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pytest

from kiosk.config import Config, PrivacyConfig
from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from kiosk.gallery.retention import RetentionSchedule, purge_retention
from tests.conftest import RECOGNITION_ONLY

MODEL = "test-model@000"
MAY4 = dt.date(2026, 5, 4)


def _sample(seed: int) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(8).astype(np.float32))], "test")


def _fill(gallery: Gallery) -> dict[str, int]:
    """Ann kept until May 4 (gone on May 5), Bob kept for ever, visits of 100 and 10 days ago."""
    ids = {"ann": gallery.add_person(PersonDetails("Ann", retention_until="2026-05-04"), [_sample(1)], MODEL),
           "bob": gallery.add_person(PersonDetails("Bob"), [_sample(2)], MODEL)}
    old = (dt.datetime(2026, 5, 4, 9) - dt.timedelta(days=100)).astimezone().isoformat(timespec="seconds")
    recent = (dt.datetime(2026, 5, 4, 9) - dt.timedelta(days=10)).astimezone().isoformat(timespec="seconds")
    gallery.record_visit(ids["bob"], "checkin", 0.8, ts=old)
    gallery.record_visit(ids["bob"], "checkin", 0.8, ts=recent)
    return ids


def _purges(gallery: Gallery) -> list:
    return [r for r in gallery.audit_records() if r.action == "purge"]


def test_purge_removes_expired_people_and_old_visits_and_is_audited(tmp_path):
    with Gallery(tmp_path / "g.db") as gallery:
        ids = _fill(gallery)
        done = purge_retention(gallery, PrivacyConfig(visits_retention_days=90), MAY4)
        assert (done.people, done.visits) == (0, 1)  # Ann is kept through her last day
        assert [p.name for p in gallery.people()] == ["Ann", "Bob"]
        done = purge_retention(gallery, PrivacyConfig(visits_retention_days=90), MAY4 + dt.timedelta(days=1))
        assert (done.people, done.visits) == (1, 0)
        assert [p.name for p in gallery.people()] == ["Bob"]
        assert gallery.counts(ids["ann"]) == {"people": 0, "samples": 0, "templates": 0, "visits": 0}
        assert len(gallery.visits()) == 1
        purges = _purges(gallery)
        assert [dict(r.details) for r in purges] == [{"people": [], "visits": 1}, {"people": [ids["ann"]], "visits": 0}]
        assert gallery.verify_audit().ok
        assert len(gallery.templates(MODEL)) == 1  # nobody past retention can be recognised


def test_schedule_runs_at_start_and_once_per_day(tmp_path):
    day = [MAY4]
    with Gallery(tmp_path / "g.db") as gallery:
        _fill(gallery)
        schedule = RetentionSchedule(gallery, PrivacyConfig(), today=lambda: day[0])
        first = schedule.run_if_due()
        assert first is not None and first.visits == 1
        assert schedule.run_if_due() is None  # the same day: not again
        day[0] = MAY4 + dt.timedelta(days=1)
        second = schedule.run_if_due()
        assert second is not None and second.people == 1 and second.day == day[0]
        assert schedule.run_if_due() is None
        assert len(_purges(gallery)) == 2


def test_a_failed_purge_is_logged_and_retried(tmp_path, caplog):
    from kiosk.errors import GalleryError
    from kiosk.security.audit import AuditTail

    class Busy:
        calls = 0

        def get_setting(self, key):  # no PIN, nothing approved yet
            return None

        def set_setting(self, key, value):
            pass

        def audit_tail(self, actions=()):
            return AuditTail(0, None, {})

        def purge_expired(self, today, days):
            Busy.calls += 1
            if Busy.calls == 1:
                raise GalleryError("database is locked")
            return (0, 0)

        def purge_invitations(self, before):
            return 0

    schedule = RetentionSchedule(Busy(), PrivacyConfig(), today=lambda: MAY4)
    with caplog.at_level(logging.WARNING):
        assert schedule.run_if_due() is None
    assert "retention purge failed" in caplog.text
    assert schedule.run_if_due() is not None and Busy.calls == 2


def test_the_cli_purges_on_open_by_the_same_rule(tmp_path, capsys):
    from kiosk.cli import main

    db = tmp_path / "g.db"
    with Gallery(db) as gallery:
        gallery.add_person(PersonDetails("Ann", retention_until="2000-01-01"), [_sample(1)], MODEL)
    assert main(["people", "list", "--db", str(db)]) == 0
    assert "0 people" in capsys.readouterr().out
    with Gallery(db) as gallery:
        assert [dict(r.details)["people"] for r in _purges(gallery)] == [[1]]
        assert _purges(gallery)[0].actor.startswith("cli:")


def test_watch_purges_at_start_and_when_the_day_changes(tmp_path, pipeline):
    from PIL import Image

    from kiosk.checkin.headless import HeadlessRunner, WatchSource

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (64, 48), (i * 40, 90, 90)).save(folder / f"{i}.png")
    days = iter([MAY4, MAY4, MAY4 + dt.timedelta(days=1)])
    last = [MAY4]

    def today() -> dt.date:
        last[0] = next(days, last[0])
        return last[0]

    with Gallery(tmp_path / "g.db") as gallery:
        _fill(gallery)
        schedule = RetentionSchedule(gallery, Config().privacy, today=today)
        runner = HeadlessRunner(Config.model_validate({"liveness": {"mode": RECOGNITION_ONLY}}), gallery, pipeline,
                                [WatchSource("door", str(folder))], retention=schedule)
        runner.retention_check_s = 0.0  # ask after every frame (the real runner: every 10 minutes)
        runner.open()
        try:
            assert runner.run() == 4
        finally:
            runner.close()
        assert [p.name for p in gallery.people()] == ["Bob"]  # purged on the second day, mid-run
        assert len(_purges(gallery)) == 2
        assert schedule.last_day == MAY4 + dt.timedelta(days=1)


@pytest.mark.gui
def test_the_gui_purges_at_start_and_daily(qtbot, tmp_path):
    from ui.main_window import MainWindow

    day = [MAY4]
    with Gallery(tmp_path / "g.db") as gallery:
        _fill(gallery)
        window = MainWindow(Config(), gallery, None, today=lambda: day[0])
        qtbot.addWidget(window)
        try:
            assert window._retention_timer.interval() == 600_000  # checked every 10 minutes
            first = window.run_retention().result(timeout=30)  # what start() runs, on the writer thread
            assert first is not None and first.visits == 1
            day[0] = MAY4 + dt.timedelta(days=1)
            window._retention_timer.timeout.emit()  # the timer fires the next day
            window.gallery_writer.submit(lambda: None).result(timeout=30)  # the purge has run
            assert [p.name for p in gallery.people()] == ["Bob"]
            assert [r.actor for r in _purges(gallery)] == ["app", "app"]
        finally:
            window.shutdown()
