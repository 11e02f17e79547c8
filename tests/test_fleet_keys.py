"""The site key's life on a shared gallery (issue 21, rows 3 and 4): found by the gallery id, not by
the URL's spelling; created once and said so; exported to a passphrase-protected file and
imported on the next kiosk (also from the OS keyring); `gallery rekey` re-seals every crop,
template, row MAC and the audit log, in resumable batches, and the old key is refused."""

from __future__ import annotations

import logging
import shutil

import keyring
import numpy as np
import psycopg
import pytest
from fleet_helpers import MODEL, make_kiosk, sample, url_as
from pg_server import wait_for

from kiosk.cli import main
from kiosk.errors import KioskError
from kiosk.gallery.admin_pin import LOCKOUT_KEY
from kiosk.gallery.api import PersonDetails
from kiosk.gallery.pg_rekey import rekey_gallery
from kiosk.gallery.postgres import PgGallery
from kiosk.security.pin_policy import LockoutState, seal, unseal
from kiosk.security.site_key import BlobCipher, site_key_path

pytest_plugins = ["pg_fixtures"]
PASS = "correct horse battery"


@pytest.fixture
def no_env_key(pg_url, monkeypatch):
    """The gallery URL, with keys in key files (no FACE_KIOSK_SITE_KEY)."""
    monkeypatch.delenv("FACE_KIOSK_SITE_KEY", raising=False)
    return pg_url


def _open(url, tmp_path, keys, **kw):  # noqa: ANN001, ANN003
    return PgGallery(url, listen=kw.pop("listen", False), keys_dir=tmp_path / keys,
                     spool_path=tmp_path / f"{keys}.spool", **kw)


def test_the_key_is_found_by_the_gallery_id_whatever_the_url_says(pg_server, no_env_key, tmp_path, caplog):
    url = no_env_key
    with caplog.at_level(logging.WARNING, "kiosk.gallery.postgres"), _open(url, tmp_path, "k") as g:
        gid = g.gallery_id
        g.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
    made = [r.getMessage() for r in caplog.records if "made a new site key" in r.getMessage()]
    assert len(made) == 1 and "gallery key export" in made[0] and "can never be read again" in made[0]
    assert site_key_path(gid, tmp_path / "k").exists()
    caplog.clear()
    db = url.split("/")[-1].split("?")[0]
    role = make_kiosk(pg_server, db, "hq")
    for other in (url.replace("127.0.0.1", "localhost"), url_as(pg_server, db, role, host="localhost")):
        with caplog.at_level(logging.WARNING, "kiosk.gallery.postgres"), _open(other, tmp_path, "k") as g:
            assert g.gallery_id == gid and g.templates(MODEL).names == {1: "Ada"}
    assert not [r for r in caplog.records if "made a new site key" in r.getMessage()]  # said once only


def test_a_key_file_named_the_old_way_is_still_found(no_env_key, tmp_path):
    import hashlib

    from kiosk.gallery.pg_connection import site_ref

    with _open(no_env_key, tmp_path, "k") as g:
        gid = g.gallery_id
    legacy = tmp_path / "k" / f"site-{hashlib.sha256(site_ref(no_env_key).encode()).hexdigest()[:32]}.key"
    site_key_path(gid, tmp_path / "k").rename(legacy)  # as a face-kiosk of schema 4 named it
    with _open(no_env_key, tmp_path, "k") as g:
        assert g.key.location == str(legacy)


def test_a_kiosk_without_the_key_is_told_how_to_get_it(no_env_key, tmp_path):
    with _open(no_env_key, tmp_path, "first"):
        pass
    with pytest.raises(KioskError) as exc:
        _open(no_env_key, tmp_path, "second", create=False)
    assert "gallery key import" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("first_keys_in", ["file", "keyring"])
