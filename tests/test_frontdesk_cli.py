"""The front desk's commands: `hosts`, `invite` (one, with a photo, a CSV with a per-line report),
`invitations`, `visits --on-site` and `visits sign-out`; and, end to end with the real models,
an invited guest greeted by `watch` at the entrance (their host notified at a loopback
receiver), on the on-site list, then signed out by an exit camera."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from events_servers import Receivers
from test_watch import write_clip

from kiosk.cli import main
from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from tests.conftest import RECOGNITION_ONLY

pytest_plugins = ["events_fixtures"]
TODAY = dt.date.today().isoformat()


def _sample(seed: int) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(8).astype(np.float32), 0.5)])


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        g.add_person(PersonDetails("Grace Hopper", company="Navy"), [_sample(1)], "m")
        g.add_person(PersonDetails("Alan Staff"), [_sample(2)], "m")
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_hosts_invite_and_the_days_list(db, capsys):
    assert _run(capsys, "hosts", "add", "--db", str(db), "Grace Hopper", "--contact", "grace@example.com")[0] == 0
    code, out, _ = _run(capsys, "hosts", "list", "--db", str(db), "--jsonl")
    assert code == 0 and [json.loads(x)["contact"] for x in out.splitlines()] == ["grace@example.com"]
    code, _, err = _run(capsys, "invite", "--db", str(db), "--name", "Ada", "--host", "Alan Staff")
    assert code == 1 and "'Alan Staff' is not a host" in err
    code, _, err = _run(capsys, "invite", "--db", str(db), "--name", "Ada", "--host", "grace", "--date", "2020-01-01")
    assert code == 1 and "'grace' is not a host" in err and "did you mean: Grace Hopper" in err
    code, _, err = _run(capsys, "invite", "--db", str(db), "--name", "Ada", "--host", "Grace Hopper", "--date", "x")
    assert code == 1 and "not a date" in err
    # Tomorrow: today's invitation would read "no-show" once the clock passes no_show_after.
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    code, out, _ = _run(capsys, "invite", "--db", str(db), "--name", "Ada Lovelace", "--host", "Grace Hopper",
                        "--company", "Engines", "--date", tomorrow, "--jsonl")
    ada = json.loads(out)
    assert code == 0 and (ada["name"], ada["host"], ada["date"], ada["status"], ada["face"]) == \
        ("Ada Lovelace", "Grace Hopper", tomorrow, "expected", False)
    code, out, _ = _run(capsys, "invitations", "--db", str(db), "--date", tomorrow)
    assert code == 0 and "Ada Lovelace (Engines), host Grace Hopper: expected" in out
    code, out, _ = _run(capsys, "invitations", "--db", str(db), "--cancel", str(ada["id"]))
    code, out, _ = _run(capsys, "invitations", "--db", str(db), "--date", tomorrow, "--jsonl")
    assert json.loads(out)["status"] == "cancelled"


def test_a_csv_of_guests_reports_each_bad_line(db, tmp_path, capsys):
    _run(capsys, "hosts", "add", "--db", str(db), "Grace Hopper")
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    listing = tmp_path / "guests.csv"
    listing.write_text("Name,Host,Date,Company\n"
                       f"Joan Clarke,Grace Hopper,{tomorrow},GCHQ\n"
                       f",Grace Hopper,{tomorrow},\n"
                       f"Tommy Flowers,Nobody,{tomorrow},\n"
                       "Max Newman,Grace Hopper,13/12/2026,\n"
                       f"Bill Tutte,Grace Hopper,{tomorrow},Bletchley,extra\n", encoding="utf-8")
    code, out, err = _run(capsys, "invite", "--db", str(db), "--csv", str(listing))
    assert code == 1
    assert f"{listing}:3: (no name): no name" in err
    assert f"{listing}:4: Tommy Flowers: host 'Nobody' is not a host here" in err
    assert f"{listing}:5: Max Newman: date '13/12/2026' is not a date (YYYY-MM-DD)" in err
    assert f"{listing}:6: Bill Tutte: more cells than the header has columns" in err
    assert "1 invited, 4 line(s) refused" in out
    code, out, err = _run(capsys, "invite", "--db", str(db), "--csv", str(listing))  # the same file again
    assert f"{listing}:2: Joan Clarke: already invited for {tomorrow}" in err and "0 invited" in out
    with Gallery(db) as g:
        assert [(i.name, i.company, i.day) for i in g.invitations()] == [("Joan Clarke", "GCHQ", tomorrow)]
    listing.write_text("name,when\n", encoding="utf-8")
    code, _, err = _run(capsys, "invite", "--db", str(db), "--csv", str(listing))
    assert code == 1 and "missing: host, date" in err


def test_visits_sign_out_and_the_on_site_list(db, capsys):
    with Gallery(db) as g:
        grace = g.find_people("Grace Hopper")[0].id
        alan = g.find_people("Alan Staff")[0].id
        now = dt.datetime.now().astimezone().replace(microsecond=0)
        g.record_visit(grace, "checkin", 0.9, ts=(now - dt.timedelta(minutes=5)).isoformat())
        visit = g.record_visit(alan, "checkin", 0.9, ts=(now - dt.timedelta(minutes=4)).isoformat())
    code, out, _ = _run(capsys, "visits", "--db", str(db), "--on-site", "--csv")
    assert code == 0 and [r["name"] for r in csv.DictReader(io.StringIO(out))] == ["Alan Staff", "Grace Hopper"]
    assert _run(capsys, "visits", "sign-out", "--db", str(db), "--visit", str(visit))[0] == 0
    code, out, _ = _run(capsys, "visits", "sign-out", "--db", str(db), "--person", "Grace Hopper")
    assert code == 0 and "Grace Hopper: 1 open visit(s) signed out" in out
    code, out, _ = _run(capsys, "visits", "--db", str(db), "--on-site")
    assert code == 0 and "0 people on site" in out
    code, out, _ = _run(capsys, "visits", "--db", str(db), "--jsonl")
    assert {json.loads(x)["signed_out_how"] for x in out.splitlines()} == {"receptionist"}
    code, _, err = _run(capsys, "visits", "sign-out", "--db", str(db))
    assert code == 1 and "needs one of --person REF, --visit ID or --end-of-day" in err
    code, _, err = _run(capsys, "visits", "--db", str(db), "--on-site", "--pdf", "x.pdf")
    assert code == 1 and "print support" in err  # without the desktop app's PDF writer


def test_the_pdf_hook_gets_the_report(db, tmp_path, capsys):
    got = []
    code = main(["visits", "--db", str(db), "--on-site", "--pdf", str(tmp_path / "x.pdf")],
                onsite_pdf=lambda report, path: got.append((len(report.rows), path.name)))
    assert code == 0 and got == [(0, "x.pdf")]


def test_an_invited_guest_is_greeted_their_host_told_and_signed_out_at_the_exit(
        tmp_path, capsys, astronaut_rgb, pipeline, receivers: Receivers):
    db = tmp_path / "real.db"
    with Gallery(db) as g:  # the host: a face of the app's own model (a random one, nobody's)
        vec = np.random.default_rng(5).standard_normal(128).astype(np.float32)
        g.add_person(PersonDetails("Grace Hopper"), [NewSample(np.zeros((112, 112, 3), np.uint8),
                                                               [NewTemplate("full", vec)])], pipeline.model_version)
    rx = receivers()
    _run(capsys, "hosts", "add", "--db", str(db), "Grace Hopper", "--contact", f"json://127.0.0.1:{rx.port}/grace")
    photo = tmp_path / "eileen.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    code, out, err = _run(capsys, "invite", "--db", str(db), "--name", "Eileen Collins", "--host", "Grace Hopper",
                          "--photo", str(photo), "--jsonl")
    assert code == 0, err
    assert json.loads(out)["face"] is True
    code, _, err = _run(capsys, "invite", "--db", str(db), "--name", "Eileen Again", "--host", "Grace Hopper",
                        "--photo", str(photo))
    assert code == 1 and "looks like Eileen Collins" in err and "--person" in err
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"events": {"site": "hq", "kiosk": "lobby", "kiosk_name": "Reception A",
                                             "notify": {}}}), encoding="utf-8")
    clip = write_clip(tmp_path / "once.avi", astronaut_rgb)
    code, out, err = _run(capsys, "watch", "--db", str(db), "--config", str(config), "--source", f"lobby={clip}",
                          "--jsonl", "--liveness", RECOGNITION_ONLY)
    assert code == 0, err
    arrivals = [json.loads(x) for x in out.splitlines() if json.loads(x)["event"] == "arrival"]
    assert arrivals and arrivals[0]["person"] == "Eileen Collins" and arrivals[0]["logged"]
    [message] = [json.loads(r.body)["message"] for r in rx.wait_requests(1)]
    assert message == "Eileen Collins has arrived at Reception A"
    code, out, _ = _run(capsys, "invitations", "--db", str(db), "--jsonl")
    assert json.loads(out)["status"] == "arrived"
    code, out, _ = _run(capsys, "visits", "--db", str(db), "--on-site", "--jsonl")
    [row] = [json.loads(x) for x in out.splitlines()]
    assert (row["name"], row["kind"], row["host"], row["kiosk"]) == ("Eileen Collins", "visitor", "Grace Hopper",
                                                                      "lobby")
    code, out, err = _run(capsys, "watch", "--db", str(db), "--config", str(config), "--source", f"exit={clip}",
                          "--jsonl", "--liveness", RECOGNITION_ONLY)
    events = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and [(e["event"], e["person"], e["kiosk"]) for e in events] == [
        ("sign_out", "Eileen Collins", "exit")]
    code, out, _ = _run(capsys, "visits", "--db", str(db), "--on-site")
    assert "0 people on site" in out


@pytest.mark.parametrize("consent", [True, False])
def test_the_next_walk_up_greets_a_visitor_only_with_consent(tmp_path, capsys, astronaut_rgb, pipeline, consent):
    from kiosk.config import Config
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face
    from kiosk.frontdesk import FrontDesk, SignInForm

    db = tmp_path / "g.db"
    with Gallery(db) as g:
        desk = FrontDesk(g, Config())
        # What the kiosk's guided capture hands over (here: two views of the visitor's photo).
        faces = [pick_enrollment_face(pipeline.analyze(img)) for img in (astronaut_rgb, astronaut_rgb[:, ::-1].copy())]
        samples = [make_sample(pipeline, f, "kiosk") for f in faces] if consent else []
        done = desk.sign_in(SignInForm("Eileen Collins", "NASA", None, desk.agreement().version, consent),
                            samples, pipeline.model_version)
        assert g.counts(done.person_id)["templates"] == (2 if consent else 0)
    clip = write_clip(tmp_path / "once.avi", astronaut_rgb)
    code, out, err = _run(capsys, "watch", "--db", str(db), "--source", f"lobby={clip}", "--jsonl",
                          "--liveness", RECOGNITION_ONLY)
    assert code == 0, err
    events = [json.loads(x) for x in out.splitlines()]
    if consent:
        assert [e["person"] for e in events if e["event"] == "arrival"][:1] == ["Eileen Collins"]
    else:
        assert [e["event"] for e in events] == ["unknown"]
