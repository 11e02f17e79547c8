"""Least-privilege roles and per-site scoping on a real PostgreSQL (issue 21, rows 4, 5 and 11):
the roles are made with the SQL `face-kiosk gallery grants` prints, the gallery by the admin
role with `gallery migrate`; each role's refusals are the server's own."""

from __future__ import annotations

import psycopg
import pytest
from fleet_helpers import MODEL, make_admin, make_kiosk, new_name, run_sql, sample, url_as

from kiosk.cli import main
from kiosk.errors import GalleryError, KioskError
from kiosk.gallery.admin_pin import HASH_KEY, LOCKOUT_KEY
from kiosk.gallery.api import PersonDetails
from kiosk.gallery.pg_connection import GalleryPermissionError
from kiosk.gallery.pg_schema import SCHEMA_VERSION
from kiosk.gallery.postgres import PgGallery

pytest_plugins = ["pg_fixtures"]


@pytest.fixture
def fleet(pg_server, monkeypatch, tmp_path):
    """A gallery made by its admin role (`gallery migrate`), with kiosk roles of hq and lab."""
    if not pg_server.running:
        pg_server.start()
    monkeypatch.setenv("FACE_KIOSK_SITE_KEY", "ab" * 32)
    admin, db = make_admin(pg_server)
    admin_url = url_as(pg_server, db, admin)
    assert main(["gallery", "migrate", "--db", admin_url]) == 0
    hq, lab = make_kiosk(pg_server, db, "hq"), make_kiosk(pg_server, db, "lab")
    with PgGallery(admin_url, listen=False, spool_path=tmp_path / "a.db") as g:
        ada = g.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
        g.record_visit(ada, "checkin", 0.9, site="hq", kiosk="door-1", event_id="hq-1")
        g.record_visit(ada, "checkin", 0.9, site="lab", kiosk="lab-1", event_id="lab-1")
        g.set_setting(HASH_KEY, "the admin PIN's hash")
    return {"db": db, "admin": admin_url, "hq": url_as(pg_server, db, hq), "lab": url_as(pg_server, db, lab),
            "hq_role": hq, "ada": ada}


def _kiosk(url: str, tmp_path, site: str) -> PgGallery:  # noqa: ANN001
    return PgGallery(url, create=False, listen=False, site=site, kiosk=f"{site}-k", spool_path=tmp_path / f"{site}.db")


def test_the_database_owner_cannot_add_pgvector_and_is_told_a_superuser_must(pg_server, monkeypatch):
    # Row 5: pgvector is not a trusted extension; the docs and the message said "as its owner".
    monkeypatch.setenv("FACE_KIOSK_SITE_KEY", "ab" * 32)
    owner, db = new_name("fk_owner"), new_name("novector")
    run_sql(pg_server, f"CREATE ROLE {owner} LOGIN PASSWORD 'pw-{owner}'; CREATE DATABASE {db} OWNER {owner}")
    with pytest.raises(KioskError) as exc:
        PgGallery(url_as(pg_server, db, owner), listen=False)
    message = str(exc.value)
    assert "\n" not in message and "superuser" in message and "CREATE EXTENSION vector" in message
    assert "not a trusted extension" in message


def test_a_kiosk_role_reads_people_and_logs_its_own_site_only(fleet, tmp_path):
    with _kiosk(fleet["hq"], tmp_path, "hq") as hq:
        assert [p.name for p in hq.people()] == ["Ada"]
        assert set(hq.templates(MODEL).person_ids) == {fleet["ada"]}
        assert [v.site for v in hq.visits()] == ["hq"]  # lab's visit is not even visible
        assert hq.record_visit(fleet["ada"], "checkin", 0.8) > 0  # its own site: written
        with pytest.raises(GalleryPermissionError, match="row-level security"):
            hq.record_visit(fleet["ada"], "checkin", 0.8, site="lab", kiosk="lab-1")
        assert hq.get_setting(HASH_KEY) == "the admin PIN's hash"
        hq.record_event("kiosk_unlock", "kiosk hq-k")  # a kiosk appends to the audit log
        assert hq.verify_audit().ok and hq.audit_records()[-1].action == "kiosk_unlock"
    with _kiosk(fleet["lab"], tmp_path, "lab") as lab:
        assert [(v.site, v.event_id) for v in lab.visits()] == [("lab", "lab-1")]
    with PgGallery(fleet["admin"], listen=False, spool_path=tmp_path / "a.db") as admin:
        assert sorted(v.site for v in admin.visits()) == ["hq", "hq", "lab"]


