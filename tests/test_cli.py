"""The `face-kiosk` command-line contract (other tools depend on these JSON shapes)."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from kiosk.cli import main
from tests.conftest import ASTRONAUT, shared


def _run(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return code, rows, err


@pytest.fixture
def photos(tmp_path, astronaut_rgb):
    """The astronaut, a shifted copy, a blank image, a non-image and a two-face picture."""
    face = astronaut_rgb[40:240, 130:330]
    paths = {
        "astro": ASTRONAUT,
        "shifted": tmp_path / "shifted.png",
        "blank": tmp_path / "blank.png",
        "text": tmp_path / "notes.jpg",
        "two": tmp_path / "two.png",
    }
    Image.fromarray(np.roll(astronaut_rgb, (30, -20), axis=(0, 1))).save(paths["shifted"])
    Image.new("RGB", (320, 240), (128, 128, 128)).save(paths["blank"])
    paths["text"].write_text("not an image")
    canvas = np.full((300, 700, 3), 200, np.uint8)
    canvas[50:250, 50:250] = face
    canvas[50:250, 450:650] = cv2.flip(face, 1)
    Image.fromarray(canvas).save(paths["two"])
    return paths


def test_enroll_identify_jsonl_contract(tmp_path, capsys, photos):
    db = str(tmp_path / "g.db")
    code, _, err = _run(capsys, "enroll", "--db", db, "--consent", "test", "--name", "Eileen Collins",
                        str(photos["astro"]), str(photos["text"]), str(photos["two"]))
    assert code == 0
    assert "not an image" in err and "2 faces of similar size" in err

    images = [photos[k] for k in ("shifted", "blank", "text", "two")]
    code, rows, _ = _run(capsys, "identify", "--db", db, "--jsonl", "--liveness", "off", *map(str, images))
    assert code == 0 and [r["image"] for r in rows] == [str(p) for p in images]
    for row in rows:
        assert set(row) == {"image", "faces", "error"}
        for face in row["faces"]:
            assert set(face) == {"box", "masked", "mask_score", "person", "score"}
            assert len(face["box"]) == 4 and isinstance(face["masked"], bool)
    shifted, blank, text, two = rows
    assert shifted["error"] is None and shifted["faces"][0]["person"] == "Eileen Collins"
    assert blank["faces"] == [] and "no face" in blank["error"]
    assert text["faces"] == [] and "not an image" in text["error"]
    assert len(two["faces"]) == 2 and all(f["person"] == "Eileen Collins" for f in two["faces"])


def test_identify_list_file(tmp_path, capsys, photos):
    db = str(tmp_path / "g.db")
    main(["enroll", "--db", db, "--consent", "test", "--name", "E", str(photos["astro"])])
    listing = tmp_path / "list.txt"
    listing.write_text(f"{photos['shifted']}\n\n{photos['blank']}\n")
    capsys.readouterr()
    code, rows, _ = _run(capsys, "identify", "--db", db, "--jsonl", "--list", str(listing))
    assert code == 0 and len(rows) == 2 and rows[0]["faces"][0]["person"] == "E"


def test_verify_jsonl_contract(tmp_path, capsys, photos):
    root = photos["shifted"].parent
    (root / "astro.png").write_bytes(ASTRONAUT.read_bytes())
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("astro.png\tshifted.png\nastro.png\tblank.png\nastro.png\tmissing.png\nno-tab-here\n")
    code, rows, _ = _run(capsys, "verify", "--pairs", str(pairs), "--root", str(root), "--jsonl")
    assert code == 0 and len(rows) == 4
    for row in rows:
        assert set(row) == {"a", "b", "score", "match", "masked_a", "masked_b", "error"}
    same, blank, missing, malformed = rows
    assert same["match"] is True and same["score"] > 0.5 and same["error"] is None
    assert same["masked_a"] is False and same["masked_b"] is False
    assert blank["score"] is None and "no face" in blank["error"]
    assert "no such file" in missing["error"]
    assert malformed["error"] and malformed["score"] is None


def test_command_level_errors_exit_1_with_one_line(tmp_path, capsys):
    code, _, err = _run(capsys, "identify", "--db", str(tmp_path / "none.db"), "x.jpg")
    assert code == 1 and err.count("\n") == 1 and "no gallery" in err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"garbage" * 50)
    code, _, err = _run(capsys, "people", "list", "--db", str(junk))
    assert code == 1 and "damaged" in err
    assert junk.read_bytes() == b"garbage" * 50  # nothing overwritten


def test_people_rename_remove_export_import(tmp_path, capsys, photos):
    db, db2, archive = str(tmp_path / "g.db"), str(tmp_path / "g2.db"), str(tmp_path / "out.zip")
    main(["enroll", "--db", db, "--consent", "test", "--name", "First", str(photos["astro"])])
    assert main(["people", "rename", "First", "Second", "--db", db]) == 0
    assert main(["export", "--db", db, archive, "--plain"]) == 0
    assert main(["import", "--db", db2, archive]) == 0
    capsys.readouterr()
    _, rows, _ = _run(capsys, "people", "list", "--jsonl", "--db", db2)
    assert [r["name"] for r in rows] == ["Second"] and rows[0]["templates"] >= 1
    assert main(["people", "remove", "Second", "--db", db, "--yes"]) == 0
    capsys.readouterr()
    _, rows, _ = _run(capsys, "people", "list", "--jsonl", "--db", db)
    assert rows == []


def test_console_script_runs_out_of_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ui.launcher", "identify", "--db", str(tmp_path / "none.db"), "x.jpg"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1 and proc.stderr.strip().startswith("face-kiosk: error:")


@pytest.mark.data
def test_lfw_from_dir_enroll_and_identify(tmp_path, capsys):
    images = shared("lfw-dev", "images")
    people = ["Al_Gore", "Ahmed_Chalabi", "Ai_Sugiyama"]
    enroll_root = tmp_path / "enroll"
    for name in people:
        (enroll_root / name).mkdir(parents=True)
        for i in (1, 2):
            src = images / name / f"{name}_{i:04d}.jpg"
            (enroll_root / name / src.name).write_bytes(src.read_bytes())
    db = str(tmp_path / "g.db")
    assert main(["enroll", "--db", db, "--consent", "test", "--from-dir", str(enroll_root)]) == 0
    probes = [images / name / f"{name}_0003.jpg" for name in people]
    stranger = images / "Alastair_Campbell" / "Alastair_Campbell_0001.jpg"
    capsys.readouterr()
    _, rows, _ = _run(capsys, "identify", "--db", db, "--jsonl", *map(str, [*probes, stranger]))
    named = [r["faces"][0]["person"] if r["faces"] else None for r in rows]
    assert named[:3] == ["Al Gore", "Ahmed Chalabi", "Ai Sugiyama"]
    assert named[3] is None


def test_enroll_and_import_follow_the_duplicate_rule(tmp_path, capsys, photos):
    """The CLI writes through the same path as the enrollment dialog: a face already enrolled is
    refused (with how to add to that person instead), and importing an export twice adds nobody twice."""
    db = str(tmp_path / "g.db")
    assert _run(capsys, "enroll", "--db", db, "--consent", "test", "--name", "Eileen", str(photos["astro"]))[0] == 0
    code, _, err = _run(capsys, "enroll", "--db", db, "--consent", "test", "--name", "Someone Else", str(photos["shifted"]))
    assert code == 1 and "look like someone already enrolled: Eileen (id 1" in err and "--add-to" in err
    code, _, err = _run(capsys, "enroll", "--db", db, "--consent", "test", "--name", "Eileen", "--add-to", "1", str(photos["shifted"]))
    assert code == 0
    assert _run(capsys, "people", "list", "--db", db, "--jsonl")[1][0]["samples"] == 2
    code, _, _ = _run(capsys, "enroll", "--db", db, "--consent", "test", "--name", "Twin", "--allow-duplicate", str(photos["shifted"]))
    assert code == 0
    archive = str(tmp_path / "all.zip")
    assert _run(capsys, "export", "--db", db, archive, "--plain")[0] == 0
    other = str(tmp_path / "other.db")
    code, _, _ = _run(capsys, "import", "--db", other, archive)
    assert code == 0 and len(_run(capsys, "people", "list", "--db", other, "--jsonl")[1]) == 2
    code, _, err = _run(capsys, "import", "--db", other, archive)
    assert code == 0 and err.count("skipped:") == 2 and "already enrolled as" in err
    assert len(_run(capsys, "people", "list", "--db", other, "--jsonl")[1]) == 2