def test_export_and_import_through_a_passphrase_protected_file(no_env_key, tmp_path, monkeypatch, capsys,
                                                               first_keys_in):
    from test_security_keys import MemoryKeyring, use_keyring

    monkeypatch.setenv("FACE_KIOSK_EXPORT_PASSPHRASE", PASS)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "first"))
    if first_keys_in == "keyring":
        MemoryKeyring.entries.clear()
        use_keyring(monkeypatch, "test_security_keys.MemoryKeyring")
    assert main(["gallery", "migrate", "--db", no_env_key]) == 0
    assert main(["gallery", "key", "export", str(tmp_path / "site.key"), "--db", no_env_key]) == 0
    assert "gallery key import" in capsys.readouterr().out
    assert (tmp_path / "site.key").stat().st_mode & 0o777 == 0o600
    assert b"face-kiosk site key" not in (tmp_path / "site.key").read_bytes()  # encrypted

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "second"))
    monkeypatch.setattr(keyring.core, "_keyring_backend", None, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core.init_backend()
    with pytest.raises(KioskError, match="gallery key import"):
        PgGallery(no_env_key, create=False, listen=False)
    monkeypatch.setenv("FACE_KIOSK_EXPORT_PASSPHRASE", "not the passphrase")
    assert main(["gallery", "key", "import", str(tmp_path / "site.key"), "--db", no_env_key]) == 1
    err = capsys.readouterr().err
    assert "passphrase" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("FACE_KIOSK_EXPORT_PASSPHRASE", PASS)
    assert main(["gallery", "key", "import", str(tmp_path / "site.key"), "--db", no_env_key]) == 0
    assert "the gallery takes it" in capsys.readouterr().out
    with PgGallery(no_env_key, create=False, listen=False) as g:
        assert g.key.source == "file" and str(tmp_path / "second") in g.key.location


@pytest.fixture
def filled(no_env_key, tmp_path):
    """A gallery of 5 people with visits, a PIN lockout state and one visit a DBA edited."""
    with _open(no_env_key, tmp_path, "admin") as g:
        ids = [g.add_person(PersonDetails(f"P{i}"), [sample(i), sample(i + 10)], MODEL) for i in range(5)]
        for n, pid in enumerate(ids):
            g.record_visit(pid, "checkin", 0.9, site="hq", event_id=f"v{n}")
        g.set_setting(LOCKOUT_KEY, seal(LockoutState(2, 0.0), g.integrity_key, g.gallery_id))
        before = g.templates(MODEL)
        old_key = g.key.key
    with psycopg.connect(no_env_key, autocommit=True) as conn:
        conn.execute("UPDATE visits SET score = 0.1 WHERE event_id = 'v3'")
    shutil.copytree(tmp_path / "admin", tmp_path / "stolen")  # the key a stolen kiosk holds
    return no_env_key, ids, before, old_key


def test_rekey_reseals_everything_resumably_and_the_old_key_is_refused(filled, tmp_path):
    url, ids, before, old_key = filled
    with _open(url, tmp_path, "stolen", listen=True, local_copy=False) as running:
        running.templates(MODEL)
        with _open(url, tmp_path, "admin") as admin:
            first = rekey_gallery(admin, batch=2, stop_after_batches=2)  # cut off part way (a crash)
            assert first.people == 4 and not first.resumed
        with _open(url, tmp_path, "admin") as admin:  # the old key still opens it meanwhile
            report = rekey_gallery(admin, batch=2)
        assert report.resumed and report.people == 1 and report.visits == 5
        assert wait_for(lambda: not running.online)  # the running kiosk with the old key noticed
        assert "replaced on" in running.status().detail and "gallery key import" in running.status().detail
    with pytest.raises(KioskError) as exc:
        _open(url, tmp_path, "stolen")
    assert "replaced on" in str(exc.value) and "\n" not in str(exc.value)
    with _open(url, tmp_path, "admin") as g:
        assert g.key.key != old_key
        after = g.templates(MODEL)
        assert after.names == before.names and np.allclose(after.matrix, before.matrix)
        assert len(g.samples(with_templates=True)) == 10
        assert [v.event_id for v in g.visits() if v.edited] == ["v3"]  # not blessed by the rekey
        assert g.integrity_report().people == []
        assert g.verify_audit().ok and g.audit_records()[-1].action == "gallery_rekey"
        assert unseal(g.get_setting(LOCKOUT_KEY), g.integrity_key, g.gallery_id).failures == 2
        new_key = g.key.key
    old, new = BlobCipher(old_key), BlobCipher(new_key)
    with psycopg.connect(url) as conn:
        gid = conn.execute("SELECT value FROM meta WHERE key = 'gallery_id'").fetchone()[0]
        sealed = [(blob, f"face-kiosk|{gid}|{what}|{pid}|") for pid, aligned, face in conn.execute(
            "SELECT person_id, aligned_png, face_png FROM samples").fetchall()
            for what, blob in (("aligned", aligned), ("face", face))]
        sealed += [(enc, f"face-kiosk|{gid}|template|{pid}|{version}|{kind}") for pid, version, kind, enc in conn.execute(
            "SELECT person_id, model_version, kind, embedding_enc FROM templates").fetchall()]
    assert len(sealed) == 30
    for blob, aad in sealed:
        new.decrypt(blob, aad)  # every crop and template opens with the new key ...
        with pytest.raises(KioskError):
            old.decrypt(blob, aad)  # ... and none with the stolen one


def test_rekey_from_the_command_line_writes_the_new_key_for_the_other_kiosks(no_env_key, tmp_path, monkeypatch,
                                                                             capsys):
    monkeypatch.setenv("FACE_KIOSK_EXPORT_PASSPHRASE", PASS)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "admin"))
    assert main(["gallery", "migrate", "--db", no_env_key]) == 0
    with PgGallery(no_env_key, listen=False) as g:
        g.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
    assert main(["gallery", "rekey", "--db", no_env_key, "--out", str(tmp_path / "new.key")]) == 0
    out = capsys.readouterr().out
    assert "re-sealed 1 people" in out and "gallery key import" in out
    assert main(["audit", "verify", "--db", no_env_key]) == 0
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "door"))
    assert main(["gallery", "key", "import", str(tmp_path / "new.key"), "--db", no_env_key]) == 0
    with PgGallery(no_env_key, create=False, listen=False) as g:
        assert g.templates(MODEL).names == {1: "Ada"}