@pytest.mark.parametrize("what", ["remove", "rename", "enrol", "pin", "visit_edit", "visit_delete", "role_site"])
def test_a_kiosk_role_is_refused_what_only_the_admin_may_do(fleet, tmp_path, what):
    with _kiosk(fleet["hq"], tmp_path, "hq") as hq:
        if what == "remove":
            with pytest.raises(GalleryPermissionError, match="permission denied for table people"):
                hq.remove_person(fleet["ada"])
        elif what == "rename":
            with pytest.raises(GalleryPermissionError):
                hq.update_person(fleet["ada"], name="Mallory")
        elif what == "enrol":
            with pytest.raises(GalleryPermissionError):
                hq.add_person(PersonDetails("Eve"), [sample(5)], MODEL)
        elif what == "pin":
            with pytest.raises(GalleryPermissionError):
                hq.set_setting(HASH_KEY, "a PIN the thief chose")
            hq.set_setting(LOCKOUT_KEY, "a lockout state")  # the one setting a kiosk writes
        else:
            sql = {"visit_edit": "UPDATE visits SET kind = 'unknown'", "visit_delete": "DELETE FROM visits",
                   "role_site": f"UPDATE kiosk_roles SET site = 'lab' WHERE role = '{fleet['hq_role']}'"}[what]
            with psycopg.connect(fleet["hq"], autocommit=True) as conn, \
                    pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    with PgGallery(fleet["admin"], listen=False, spool_path=tmp_path / "a.db") as admin:
        assert [p.name for p in admin.people()] == ["Ada"] and len(admin.visits()) == 2
        assert admin.get_setting(HASH_KEY) == "the admin PIN's hash"


def test_a_kiosk_role_skips_retention_and_the_admin_role_runs_it(fleet, tmp_path):
    import datetime as dt

    with _kiosk(fleet["hq"], tmp_path, "hq") as hq:
        assert hq.purge_expired(dt.date(2099, 1, 1), 1) == (0, 0)  # may not delete: left to the admin
    with PgGallery(fleet["admin"], listen=False, spool_path=tmp_path / "a.db") as admin:
        assert admin.purge_expired(dt.date(2099, 1, 1), 1) == (0, 2)


def test_the_server_decides_a_kiosk_roles_site(fleet, tmp_path):
    with PgGallery(fleet["hq"], create=False, listen=False, spool_path=tmp_path / "s.db") as unnamed:
        assert unnamed.site == "hq"  # no site configured: the role's
        assert unnamed.record_visit(fleet["ada"], "checkin", 0.7) > 0
    with pytest.raises(KioskError) as exc:
        _kiosk(fleet["hq"], tmp_path, "lab")
    assert "kiosk of site 'hq'" in str(exc.value) and "'lab'" in str(exc.value)


