"""Issue 20 (the second hostile audit), the rows about hostile input, each as the audit ran it
and as it must end: row 4 (paths the OS refuses), row 9 (URL passwords), row 10 (self-test's
key), row 11 (export passphrases), row 12 (PINs that count), row 16 (hand-made imports).
The PIN and audit rows are tests/test_hostile2_pin_audit.py; storage rows
tests/test_hostile2_storage.py. Rows are named `test_rowNN_...`.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kiosk.cli import main
from kiosk.cli.common import PASSPHRASE_ENV
from kiosk.errors import KioskError
from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from kiosk.gallery.url_secrets import redact_url, scrub_secrets
from kiosk.security.pin_policy import COMMON_PINS, PinPolicyError, validate_pin
from tests.conftest import ASTRONAUT, ROOT
from tests.test_hostile import _archive, _person, _png, one_line_error, run

LONG = "x" * 300  # longer than NAME_MAX (255) on every usual file system
MODEL = "test-model@000"


@pytest.fixture(scope="module")
def astro_db(tmp_path_factory):
    """A gallery with the astronaut enrolled (real templates), made once."""
    db = tmp_path_factory.mktemp("astro") / "g.db"
    assert main(["enroll", "--db", str(db), "--name", "Eileen Collins", "--consent", "ok", str(ASTRONAUT)]) == 0
    return db


# -- row 4: a path the OS refuses is one item's error, or one line -------------------------------


def test_row04_a_too_long_path_in_a_batch_is_that_items_error(tmp_path, capsys, astro_db):
    lines = [str(ASTRONAUT)] * 4 + [str(tmp_path / f"{LONG}.jpg")] + [str(ASTRONAUT)] * 3
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "identify", "--db", str(astro_db), "--jsonl", "--list", str(listing))
    assert code == 0 and "Traceback" not in err, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 8  # the batch did not stop at the fifth line
    assert "File name too long" in rows[4]["error"]
    assert all(r["faces"][0]["person"] == "Eileen Collins" for i, r in enumerate(rows) if i != 4)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{ASTRONAUT}\t{tmp_path / LONG}.jpg\n{ASTRONAUT}\t{ASTRONAUT}\n")
    code, out, err = run(capsys, "verify", "--pairs", str(pairs), "--jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and "Traceback" not in err and len(rows) == 2
    assert "File name too long" in rows[0]["error"] and rows[1]["match"] is True
    code, out, err = run(capsys, "enroll", "--db", str(tmp_path / "g.db"), "--name", "Eileen", "--consent", "ok",
                         str(tmp_path / f"{LONG}.jpg"), str(ASTRONAUT))
    assert code == 0 and "File name too long" in err and "1 photo(s), 1 skipped" in out, err


@pytest.mark.parametrize("argv", [
    ["people", "list", "--db", f"/tmp/{LONG}.db"],
    ["people", "list", "--config", f"/tmp/{LONG}.json"],
    ["export", "--plain", f"/tmp/{LONG}.zip"],
    ["watch", "--source", f"/tmp/{LONG}.mp4", "--jsonl"],
    ["enroll", "--from-dir", f"/tmp/{LONG}", "--consent", "ok"],
    ["identify", "--list", f"/tmp/{LONG}.txt"],
    ["verify", "--pairs", f"/tmp/{LONG}.txt"],
])
def test_row04_a_too_long_path_for_a_command_is_one_line(tmp_path, capsys, astro_db, argv):
    if "--db" not in argv:
        argv = [*argv, "--db", str(astro_db)]
    code, _, err = run(capsys, *argv)
    assert code == 1 and "too long" in one_line_error(err).lower()


# -- row 9: passwords in URLs ---------------------------------------------------------------------

SECRET_URLS = [
    ("postgresql://kiosk:se#cret@db.lan/gallery", "se#cret"),
    ("postgresql://kiosk:se?cret@db.lan/gallery", "se?cret"),
    ("postgresql://kiosk:p@ss@db.lan/gallery", "p@ss"),
    ("postgresql://kiosk:100%25sure@db.lan/gallery", "100%25sure"),
    ("postgresql://kiosk:a/b#c?d@db.lan:5433/gallery?sslmode=require", "a/b#c?d"),
    ("postgresql://db.lan/gallery?password=s3cr3t%23x&sslmode=require", "s3cr3t%23x"),
    ("postgresql://kiosk:pw@db.lan/gallery?sslpassword=keypass99&sslmode=verify-full", "keypass99"),
    ("postgres://kiosk:h@sh#tag?q@db.lan/gallery?sslpassword=ssl@pass#1", "h@sh#tag?q"),
]


@pytest.mark.parametrize(("url", "secret"), SECRET_URLS)
def test_row09_no_spelling_of_a_password_survives_redaction(url, secret):
    shown = redact_url(url)
    assert "***" in shown and "db.lan" in shown
    for piece in {secret, *secret.replace("#", "@").split("@"), "keypass99", "ssl@pass"}:
        if len(piece) >= 2:
            assert piece not in shown or piece in ("db", "lan"), (piece, shown)
    # libpq splits "p@ss" and names a host "ss@db.lan" in its error: the pieces go too.
    assert "ss@db.lan" not in scrub_secrets("failed to resolve host 'ss@db.lan'", "postgresql://kiosk:p@ss@db.lan/g")


@pytest.mark.parametrize(("url", "secret"), SECRET_URLS[:4] + SECRET_URLS[6:7])
def test_row09_the_cli_never_prints_the_password(capsys, url, secret):
    # Port 1 on loopback: refused at once, with libpq's own message.
    local = url.replace("db.lan", "127.0.0.1:1") if ":5433" not in url else url
    code, out, err = run(capsys, "people", "list", "--db", local)
    assert code == 1 and "Traceback" not in err
    for piece in (secret, "keypass99"):
        assert piece not in out + err, (piece, err)


# -- row 10: self-test cleans up after its throw-away gallery ----------------------------------------


def test_row10_self_test_leaves_no_key_behind(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("XDG_", "FACE_KIOSK"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               XDG_CACHE_HOME=str(home / "cache"), PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "kiosk", "self-test"], capture_output=True, text=True,
                              timeout=300, env=env, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-2000:]
    keys = home / "config" / "face-kiosk" / "keys"
    assert (sorted(p.name for p in keys.iterdir()) if keys.exists() else []) == []


# -- row 11: export passphrases ---------------------------------------------------------------------


@pytest.mark.parametrize(("phrase", "why"), [("a", "at least 10"), ("aaaaaaaaaa", "different characters"),
                                             ("abababababab", "different characters"),
                                             ("passwordpassword", "repeated"), ("1234567890", "run"),
                                             ("qwertyuiop", "run"), ("0987654321", "run")])
def test_row11_a_weak_export_passphrase_is_one_line_without_del_noise(tmp_path, monkeypatch, phrase, why):
    db = tmp_path / "g.db"
    with Gallery(db) as g:
        g.add_person(PersonDetails("P"), [_sample(1)], MODEL)
    env = {**__import__("os").environ, PASSPHRASE_ENV: phrase}
    done = subprocess.run([sys.executable, "-m", "kiosk", "export", "--db", str(db), str(tmp_path / "x.fke")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if not line.startswith("INFO")]
    assert len(errors) == 1 and why in errors[0], done.stderr  # no "Exception ignored in ... __del__"
    assert not (tmp_path / "x.fke").exists()


def test_row11_a_good_passphrase_still_exports(tmp_path, capsys, monkeypatch):
    db = tmp_path / "g.db"
    with Gallery(db) as g:
        g.add_person(PersonDetails("P"), [_sample(1)], MODEL)
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse battery staple")
    code, out, _ = run(capsys, "export", "--db", str(db), str(tmp_path / "x.fke"))
    assert code == 0 and "exported 1 people" in out


# -- row 12: PINs that count whole numbers -------------------------------------------------------------


@pytest.mark.parametrize("pin", ["246810", "108642", "102030", "5101520", "1357911", "369121518", "100200300"])
def test_row12_counted_pins_are_refused(pin, tmp_path, capsys, monkeypatch):
    with pytest.raises(PinPolicyError, match="easy to guess") as refused:
        validate_pin(pin)
    assert "counted" in str(refused.value) or pin in COMMON_PINS


def test_row12_set_pin_refuses_an_even_run_on_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FACE_KIOSK_ADMIN_PIN_NEW", "246810")
    code, _, err = run(capsys, "admin", "set-pin", "--db", str(tmp_path / "g.db"))
    assert code == 1 and "easy to guess" in one_line_error(err)


# -- row 16: hand-made imports --------------------------------------------------------------------------


def _sample(seed: int, dim: int = 8) -> NewSample:
    rng = np.random.default_rng(seed)
    return NewSample(rng.integers(0, 255, (112, 112, 3), np.uint8),
                     [NewTemplate("full", rng.standard_normal(dim).astype(np.float32))], "test")


def _model_of(db: Path) -> tuple[str, int]:
    with Gallery(db) as g:
        (model,) = g.model_versions()
        return model, g.templates(model).matrix.shape[1]


@pytest.mark.parametrize(("values", "why"), [(np.full(128, 1e38, np.float32), "length"),
                                             (np.full(128, np.nan, np.float32), "NaN"),
                                             (np.zeros(128, np.float32), "length"),
                                             (np.full(128, np.inf, np.float32), "NaN")])
def test_row16_a_template_out_of_range_is_refused(tmp_path, capsys, astro_db, values, why):
    model, dim = _model_of(astro_db)
    person = _person(model, dim)
    person["samples"][0]["templates"][0]["embedding"] = base64.b64encode(values.tobytes()).decode()
    archive = _archive(tmp_path / "in.zip", [person], {"samples/1.png": _png(np.zeros((112, 112, 3), np.uint8))})
    db = tmp_path / "g.db"
    with np.errstate(all="raise"):  # no numpy overflow warning on the way either
        code, _, err = run(capsys, "import", "--db", str(db), str(archive))
    assert code == 1 and why in one_line_error(err)
    assert not db.exists() or Gallery(db).counts()["people"] == 0


def test_row16_copies_of_one_person_and_a_second_people_json_are_refused(tmp_path, capsys, astro_db):
    model, dim = _model_of(astro_db)
    crop = {"samples/1.png": _png(np.zeros((112, 112, 3), np.uint8))}
    copies = _archive(tmp_path / "copies.zip", [_person(model, dim)] * 5000, crop)
    code, _, err = run(capsys, "import", "--db", str(tmp_path / "g.db"), str(copies))
    assert code == 1 and "person 2: an exact copy of person 1" in one_line_error(err)
    twice = _archive(tmp_path / "twice.zip", [_person(model, dim)], crop)
    with zipfile.ZipFile(twice, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("people.json", json.dumps([_person(model, dim, name="Someone Else")]))
    code, _, err = run(capsys, "import", "--db", str(tmp_path / "g.db"), str(twice))
    assert code == 1 and "people.json appears twice" in one_line_error(err)
    # Two people who share a photo but not their details (--allow-duplicate) still import.
    pair = _archive(tmp_path / "pair.zip", [_person(model, dim), _person(model, dim, name="Twin")], crop)
    code, out, err = run(capsys, "import", "--db", str(tmp_path / "g.db"), "--allow-duplicates", str(pair))
    assert code == 0 and "imported 2 people" in out, err


def test_row16_the_gallery_itself_refuses_an_overflowing_template(tmp_path):
    with Gallery(tmp_path / "g.db") as g, np.errstate(all="raise"):
        pid = g.add_person(PersonDetails("Big"), [NewSample(np.zeros((112, 112, 3), np.uint8), [
            NewTemplate("full", np.full(8, 1e38, np.float32))])], MODEL)
        vec = g.templates(MODEL).matrix[0]  # 1e38s are finite: stored as the unit vector they point along
        assert pid and abs(float(np.linalg.norm(vec)) - 1) < 1e-5 and np.all(vec > 0)
        with pytest.raises(KioskError):
            g.add_person(PersonDetails("NaN"), [NewSample(np.zeros((112, 112, 3), np.uint8), [
                NewTemplate("full", np.full(8, np.nan, np.float32))])], MODEL)