def test_rekey_keeps_the_admin_pin_and_every_kiosk_s_record_of_the_log(no_env_key, tmp_path):
    """The PIN's hash and lockout are sealed (issue 20) with the site key at a point of the audit
    log: a rekey seals them again, so the PIN still works and `audit verify` is ok; a kiosk that
    saw the log before the rekey (its anchor names macs the rekey replaced) takes the re-signed
    log once it has the new key, and an older copy is still noticed."""
    from kiosk.gallery.admin_pin import AdminPin, PinPolicy
    from kiosk.security.site_key import store_site_key

    fast, pin = PinPolicy(scrypt_n=2**10), "735196"
    with _open(no_env_key, tmp_path, "admin") as g:
        g.add_person(PersonDetails("Ada"), [sample(1)], MODEL)
        AdminPin(g, fast).set_pin(pin)
        assert not AdminPin(g, fast).check("000000").ok  # one wrong PIN: the lockout holds 1
        gid = g.gallery_id
    shutil.copytree(tmp_path / "admin", tmp_path / "door")
    with _open(no_env_key, tmp_path, "door") as door:
        door.record_event("kiosk_unlock", "kiosk")  # door's anchor: this record and its mac
    with _open(no_env_key, tmp_path, "admin") as g:
        report = rekey_gallery(g)
        assert report.audit_records == len(g.audit_records())
    with _open(no_env_key, tmp_path, "admin") as g:
        assert g.verify_audit().ok and AdminPin(g, fast).problem() == ""
        assert AdminPin(g, fast).failures() == 1
        assert AdminPin(g, fast).check(pin).ok
        assert not AdminPin(g, fast).check("000000").ok
        new_key = g.key.key
    store_site_key(gid, new_key, keys_dir=tmp_path / "door", replace=True)  # `gallery key import` at door
    with _open(no_env_key, tmp_path, "door") as door:
        assert door.verify_audit().ok, door.verify_audit().reason  # re-signed by the rekey, not replaced
        assert AdminPin(door, fast).check(pin).ok  # and door can still write (the unlock's record)
    with psycopg.connect(no_env_key, autocommit=True) as conn:  # an older copy: the newest records gone
        last = conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
        conn.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_edit")
        conn.execute("DELETE FROM audit WHERE seq > %s", (last - 2,))
    with _open(no_env_key, tmp_path, "door") as door:
        assert "older than this computer last saw it" in door.guard.problem and not door.verify_audit().ok