def test_kiosk_heartbeats_are_scoped_by_site_too(fleet, tmp_path):
    for site in ("hq", "lab"):
        with PgGallery(fleet[site], create=False, site=site, kiosk=f"{site}-door", spool_path=tmp_path / f"{site}.db",
                       local_copy=tmp_path / f"{site}-copy.db") as kiosk:
            from pg_server import wait_for

            assert wait_for(lambda k=kiosk, s=site: [b.kiosk for b in k.fleet()] == [f"{s}-door"])
    with PgGallery(fleet["admin"], listen=False, spool_path=tmp_path / "a.db") as admin:
        beats = admin.fleet()
    assert [(b.site, b.kiosk) for b in beats] == [("hq", "hq-door"), ("lab", "lab-door")]
    assert all(b.version and b.schema_version == SCHEMA_VERSION and not b.stale for b in beats)
    with psycopg.connect(fleet["hq"], autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("INSERT INTO fleet(site, kiosk, version, schema_version, online) VALUES ('lab', 'fake', '1', 6,"
                     " true)")


def test_grants_are_printed_for_each_role_and_checked(capsys, pg_url):
    assert main(["gallery", "grants", "--admin", "--role", "fk_admin", "--db", pg_url]) == 0
    out = capsys.readouterr().out
    assert "CREATE EXTENSION IF NOT EXISTS vector" in out and "superuser" in out
    assert main(["gallery", "grants", "--role", "fk_door", "--site", "hq", "--db", pg_url]) == 0
    out = capsys.readouterr().out
    assert "INSERT INTO kiosk_roles(role, site) VALUES ('fk_door', 'hq')" in out and "DELETE" not in out
    assert main(["gallery", "grants", "--role", "x; DROP TABLE people", "--site", "hq", "--db", pg_url]) == 1
    assert "plain PostgreSQL name" in capsys.readouterr().err
    assert main(["gallery", "grants", "--role", "fk_door", "--db", pg_url]) == 1


def test_the_kiosk_role_cannot_migrate_and_an_older_gallery_names_the_command(fleet, tmp_path):
    with psycopg.connect(fleet["admin"], autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")  # as if made by schema 4
    with pytest.raises(GalleryError) as exc:
        _kiosk(fleet["hq"], tmp_path, "hq")
    assert "face-kiosk gallery migrate" in str(exc.value) and "\n" not in str(exc.value)


def test_a_front_desk_kiosk_signs_visitors_in_and_out_and_its_rows_are_sealed(pg_server, fleet, tmp_path):
    from fleet_helpers import run_sql

    from kiosk.gallery.frontdesk_api import NewVisitor, VisitStamp
    from kiosk.gallery.pg_roles import kiosk_grants

    more = kiosk_grants(fleet["hq_role"], "hq", fleet["db"], front_desk=True)  # the role exists: its grants only
    run_sql(pg_server, "\n".join(ln for ln in more.splitlines() if not ln.startswith("CREATE ROLE")), dbname=fleet["db"])
    with _kiosk(fleet["hq"], tmp_path, "hq") as hq:
        added = hq.add_visitor(NewVisitor("Alan", "ACME", None, "v1", "face ok"), [sample(7)], MODEL,
                               sign_in=VisitStamp("2026-12-07T10:00:00+00:00", "hq", "hq-k", "fd-1"))
        hq.accept_agreement(added.person_id, "v2", "2026-12-07T10:01:00+00:00")
        assert hq.sign_out(at="2026-12-07T11:00:00+00:00", how="kiosk", visit_id=added.visit_id) == [added.visit_id]
        with pytest.raises(GalleryPermissionError):
            hq.remove_person(added.person_id)  # signing in is allowed, erasing is not
        with pytest.raises(GalleryPermissionError):  # nor a sign-in for another site
            hq.add_visitor(NewVisitor("Eve"), [], MODEL, sign_in=VisitStamp("2026-12-07T10:00:00+00:00", "lab"))
    with psycopg.connect(fleet["admin"], autocommit=True) as conn:
        conn.execute("UPDATE people SET company = 'Evil Corp' WHERE name = 'Alan'")
    with _kiosk(fleet["hq"], tmp_path, "hq") as hq:
        hq.accept_agreement(added.person_id, "v3", "2026-12-07T12:00:00+00:00")  # does not bless the edit
    with PgGallery(fleet["admin"], listen=False, spool_path=tmp_path / "a.db") as admin:
        report = admin.integrity_report()
        assert report.people == [added.person_id] and report.visits == []
        assert [v.signed_out_at for v in admin.visits() if v.id == added.visit_id] == ["2026-12-07T11:00:00+00:00"]
