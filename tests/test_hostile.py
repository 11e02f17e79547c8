"""Issue 11's table, row by row, as a hostile or careless admin would run it (each test makes
its own hostile files). Row 4 (the running kiosk sees a removal) is tests/test_live_gallery_changes.py;
row 2's schedule is tests/test_retention.py; row 16 (config) is tests/test_config_strict.py.
Rows are named `test_rowNN_...`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sqlite3
import stat
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiosk.cli import main
from kiosk.cli.common import PASSPHRASE_ENV, PIN_ENV
from kiosk.gallery import Gallery
from kiosk.gallery.admin_pin import AdminPin
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from tests.conftest import ASTRONAUT, ROOT

PIN = "735196"
PASS = "correct horse battery staple"
MODEL = "test-model@000"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    """The command's error: one line, no traceback."""
    lines = [line for line in err.strip().splitlines() if line.startswith("face-kiosk: error:")]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    return lines[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sample(seed: int, dim: int = 8) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(dim).astype(np.float32))], "test",
                     face_crop=rng.integers(0, 255, (256, 256, 3), np.uint8))


def synthetic_gallery(path: Path, n: int = 3, **kwargs) -> list[int]:
    with Gallery(path, **kwargs) as g:
        return [g.add_person(PersonDetails(f"Person {i}", consent_text="ok", consent_at="2026-01-01T00:00:00+00:00"),
                             [_sample(i)], MODEL) for i in range(n)]


@pytest.fixture(scope="module")
def astro_db(tmp_path_factory):
    """A gallery with the astronaut enrolled (real templates), made once; tests copy it."""
    folder = tmp_path_factory.mktemp("astro")
    db = folder / "g.db"
    assert main(["enroll", "--db", str(db), "--name", "Eileen Collins", "--consent", "signed form 12",
                 str(ASTRONAUT)]) == 0
    return db


# -- row 1: export onto the gallery itself, or onto an existing file -------------------------


def test_row01_export_never_overwrites_the_gallery_or_a_file_without_force(tmp_path, capsys, monkeypatch):
    db = tmp_path / "g.db"
    synthetic_gallery(db)
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    before = sha(db)
    for target in (db, Path(f"{db}-wal"), tmp_path / "alias.db"):
        if target.name == "alias.db":
            os.link(db, target)  # the gallery under another name
        if not target.exists():
            continue
        code, _, err = run(capsys, "export", "--db", str(db), str(target), "--force")
        assert code == 1 and "gallery's own file" in one_line_error(err)
    assert sha(db) == before
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    code, _, err = run(capsys, "export", "--db", str(db), str(notes))
    assert code == 1 and "use --force" in one_line_error(err)
    assert notes.read_text() == "my notes"
    code, out, _ = run(capsys, "export", "--db", str(db), str(notes), "--force")
    assert code == 0 and "exported 3 people" in out and notes.read_bytes()[:4] != b"my n"
    code, out, _ = run(capsys, "people", "list", "--db", str(db))
    assert code == 0 and "3 people" in out  # the gallery still is one


# -- row 2: a person past retention_until is never named ---------------------------------------


