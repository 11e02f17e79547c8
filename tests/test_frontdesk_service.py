"""The front desk service (kiosk.frontdesk): first-time sign-in with and without face consent,
undo, invitations and arrivals (by face through the kiosk session, or picked from the list),
sign-out every way, end of day, the on-site list over a day, and the hosts' notifications
arriving at a real loopback receiver (apprise json://)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import numpy as np
import pytest
from events_servers import Receiver, Receivers

from kiosk.checkin.session import KioskSession, is_exit_camera
from kiosk.config import Config, FrontDeskConfig
from kiosk.errors import GalleryError
from kiosk.events import EventBus, EventsConfig, KioskEvent
from kiosk.events.config import NotifyConfig, RetryPolicy
from kiosk.frontdesk import EndOfDaySchedule, FrontDesk, InvitationForm, SignInForm
from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails

pytest_plugins = ["events_fixtures"]
TZ = dt.timezone(dt.timedelta(hours=1))
MODEL = "test-model@000"


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, hour: int, minute: int = 0, days: int = 0) -> Clock:
        self.now = (self.now + dt.timedelta(days=days)).replace(hour=hour, minute=minute)
        return self


def _sample(seed: int) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(8).astype(np.float32), 0.5)], "kiosk", 0.7, False,
                     rng.integers(0, 255, (256, 256, 3), np.uint8))


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2026, 12, 7, 9, 0, tzinfo=TZ))


@pytest.fixture
def gallery(tmp_path) -> Iterator[Gallery]:
    with Gallery(tmp_path / "g.db", encrypt=False) as g:  # plaintext: the byte scans read the file
        yield g


@pytest.fixture
def config() -> Config:
    return Config(events=EventsConfig(site="hq", kiosk="lobby", kiosk_name="Reception A"))


def _host(gallery: Gallery, name: str = "Grace Hopper", contact: str = "grace@example.com") -> int:
    pid = gallery.add_person(PersonDetails(name), [_sample(len(name))], MODEL)
    gallery.set_host(pid, True, contact)
    return pid


def _desk(gallery, config, clock, events: list[KioskEvent] | None = None, kiosk: str = "lobby") -> FrontDesk:
    return FrontDesk(gallery, config, kiosk=kiosk, clock=clock,
                     publish=None if events is None else events.append)


def test_a_sign_in_without_consent_keeps_no_face_data(gallery, config, clock, tmp_path):
    host = _host(gallery)
    events: list[KioskEvent] = []
    desk = _desk(gallery, config, clock, events)
    texts = desk.agreement()
    assert texts.version == "1" and "90 days" in texts.privacy and "{" not in texts.face_consent
    captured = [_sample(500), _sample(501)]  # the guided capture ran; the visitor did not tick consent
    done = desk.sign_in(SignInForm("Ada Lovelace", "Engines", host, texts.version, face_consent=False))
    ada = gallery.get_person(done.person_id)
    assert (ada.kind, ada.n_samples, ada.n_templates, ada.consent_at) == ("visitor", 0, 0, None)
    assert ada.agreement_version == "1" and ada.retention_until == "2027-03-07"  # the visit log's 90 days
    assert [(e.event, e.person, e.person_id, e.kiosk, e.site) for e in events] == [
        ("sign_in", "Ada Lovelace", done.person_id, "lobby", "hq")]
    gallery.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("g.db*"))
    for sample in captured:
        assert sample.templates[0].embedding.tobytes() not in raw
    assert b"Ada Lovelace" in raw  # the scan does see what is stored (plaintext gallery)


def test_a_sign_in_with_consent_enrols_a_visitor(gallery, config, clock):
    host = _host(gallery)
    desk = _desk(gallery, config, clock)
    form = SignInForm("Alan Turing", "GCHQ", host, "1", face_consent=True)
    with pytest.raises(GalleryError, match="no photo"):
        desk.sign_in(form)
    with pytest.raises(GalleryError, match="consent"):
        desk.sign_in(SignInForm("Alan Turing", "GCHQ", host, "1"), [_sample(1)], MODEL)
    with pytest.raises(GalleryError, match="agreement changed"):
        desk.sign_in(SignInForm("Alan Turing", "GCHQ", host, "0", face_consent=True), [_sample(1)], MODEL)
    with pytest.raises(GalleryError, match="name"):
        desk.sign_in(SignInForm("  ", agreement_version="1"))
    assert gallery.find_people("Alan Turing") == []
    done = desk.sign_in(form, [_sample(1), _sample(2)], MODEL)
    alan = gallery.get_person(done.person_id)
    assert done.has_face and alan.n_samples == 2 and alan.consent_text == desk.agreement().face_consent
    assert alan.retention_until == "2027-03-07"  # visitor_retention_days
    assert done.person_id in set(gallery.templates(MODEL).person_ids)  # greeted on the next walk-up


def test_the_accepted_agreement_is_stored_with_the_language_it_was_read_in(gallery, config, clock):
    from kiosk.i18n import translator

    host = _host(gallery)
    desk = _desk(gallery, config, clock)
    german = desk.agreement("de")
    assert german.language == "de" and german.version == "1"
    assert german.face_consent == translator("de")(config.frontdesk.face_consent_text).replace("{face_days}", "90")
    assert german.face_consent != desk.agreement().face_consent and "{" not in german.privacy
    with pytest.raises(GalleryError, match="language 'xx'"):
        desk.agreement("xx")
    done = desk.sign_in(SignInForm("Grete Hermann", "", host, "1", face_consent=True, agreement_language="de"),
                        [_sample(7)], MODEL)
    grete = gallery.get_person(done.person_id)
    # What she read and ticked, in the words she read it in: the German consent, version 1, "de".
    assert (grete.agreement_version, grete.agreement_language, grete.consent_text) == \
        ("1", "de", german.face_consent)
    plain = gallery.get_person(desk.sign_in(SignInForm("Ada Lovelace", "", host, "1")).person_id)
    assert (plain.agreement_version, plain.agreement_language) == ("1", "")  # nobody said which: none stored


def test_visitors_on_site_are_who_may_sign_out_by_name(gallery, config, clock):
    host = _host(gallery)
    desk = _desk(gallery, config, clock)
    gallery.record_visit(host, "checkin", 0.9, False, "lobby", clock.now.isoformat(), site="hq", kiosk="lobby")
    ada = desk.sign_in(SignInForm("Ada Lovelace", "", host, "1"))
    alan = desk.sign_in(SignInForm("Alan Turing", "", host, "1"))
    assert [r.name for r in desk.on_site().rows] == ["Grace Hopper", "Ada Lovelace", "Alan Turing"]
    assert [r.name for r in desk.visitors_on_site()] == ["Ada Lovelace", "Alan Turing"]  # staff: not by name
    desk.sign_out_person(alan.person_id, "kiosk")
    assert [r.person_id for r in desk.visitors_on_site()] == [ada.person_id]
    clock.at(9, days=1)
    assert desk.visitors_on_site() == []  # yesterday's open visit is not today's


def test_undo_within_the_day_only(gallery, config, clock):
    desk = _desk(gallery, config, clock)
    done = desk.sign_in(SignInForm("Oops", agreement_version="1", face_consent=True), [_sample(3)], MODEL)
    kept = desk.sign_in(SignInForm("Kept", agreement_version="1"))
    assert [s.name for s in desk.self_sign_ins()] == ["Kept", "Oops"]
    undone = desk.undo_sign_in(done.visit_id)
    assert undone.person_erased and gallery.find_people("Oops") == []
    clock.at(9, days=1)
    with pytest.raises(GalleryError, match="not a sign-in of today"):
        desk.undo_sign_in(kept.visit_id)


def test_the_host_hears_of_a_sign_in_and_of_a_recognised_guest(gallery, config, clock, receivers: Receivers):
    rx: Receiver = receivers()
    host = _host(gallery, "Grace Hopper", f"json://127.0.0.1:{rx.port}/grace")
    events = config.events.model_copy(update={"notify": NotifyConfig(),
                                              "retry": RetryPolicy(max_attempts=2, base_delay_s=0.01)})
    bus = EventBus.from_config(events, directory=gallery)
    try:
        desk = FrontDesk(gallery, config, publish=bus.publish, clock=clock)
        desk.sign_in(SignInForm("Ada Lovelace", "Engines", host, "1"))
        invited = desk.invite(InvitationForm("Alan Turing", host, clock.now.date(), "GCHQ"), [_sample(9)], MODEL)
        session = KioskSession(gallery, config, publish=bus.publish, wall_clock=clock)
        clock.at(10)
        visit = session.checkin(invited.person_id, 0.8, False)  # what the flow does on a greeting
        session.publish(KioskEvent(event="arrival", t=1.0, track=1, kiosk="lobby", site="hq", person="Alan Turing",
                                   person_id=invited.person_id, logged=True, time=clock.now))
        got = [json.loads(r.body)["message"] for r in rx.wait_requests(2)]
    finally:
        bus.close(timeout=10)
    assert got == ["Ada Lovelace has signed in at Reception A to see you", "Alan Turing has arrived at Reception A"]
    arrived = gallery.get_invitation(invited.id)
    assert (arrived.status, arrived.visit_id) == ("arrived", visit.id)


def test_a_guest_without_a_photo_picks_their_name(gallery, config, clock):
    host = _host(gallery)
    events: list[KioskEvent] = []
    desk = _desk(gallery, config, clock, events)
    joan = desk.invite(InvitationForm("Joan Clarke", host, clock.now.date()))
    desk.invite(InvitationForm("Tomorrow", host, clock.now.date() + dt.timedelta(days=1)))
    with pytest.raises(GalleryError, match="past"):
        desk.invite(InvitationForm("Yesterday", host, clock.now.date() - dt.timedelta(days=1)))
    with pytest.raises(GalleryError, match="not marked as a host"):
        desk.invite(InvitationForm("Nobody's", joan.person_id, clock.now.date()))
    assert [i.name for i in desk.expected_to_pick()] == ["Joan Clarke"]
    result = desk.arrive(joan.id, "1", "es")
    assert result.invitation.status == "arrived" and result.visit_id is not None
    assert [e.event for e in events] == ["sign_in"] and desk.expected_to_pick() == []
    joan_now = gallery.get_person(joan.person_id)
    assert (joan_now.agreement_version, joan_now.agreement_language) == ("1", "es")
    with pytest.raises(GalleryError, match="not expected any more"):
        desk.arrive(joan.id, "1")


def test_no_shows_show_after_the_configured_time(gallery, config, clock):
    host = _host(gallery)
    desk = _desk(gallery, config, clock)
    desk.invite(InvitationForm("Late", host, clock.now.date()))
    cancelled = desk.invite(InvitationForm("Cancelled", host, clock.now.date()))
    desk.cancel_invitation(cancelled.id)
    assert desk.no_shows() == [] and [i.name for i in desk.expected()] == ["Late"]
    clock.at(17, 0)
    assert [i.name for i in desk.no_shows()] == ["Late"]


def test_a_day_of_arrivals_and_sign_outs(gallery, config, clock):
    """Staff and visitors come and go every way; the on-site list is right at each step."""
    host = _host(gallery)
    staff = gallery.add_person(PersonDetails("Staff Member"), [_sample(40)], MODEL)
    events: list[KioskEvent] = []
    signed_out: list[int] = []
    entrance = KioskSession(gallery, config, kiosk="lobby", publish=events.append, wall_clock=clock)
    exit_door = KioskSession(gallery, config, kiosk="exit", publish=events.append, wall_clock=clock,
                             on_sign_out=signed_out.append)
    desk = entrance.frontdesk

    def inside() -> list[str]:
        return [r.name for r in desk.on_site().rows]

    clock.at(8, 30)
    entrance.checkin(staff, 0.9, False)
    clock.at(9, 0)
    ada = desk.sign_in(SignInForm("Ada", "Engines", host, "1"))
    clock.at(9, 15)
    alan = desk.sign_in(SignInForm("Alan", "GCHQ", host, "1", face_consent=True), [_sample(41)], MODEL)
    assert inside() == ["Staff Member", "Ada", "Alan"]  # staff first, then visitors
    report = desk.on_site()
    assert [(r.name, r.host_name, r.arrived_at[11:16]) for r in report.visitors] == [
        ("Ada", "Grace Hopper", "09:00"), ("Alan", "Grace Hopper", "09:15")]
    clock.at(11, 0)
    assert exit_door.checkin(alan.person_id, 0.8, False) is None  # the exit camera logs no visit
    assert signed_out == [alan.person_id] and inside() == ["Staff Member", "Ada"]
    exit_door.checkin(alan.person_id, 0.8, False)  # seen again at the exit: nothing more to close
    assert signed_out == [alan.person_id]
    clock.at(11, 5)
    entrance.checkins.forget(alan.person_id)  # what watch does for every entrance on a sign-out
    assert entrance.checkin(alan.person_id, 0.8, False) is not None  # back in: a new visit
    assert inside() == ["Staff Member", "Ada", "Alan"]
    clock.at(12, 0)
    desk.sign_out_person(ada.person_id, "kiosk")  # the Leaving button
    clock.at(13, 0)
    alan_visit = next(r.visit_id for r in desk.on_site().rows if r.name == "Alan")
    desk.sign_out_visit(alan_visit, "receptionist")
    assert inside() == ["Staff Member"]
    how = [(v.person_id, v.ts[11:16], v.signed_out_at[11:16], v.signed_out_how)
           for v in gallery.visits(clock.now.date()) if v.signed_out_at]
    assert sorted(how) == sorted([(ada.person_id, "09:00", "12:00", "kiosk"),
                                  (alan.person_id, "09:15", "11:00", "exit_camera"),
                                  (alan.person_id, "11:05", "13:00", "receptionist")])
    assert [(e.event, e.person) for e in events if e.event == "sign_out"] == [
        ("sign_out", "Alan"), ("sign_out", "Ada"), ("sign_out", "Alan")]
    schedule = EndOfDaySchedule(desk)
    clock.at(20, 0)
    assert not schedule.run_if_due()  # yesterday's 23:30 swept nothing from today
    clock.at(23, 45)
    assert schedule.run_if_due().visit_ids and inside() == []
    assert schedule.run_if_due() is None  # once per end of day
    [staff_visit] = [v for v in gallery.visits(clock.now.date()) if v.person_id == staff]
    assert (staff_visit.signed_out_at[11:16], staff_visit.signed_out_how) == ("23:30", "end_of_day")
    text = desk.on_site().to_text()
    assert "0 people on site" in text


def test_the_on_site_list_as_csv_and_text(gallery, config, clock):
    host = _host(gallery)
    desk = _desk(gallery, config, clock)
    desk.sign_in(SignInForm("=HYPERLINK(1)", "Co", host, "1"))
    session = KioskSession(gallery, config, wall_clock=clock)
    session.unknown(7, 0.1, False)
    report = desk.on_site()
    lines = report.to_csv().splitlines()
    assert lines[0].startswith("name,kind,company,host,arrived")
    assert lines[1].startswith("'=HYPERLINK(1),visitor,Co,Grace Hopper,2026-12-07T09:00:00+01:00")
    text = report.to_text()
    assert "Visitors (1)" in text and "09:00  =HYPERLINK(1) (Co), host Grace Hopper" in text
    assert "1 unknown visitor(s) seen today" in text
    assert json.loads(report.to_jsonl())["host_id"] == host


def test_exit_cameras_are_named_exit():
    assert is_exit_camera("exit") and is_exit_camera("Exit-2") and is_exit_camera("exit_dock")
    assert not is_exit_camera("exiting") and not is_exit_camera("lobby")


def test_end_of_day_can_be_off(gallery, clock):
    config = Config(frontdesk=FrontDeskConfig(end_of_day=None))
    desk = FrontDesk(gallery, config, clock=clock)
    assert desk.last_end_of_day() is None and not desk.end_of_day()
    assert EndOfDaySchedule(desk).run_if_due() is None
