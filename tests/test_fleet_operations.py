"""Operating a fleet (issue 21, rows 6, 7, 8 and "what to build" 5): `gallery migrate` instead of
migrating on open, `gallery copy --merge` by stable id (nothing doubled, audit records kept
once), a copy into an existing folder keeps its mode, `self-test` follows gallery.url, and
`fleet status`. On the real server."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import psycopg
import pytest
from fleet_helpers import MODEL, sample

from kiosk.cli import main
from kiosk.errors import GalleryError
from kiosk.gallery import Gallery
from kiosk.gallery.api import PersonDetails
from kiosk.gallery.pg_schema import SCHEMA_VERSION
from kiosk.gallery.postgres import PgGallery
from kiosk.gallery.stored_faces import encode_png
from kiosk.security.site_key import BlobCipher

pytest_plugins = ["pg_fixtures"]


def _origins(records, gallery_id: str) -> list[tuple[str, int]]:  # noqa: ANN001
    out = []
    for r in records:
        copied = r.details.get("copied")
        out.append((copied["gallery"], copied["seq"]) if isinstance(copied, dict) else (gallery_id, r.seq))
    return out


def test_copy_there_and_back_doubles_nobody_and_keeps_audit_records_once(pg_url, tmp_path, capsys):
    src = tmp_path / "a.db"
    with Gallery(src) as a:
        ada = a.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
        a.add_person(PersonDetails("Bob"), [sample(2)], MODEL)
        a.record_visit(ada, "checkin", 0.9, ts="2026-12-01T09:00:00+00:00", site="hq", event_id="e1")
        first = a.audit_records()
    assert main(["gallery", "copy", "--from", str(src), "--to", pg_url]) == 0
    assert main(["gallery", "copy", "--from", str(src), "--to", pg_url]) == 1  # not empty: --merge needed
    assert "--merge" in capsys.readouterr().err
    for _ in range(2):  # A -> B again, then B -> A, then A -> B: merged every time
        assert main(["gallery", "copy", "--from", str(src), "--to", pg_url, "--merge"]) == 0
        assert main(["gallery", "copy", "--from", pg_url, "--to", str(src), "--merge"]) == 0
    assert "2 people were there already" in capsys.readouterr().out
    with Gallery(src) as a, PgGallery(pg_url, listen=False, spool_path=tmp_path / "s.db") as b:
        for g in (a, b):
            assert sorted(p.name for p in g.people()) == ["Ada", "Bob"]
            assert len({p.uid for p in g.people()}) == 2 and len(g.visits()) == 1
            origins = _origins(g.audit_records(), g.gallery_id)
            assert len(origins) == len(set(origins)), "an audit record was copied twice"
            assert g.verify_audit().ok
            actions = [r.action for r in g.audit_records()]
            assert actions.count("enroll") == 2  # the two enrolments, never one per copy
        assert a.audit_records()[:2] == first  # the source's own records stay as they were
        assert {p.uid for p in a.people()} == {p.uid for p in b.people()}
        # What each copy adds, exactly: one import record, plus the records the target had not seen.
        # B: its own 3 imports (A->B three times) and A's first (copied by the last A->B); A: its own
        # 2 (B->A twice) and B's 3. Copied again, none of them comes twice.
        assert [r.action for r in b.audit_records()].count("import") == 4
        assert [r.action for r in a.audit_records()].count("import") == 5


def test_copy_into_an_existing_folder_keeps_its_mode(pg_url, tmp_path):
    with PgGallery(pg_url, listen=False, spool_path=tmp_path / "s.db") as g:
        g.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    assert main(["gallery", "copy", "--from", pg_url, "--to", str(shared / "g.db")]) == 0
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "g.db").stat().st_mode) == 0o600
    assert main(["gallery", "copy", "--from", pg_url, "--to", str(tmp_path / "new" / "g.db")]) == 0
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700  # a folder we make is private


def test_self_test_checks_the_configured_shared_gallery(pg_url, tmp_path, capsys):
    assert main(["gallery", "migrate", "--db", pg_url]) == 0
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"gallery": {"url": pg_url}}))
    main(["self-test", "--config", str(config)])
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "database" in ln)
    assert "PostgreSQL gallery opened" in line and "0 people" in line and "kiosk-test-pw" not in out


def _make_schema_4(url: str, monkeypatch) -> tuple[int, str]:  # noqa: ANN001
    """A gallery as face-kiosk of schema 4 left it: a person with a sample and a template, a visit
    without an event id. Returns (person id, gallery id)."""
    import kiosk.gallery.pg_migrate as migrate
    from kiosk.gallery.pg_schema import MIGRATIONS

    with monkeypatch.context() as patch:
        for name, value in (("SCHEMA_VERSION", 4), ("MIGRATIONS", MIGRATIONS[:4]), ("MIN_SCHEMA", 4)):
            patch.setattr(migrate, name, value)
        with PgGallery(url, listen=False, local_copy=False) as old:
            gid = old.gallery_id
            cipher = BlobCipher(old.key.key)
    rng = np.random.default_rng(3)
    with psycopg.connect(url, autocommit=True) as conn:
        pid = conn.execute("INSERT INTO people(name, created_at, updated_at) VALUES ('Old', 'x', 'x') RETURNING id"
                           ).fetchone()[0]
        png = cipher.encrypt(encode_png(rng.integers(0, 255, (112, 112, 3), np.uint8)), f"face-kiosk|{gid}|aligned|{pid}|")
        sid = conn.execute("INSERT INTO samples(person_id, aligned_png, created_at) VALUES (%s, %s, 'x') RETURNING id",
                           (pid, png)).fetchone()[0]
        vec = rng.standard_normal(8).astype(np.float32)
        vec /= np.linalg.norm(vec)
        enc = cipher.encrypt(vec.tobytes(), f"face-kiosk|{gid}|template|{pid}|{MODEL}|full")
        conn.execute("INSERT INTO templates(person_id, sample_id, kind, model_version, dim, embedding_enc, created_at)"
                     " VALUES (%s, %s, 'full', %s, 8, %s, 'x')", (pid, sid, MODEL, enc))
        conn.execute("INSERT INTO visits(person_id, ts, kind) VALUES (%s, to_char(now(), 'YYYY-MM-DD'), 'checkin')",
                     (pid,))
    return pid, gid


def test_an_older_gallery_is_migrated_only_by_gallery_migrate(pg_url, tmp_path, monkeypatch, capsys):
    pid, gid = _make_schema_4(pg_url, monkeypatch)
    with pytest.raises(GalleryError) as exc:
        PgGallery(pg_url, listen=False)
    assert "gallery migrate" in str(exc.value) and "\n" not in str(exc.value)
    assert main(["gallery", "migrate", "--dry-run", "--db", pg_url]) == 0
    out = capsys.readouterr().out
    assert "schema 5" in out and "schema 6" in out and "schema 4" not in out
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "4"
    assert main(["gallery", "migrate", "--db", pg_url]) == 0
    assert f"schema 4 -> {SCHEMA_VERSION}; existing rows sealed" in capsys.readouterr().out
    assert main(["gallery", "migrate", "--db", pg_url]) == 0
    assert "nothing to do" in capsys.readouterr().out
    with PgGallery(pg_url, listen=False, spool_path=tmp_path / "s.db") as g:
        assert g.gallery_id == gid and g.integrity_report().ok
        assert g.templates(MODEL).names == {pid: "Old"} and g.people()[0].uid
        assert [v.event_id for v in g.visits()] == [f"v{1}"]
        assert g.verify_audit().ok and g.audit_records()[-1].action == "gallery_migrate"


def test_fleet_status_lists_every_kiosk(pg_url, tmp_path, capsys):
    from pg_server import wait_for

    with PgGallery(pg_url, site="hq", kiosk="door-1", spool_path=tmp_path / "1.db", local_copy=tmp_path / "c1.db") as k1:
        k1.templates(MODEL)
        assert wait_for(lambda: [b.last_sync for b in k1.fleet()] == [k1.last_sync])
    assert main(["fleet", "status", "--db", pg_url, "--jsonl"]) == 0
    beat = json.loads(capsys.readouterr().out.splitlines()[0])
    assert beat["site"] == "hq" and beat["kiosk"] == "door-1" and beat["schema"] == SCHEMA_VERSION and not beat["stale"]
    assert main(["fleet", "status", "--db", pg_url]) == 0
    assert "door-1" in capsys.readouterr().out