def test_row02_an_imported_person_past_retention_is_purged_and_never_named(tmp_path, capsys, astro_db):
    from kiosk.gallery.archive import export_people

    with Gallery(astro_db) as g:
        pid = g.people()[0].id
        g.update_person(pid, retention_until="2099-01-01")
        export_people(g, tmp_path / "old.zip")
        g.update_person(pid, retention_until=None)
    with zipfile.ZipFile(tmp_path / "old.zip") as zin, zipfile.ZipFile(tmp_path / "expired.zip", "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "people.json":
                people = json.loads(data)
                people[0]["retention_until"] = "2000-01-01"
                data = json.dumps(people).encode()
            zout.writestr(item, data)
    db = tmp_path / "g.db"
    code, out, err = run(capsys, "import", "--db", str(db), str(tmp_path / "expired.zip"))
    assert code == 0, err
    code, out, _ = run(capsys, "identify", "--db", str(db), "--jsonl", str(ASTRONAUT))
    faces = json.loads(out.splitlines()[0])["faces"]
    assert faces and all(f["person"] is None for f in faces)
    with Gallery(db) as g:
        assert g.people() == []
        assert any(r.action == "purge" for r in g.audit_records())


# -- row 3: modes, and what the files' bytes give away -------------------------------------------


def test_row03_the_gallery_is_private_and_its_bytes_hold_no_crop_template_name_or_pin(tmp_path, capsys, monkeypatch):
    db = tmp_path / "private" / "g.db"
    db.parent.mkdir(mode=0o755)
    os.chmod(db.parent, 0o755)
    old = os.umask(0o022)
    try:
        ids = synthetic_gallery(db)
        with Gallery(db) as g:
            AdminPin(g).set_pin(PIN)
            template = g.samples(ids[0], with_templates=True)[0].templates[0].embedding
            monkeypatch.setenv(PIN_ENV, PIN)
            monkeypatch.setenv(PASSPHRASE_ENV, PASS)
            assert main(["export", "--db", str(db), str(tmp_path / "private" / "out.kx")]) == 0
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in db.parent.iterdir()}  # -wal, -shm too
            blob = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.is_file())
            gallery_blob = b"".join(p.read_bytes() for p in db.parent.glob("g.db*"))
    finally:
        os.umask(old)
    capsys.readouterr()
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert {"g.db", "g.db-wal", "g.db-shm", "out.kx"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600), modes
    assert b"Person 0" not in blob and b"\x89PNG" not in blob
    assert b"scrypt" not in gallery_blob  # the PIN hash (the export's header names its own KDF)
    assert template.astype(np.float32).tobytes()[:16] not in blob


def test_row03_an_admin_pin_guess_costs_a_128_mib_scrypt(tmp_path):
    """The cost of a guess as the hash's own parameters, not as this machine's time (a fast PC
    would fail a timed floor): scrypt n=2**17, r=8 is 128 MiB and ~0.3 s a try on the 2-core
    target, so the 10^6 six-digit PINs take a day at least (63 ms a try before)."""
    import base64
    import hashlib

    with Gallery(tmp_path / "g.db") as g:
        pin = AdminPin(g)
        pin.set_pin(PIN)
        sealed = g.get_setting("admin_pin").split("#")[2]  # v2#seq#<hash>#tag
        scheme, n, r, p, salt, digest = sealed.split("$")
        assert scheme == "scrypt" and int(n) >= 2**17 and int(r) >= 8 and int(p) >= 1
        assert 128 * int(n) * int(r) >= 128 * 2**20  # the memory every guess needs
        # The digest really is that scrypt of the PIN: the parameters are the ones paid per guess.
        assert base64.b64decode(digest) == hashlib.scrypt(PIN.encode(), salt=base64.b64decode(salt), n=int(n),
                                                          r=int(r), p=int(p), dklen=32, maxmem=256 * 2**20)
        assert pin._matches("000000", sealed) is False and pin._matches(PIN, sealed) is True


# -- row 5 / item 7: no phoning home while identifying ---------------------------------------------

HOOK = textwrap.dedent("""
    import json, os, sys
    events = []
    WATCH = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
             "socket.gethostbyname", "urllib.Request", "http.client.connect")
    def hook(name, args):
        if name in WATCH:
            events.append([name, repr(args)[:200]])
    sys.addaudithook(hook)
    import atexit
    atexit.register(lambda: open(os.environ["EVENTS_OUT"], "w").write(json.dumps(events)))
""")


def test_row05_identify_opens_no_socket_and_writes_nothing_under_the_cache(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ORT_"))}
    env.update(HOME=str(home), PYTHONPATH=f"{site}{os.pathsep}{ROOT}", EVENTS_OUT=str(tmp_path / "events.json"))
    cmd = [sys.executable, "-m", "kiosk"]
    db = home / "g.db"
    done = subprocess.run([*cmd, "enroll", "--db", str(db), "--name", "Eileen", "--consent", "ok", str(ASTRONAUT)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    cache_before = sorted(str(p) for p in (home / ".cache").rglob("*")) if (home / ".cache").exists() else []
    done = subprocess.run([*cmd, "identify", "--db", str(db), "--jsonl", str(ASTRONAUT)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[0])["faces"][0]["person"] == "Eileen"
    assert json.loads((tmp_path / "events.json").read_text()) == []  # no socket, no lookup
    assert cache_before == []
    assert not (home / ".cache").exists(), sorted(map(str, (home / ".cache").rglob("*")))


# -- row 6: erasure with the kiosk's connection open ------------------------------------------------


def test_row06_remove_leaves_no_name_or_crop_in_the_files_with_a_connection_open(tmp_path, capsys):
    db = tmp_path / "g.db"
    with Gallery(db, encrypt=False) as g:  # plaintext, so the bytes can be grepped directly
        keep = g.add_person(PersonDetails("Keeper"), [_sample(1)], MODEL)
        gone = g.add_person(PersonDetails("Zebulon Quartz", consent_text="the consent text Q7"), [_sample(2)], MODEL)
        crop = g.samples(gone)[0].aligned
    from kiosk.gallery.stored_faces import encode_png

    png = encode_png(crop)
    kiosk = Gallery(db)  # the kiosk keeps one open
    try:
        kiosk.templates(MODEL)
        code, out, err = run(capsys, "people", "remove", "--db", str(db), "--id", str(gone), "--yes")
        assert code == 0, err
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            if path.exists():
                data = path.read_bytes()
                assert b"Zebulon Quartz" not in data, path
                assert b"consent text Q7" not in data, path
                assert png[100:164] not in data, path
        assert [p.id for p in kiosk.people()] == [keep]
    finally:
        kiosk.close()


# -- row 7: PIN policy, and the PIN for destructive or exporting commands ---------------------------


@pytest.mark.parametrize("weak", ["1234", "1212", "2580", "0123", "123456", "111111", "12345678"])
def test_row07_weak_pins_are_refused(tmp_path, weak):
    from kiosk.errors import KioskError

    with Gallery(tmp_path / "g.db") as g, pytest.raises(KioskError):
        AdminPin(g).set_pin(weak)


def test_row07_editing_the_lockout_row_never_resets_the_count(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        pin = AdminPin(g)
        pin.set_pin(PIN)
        for _ in range(3):
            assert not pin.check("000000").ok
        keys = [k for (k,) in g._rows("SELECT key FROM settings") if "lock" in k]
        assert keys
        for key in keys:
            g.set_setting(key, '{"failures": 0, "until": 0}')
        assert AdminPin(g).failures() >= 3  # an edited row is the strictest state, not a reset


@pytest.mark.parametrize("argv", [["people", "remove", "--id", "1", "--yes"], ["export", "out.kx"],
                                  ["people", "rename", "--id", "1", "Someone"], ["audit", "list"]])
def test_row07_destructive_and_exporting_commands_need_the_pin(tmp_path, capsys, monkeypatch, argv):
    db = tmp_path / "g.db"
    synthetic_gallery(db)
    with Gallery(db) as g:
        AdminPin(g).set_pin(PIN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    code, _, err = run(capsys, *argv, "--db", str(db))
    assert code == 1 and "needs the admin PIN" in one_line_error(err)
    monkeypatch.setenv(PIN_ENV, "999999")
    code, _, err = run(capsys, *argv, "--db", str(db))
    assert code == 1 and "Traceback" not in err
    monkeypatch.setenv(PIN_ENV, PIN)
    code, _, err = run(capsys, *argv, "--db", str(db))
    assert code == 0, err
    with Gallery(db) as g:
        assert any(r.action == "pin_failed" for r in g.audit_records())


# -- row 8: consent and the audit trail ---------------------------------------------------------------


def test_row08_enroll_needs_consent_and_every_change_is_audited(tmp_path, capsys, monkeypatch):
    db = tmp_path / "g.db"
    code, _, err = run(capsys, "enroll", "--db", str(db), "--name", "Eileen", str(ASTRONAUT))
    assert code == 1 and "--consent" in one_line_error(err)
    assert not db.exists()
    code, _, err = run(capsys, "enroll", "--db", str(db), "--name", "Eileen", "--consent", "form 7", str(ASTRONAUT))
    assert code == 0, err
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    assert run(capsys, "export", "--db", str(db), str(tmp_path / "e.kx"))[0] == 0
    assert run(capsys, "people", "remove", "--db", str(db), "--name", "Eileen", "--yes")[0] == 0
    code, out, _ = run(capsys, "audit", "list", "--db", str(db), "--jsonl")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["action"] for r in records] == ["enroll", "export", "remove"]
    assert all(r["actor"].startswith("cli:") for r in records)
    assert records[0]["details"]["consent"] is True
    code, out, _ = run(capsys, "audit", "verify", "--db", str(db))
    assert code == 0 and "audit log ok: 3 records" in out


def test_row08_consent_is_stored_with_its_time(tmp_path, capsys, astro_db):
    with Gallery(astro_db) as g:
        person = g.people()[0]
    assert person.consent_text == "signed form 12" and person.consent_at


# -- row 9: exports that fail half way, onto a folder, through a planted symlink -------------------


def test_row09_an_export_cut_by_a_file_size_limit_leaves_nothing(tmp_path):
    db = tmp_path / "g.db"
    synthetic_gallery(db, n=4)  # random crops: ~1 MB of PNGs
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        from kiosk.cli import main
        sys.exit(main(["export", "--db", {str(db)!r}, "--plain", {str(tmp_path / "small.zip")!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "file too large" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("g.db")) == []


def test_row09_export_onto_a_folder_or_through_a_symlink_is_refused(tmp_path, capsys, monkeypatch):
    db = tmp_path / "g.db"
    synthetic_gallery(db)
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    (tmp_path / "adir").mkdir()
    code, _, err = run(capsys, "export", "--db", str(db), str(tmp_path / "adir"))
    assert code == 1 and "is a folder" in one_line_error(err)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out.zip.part").symlink_to(victim)
    (tmp_path / ".out.zip.part").symlink_to(victim)
    (tmp_path / "link.zip").symlink_to(victim)
    code, _, err = run(capsys, "export", "--db", str(db), str(tmp_path / "link.zip"), "--force")
    assert code == 1 and "symbolic link" in one_line_error(err)
    code, _, err = run(capsys, "export", "--db", str(db), str(tmp_path / "out.zip"))
    assert code == 0, err
    assert victim.read_text() == "precious"
    leftovers = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("g.db"))
    assert leftovers == [".out.zip.part", "adir", "link.zip", "out.zip", "out.zip.part", "victim.txt"]
    assert stat.S_IMODE((tmp_path / "out.zip").stat().st_mode) == 0o600


# -- row 10: hand-made imports -------------------------------------------------------------------


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def _fake_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a few bytes of pixel data: never decode it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _archive(path: Path, people: list, files: dict[str, bytes], *, compress=zipfile.ZIP_DEFLATED) -> Path:
    manifest = {"format": "face-kiosk-export", "format_version": 2, "schema_version": 3, "people": len(people)}
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("people.json", people if isinstance(people, (bytes, str)) else json.dumps(people))
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _person(model: str, dim: int = 128, **changes) -> dict:
    rng = np.random.default_rng(0)
    vec = rng.standard_normal(dim).astype(np.float32)
    vec /= np.linalg.norm(vec)  # the gallery exports unit vectors
    sample = {"file": "samples/1.png", "face_file": None, "source": "x", "quality": 0.5, "masked": False,
              "templates": [{"kind": "full", "model_version": model,
                             "embedding": base64.b64encode(vec.tobytes()).decode(), "quality": 0.5}]}
    person = {"name": "Mallory", "company": "", "host": "", "notes": "", "consent_at": None, "consent_text": "",
              "retention_until": None, "samples": [sample]}
    for key, value in changes.items():
        target = sample if key in sample else person
        if value is KeyError:
            target.pop(key)
        else:
            target[key] = value
    return person


@pytest.fixture(scope="module")
def model_version():
    from kiosk.vision.pipeline import FacePipeline

    return FacePipeline(still=True).model_version


@pytest.mark.parametrize("case", ["64-d", "missing name", "missing samples", "missing templates", "null name",
                                  "bad base64", "samples not a list", "people not a list", "crop 20000x20000",
                                  "crop 10x10", "zip bomb", "not json", "manifest missing"])
def test_row10_hand_made_imports_are_refused_in_one_line(tmp_path, capsys, case, model_version):
    crop = _png(np.zeros((112, 112, 3), np.uint8))
    files = {"samples/1.png": crop}
    people: object = [_person(model_version)]
    if case == "64-d":
        people = [_person(model_version, dim=64)]
    elif case == "missing name":
        people = [_person(model_version, name=KeyError)]
    elif case == "missing samples":
        people = [_person(model_version, samples=KeyError)]
    elif case == "missing templates":
        people = [_person(model_version, templates=KeyError)]
    elif case == "null name":
        people = [_person(model_version, name=None)]
    elif case == "bad base64":
        p = _person(model_version)
        p["samples"][0]["templates"][0]["embedding"] = "!!!not base64***"
        people = [p]
    elif case == "samples not a list":
        people = [_person(model_version, samples=7)]
    elif case == "people not a list":
        people = {"name": "x"}
    elif case == "crop 20000x20000":
        files["samples/1.png"] = _fake_png(20000, 20000)
    elif case == "crop 10x10":
        files["samples/1.png"] = _png(np.zeros((10, 10, 3), np.uint8))
    elif case == "zip bomb":
        files["samples/pad.bin"] = b"\0" * (300 * 1024 * 1024)  # 300 MB of zeros, ~300 KB zipped
    elif case == "not json":
        people = b"{not json"
    archive = _archive(tmp_path / "in.zip", people, files)
    if case == "manifest missing":
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("people.json", "[]")
    db = tmp_path / "g.db"
    code, out, err = run(capsys, "import", "--db", str(db), str(archive))
    assert code == 1, (out, err)
    line = one_line_error(err)
    if case == "crop 20000x20000":
        assert "20000x20000, not 112x112" in line  # refused from the header, never decoded
    if db.exists():
        with Gallery(db) as g:
            assert g.people() == []


def test_row10_a_valid_hand_made_import_is_accepted(tmp_path, capsys, model_version):
    archive = _archive(tmp_path / "in.zip", [_person(model_version)],
                       {"samples/1.png": _png(np.zeros((112, 112, 3), np.uint8))})
    code, out, err = run(capsys, "import", "--db", str(tmp_path / "g.db"), str(archive))
    assert code == 0 and "imported 1 people" in out, err


# -- row 11: a damaged page --------------------------------------------------------------------------


@pytest.mark.parametrize("encrypt", [True, False])
def test_row11_a_damaged_page_is_refused_by_every_command(tmp_path, capsys, encrypt, monkeypatch):
    db = tmp_path / "g.db"
    synthetic_gallery(db, n=6, encrypt=encrypt)
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 3 * page
    data[page: 2 * page] = os.urandom(page)  # the second page, whole (a table's b-tree root)
    db.write_bytes(bytes(data))
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    for argv in (["people", "list"], ["export", str(tmp_path / "out.kx")], ["identify", str(ASTRONAUT)]):
        code, _, err = run(capsys, *argv, "--db", str(db))
        assert code == 1, argv
        line = one_line_error(err)
        assert "damaged" in line, line
    assert not (tmp_path / "out.kx").exists()


# -- row 12: a 1x20000 image -------------------------------------------------------------------------


def test_row12_a_degenerate_image_is_one_item_error_in_identify_and_enroll(tmp_path, capsys):
    tall = tmp_path / "tall1x20000.png"
    Image.new("RGB", (1, 20000), (128, 128, 128)).save(tall)
    wide = tmp_path / "wide.png"
    Image.new("RGB", (20000, 3), (128, 128, 128)).save(wide)
    db = tmp_path / "g.db"
    code, out, err = run(capsys, "enroll", "--db", str(db), "--name", "Eileen", "--consent", "ok",
                         str(tall), str(ASTRONAUT), str(wide))
    assert code == 0 and "Traceback" not in err, err
    assert "1 photo(s), 2 skipped" in out
    code, out, err = run(capsys, "identify", "--db", str(db), "--jsonl", str(tall), str(ASTRONAUT), str(wide))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["image"] for r in rows] == [str(tall), str(ASTRONAUT), str(wide)]
    assert rows[0]["error"] and rows[2]["error"] and rows[1]["faces"][0]["person"] == "Eileen"


# -- row 13: a typo in --db ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["export", "--plain", "out.zip"], ["people", "list"], ["identify", "x.png"],
                                  ["audit", "verify"], ["people", "remove", "--id", "1", "--yes"]])
def test_row13_a_missing_gallery_is_refused_and_nothing_is_made(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv, "--db", "typo/gallery.db")
    assert code == 1 and "no gallery here" in one_line_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- row 14: ids that are names, odd digits ----------------------------------------------------------


def test_row14_an_id_that_is_also_a_name_is_refused_and_odd_digits_are_one_line(tmp_path, capsys):
    db = tmp_path / "g.db"
    with Gallery(db) as g:
        first = g.add_person(PersonDetails("Someone"), [_sample(1)], MODEL)
        g.add_person(PersonDetails(str(first)), [_sample(2)], MODEL)
    code, _, err = run(capsys, "people", "remove", "--db", str(db), str(first), "--yes")
    assert code == 1 and "both an id and a name" in one_line_error(err)
    code, _, err = run(capsys, "people", "remove", "--db", str(db), str(first))  # no --yes, no terminal
    assert code == 1
    with Gallery(db) as g:
        assert len(g.people()) == 2
    for odd in ("²", "١", "3\u0000", "-1", "99999999999999999999999"):
        code, _, err = run(capsys, "people", "show", "--db", str(db), odd)
        assert code == 1 and "no person" in one_line_error(err), odd
    code, out, _ = run(capsys, "people", "remove", "--db", str(db), "--name", str(first), "--yes")
    assert code == 0 and f"removed {first}" in out


# -- row 15: another program's SQLite file ---------------------------------------------------------------


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_row15_a_foreign_sqlite_file_is_refused_and_not_modified(tmp_path, capsys, journal):
    foreign = tmp_path / "app.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes(text) VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = sha(foreign)
    siblings = sorted(p.name for p in tmp_path.iterdir())
    mode = stat.S_IMODE(foreign.stat().st_mode)
    for argv in (["people", "list"], ["enroll", "--name", "X", "--consent", "ok", str(ASTRONAUT)]):
        code, _, err = run(capsys, *argv, "--db", str(foreign))
        assert code == 1 and "not a face-kiosk gallery" in one_line_error(err)
    assert sha(foreign) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings
    assert stat.S_IMODE(foreign.stat().st_mode) == mode


# -- row 17: odd list lines, folder names, FIFOs, re-runs -------------------------------------------------


def test_row17_a_latin1_line_in_a_list_is_one_item_error(tmp_path, capsys, astro_db):
    listing = tmp_path / "list.txt"
    listing.write_bytes(str(ASTRONAUT).encode() + b"\n" + "caf\xe9.jpg".encode("latin-1") + b"\n"
                        + str(ASTRONAUT).encode() + b"\n")
    code, out, err = run(capsys, "identify", "--db", str(astro_db), "--jsonl", "--list", str(listing))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3
    assert rows[0]["faces"][0]["person"] == "Eileen Collins" and rows[2]["faces"][0]["person"] == "Eileen Collins"
    assert rows[1]["error"] and "caf" in rows[1]["image"]


@pytest.mark.skipif(sys.platform != "linux", reason="file names of raw bytes are a POSIX thing")
def test_row17_odd_folders_are_named_and_the_others_enrolled(tmp_path, capsys):
    root = tmp_path / "people"
    root.mkdir()
    good = Image.open(ASTRONAUT)
    bad_name = os.fsdecode(b"Jos\xe9")  # Latin-1 bytes: not UTF-8
    for name in ("Ada", bad_name, "___", "Zed"):
        (root / name).mkdir()
        good.save(root / name / "1.png")
    os.mkfifo(root / "Zed" / "2.jpg")  # a FIFO among the images: never opened (it would hang)
    db = tmp_path / "g.db"
    code, out, err = run(capsys, "enroll", "--db", str(db), "--from-dir", str(root), "--consent", "ok",
                         "--allow-duplicate")
    assert code == 0 and "Traceback" not in err, err
    assert "___" in err  # named, with why
    assert "2.jpg" in err and "not a regular file" in err
    with Gallery(db) as g:
        names = sorted(p.name for p in g.people())
    assert "Ada" in names and "Zed" in names
    assert len(names) == 3  # the Latin-1 folder is enrolled under a readable name
    assert any(n.startswith("Jos") for n in names)


def test_row17_rerunning_a_batch_does_not_double_samples(tmp_path, capsys):
    root = tmp_path / "people"
    (root / "Eileen_Collins").mkdir(parents=True)
    Image.open(ASTRONAUT).save(root / "Eileen_Collins" / "1.png")
    db = tmp_path / "g.db"
    assert run(capsys, "enroll", "--db", str(db), "--from-dir", str(root), "--consent", "ok")[0] == 0
    code, out, err = run(capsys, "enroll", "--db", str(db), "--from-dir", str(root), "--consent", "ok")
    assert "Traceback" not in err
    with Gallery(db) as g:
        people = g.people()
    assert [(p.name, p.n_samples) for p in people] == [("Eileen Collins", 1)]


# -- item 2: every file a realistic session writes ---------------------------------------------------

SESSION = textwrap.dedent("""
    import datetime as dt, json, os, stat, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    astronaut, exports = sys.argv[2], Path(sys.argv[3])
    os.umask(0o022)  # a careless login: the app must not rely on it
    from kiosk.cli import main
    def cli(*argv):
        code = main(list(argv))
        os.umask(0o022)  # main() tightens it; undo, so the library calls below prove themselves
        assert code == 0, argv
    cli("enroll", "--name", "Eileen Collins", "--consent", "signed", astronaut)
    cli("admin", "set-pin")
    cli("identify", astronaut)
    cli("export", str(exports / "all.kx"))
    cli("export", "--plain", str(exports / "all.zip"))
    cli("audit", "verify")
    from kiosk.checkin.visits import CheckinLog, export_day_csv
    from kiosk.config import Config, default_data_dir, save_config
    from kiosk.gallery import Gallery
    save_config(Config())  # what the settings dialog does
    with Gallery(default_data_dir() / "gallery.db", actor="gui") as g:
        CheckinLog(g, 600).checkin(g.people()[0].id, 0.9, False)
        export_day_csv(g, dt.date.today(), exports / "visits.csv")  # the receptionist's CSV
        seen = {}
        for p in [Path(os.environ["HOME"]), exports]:
            for q in [p, *p.rglob("*")]:
                seen[str(q)] = [stat.S_IMODE(q.lstat().st_mode), q.is_dir()]
    print(json.dumps(seen))
""")


def test_item2_every_file_of_a_realistic_session_is_0600_in_0700_folders(tmp_path):
    home = tmp_path / "home"
    exports = tmp_path / "exports"
    home.mkdir()
    exports.mkdir(mode=0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "FACE_KIOSK"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_CACHE_HOME=str(home / ".cache"), FACE_KIOSK_ADMIN_PIN_NEW=PIN, FACE_KIOSK_ADMIN_PIN=PIN,
               FACE_KIOSK_EXPORT_PASSPHRASE=PASS)
    done = subprocess.run([sys.executable, "-c", SESSION, str(ROOT), str(ASTRONAUT), str(exports)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = {Path(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
    app_dirs = [home / ".config" / "face-kiosk", home / ".local/share" / "face-kiosk"]
    files = {p: mode for p, (mode, is_dir) in seen.items() if not is_dir}
    names = {p.name for p in files}
    # What the session wrote: the gallery with its WAL and SHM, the key file, the config, exports, CSV.
    assert {"gallery.db", "gallery.db-wal", "gallery.db-shm", "config.json", "all.kx", "all.zip",
            "visits.csv"} <= names, sorted(names)
    assert any(p.parent.name == "keys" for p in files), sorted(map(str, files))
    loose = {str(p): oct(m) for p, m in files.items() if m != 0o600}
    assert loose == {}
    folders = {p: mode for p, (mode, is_dir) in seen.items()
               if is_dir and any(p == d or d in p.parents for d in app_dirs)}
    assert set(app_dirs) <= set(folders)
    assert {str(p): oct(m) for p, m in folders.items() if m != 0o700} == {}
    assert not (home / ".cache").exists()  # nothing cached (onnxruntime)
