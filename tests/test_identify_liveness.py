"""`face-kiosk identify --liveness MODE`: on still photos only the passive model can judge; each face
gets "liveness" and "live", and a face that fails is still named (an administrator's tool on
photos). Uses the labelled samples next to the shared models (a photo of a screen, a live face)."""

from __future__ import annotations

import json

import pytest

from kiosk.cli import main
from tests.conftest import ASTRONAUT, SHARED_DATA

SAMPLES = SHARED_DATA.parent / "models" / "minifasnet" / "samples"
SCREEN = SAMPLES / "minivision_image_F2.jpg"  # a face photographed off a screen
LIVE = SAMPLES / "minivision_image_T1.jpg"


def _identify(capsys, *argv: str) -> list[dict]:
    capsys.readouterr()
    assert main(["identify", *argv]) == 0
    out, err = capsys.readouterr()
    mode = argv[argv.index("--liveness") + 1]
    # Said once, whatever the number of images: on a still only the passive model can judge.
    assert err.count("the passive model alone") == (0 if mode == "off" else 1), err
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.data
def test_a_screen_photo_is_named_but_not_live_and_off_adds_nothing(tmp_path, capsys):
    if not SCREEN.exists():
        pytest.skip(f"needs the labelled liveness samples ({SAMPLES}; not shipped with the project)")
    db = str(tmp_path / "g.db")
    # Enrolled from that very screen photo: files chosen by staff are not judged.
    assert main(["enroll", "--db", db, "--consent", "test", "--name", "Screen Person", str(SCREEN)]) == 0
    assert main(["enroll", "--db", db, "--consent", "test", "--name", "Eileen Collins", str(ASTRONAUT)]) == 0

    for mode in ("passive", "active"):  # a still has no motion: both are the passive model alone
        screen, live, portrait = _identify(capsys, "--db", db, "--jsonl", "--liveness", mode,
                                           str(SCREEN), str(LIVE), str(ASTRONAUT))
        (face,) = screen["faces"]
        assert face["person"] == "Screen Person" and face["live"] is False
        assert face["liveness"]["state"] == "attack" and face["liveness"]["reason"] == "screen or print texture"
        assert face["liveness"]["score"] == face["liveness"]["passive"] < 0.5
        assert [f["live"] for f in live["faces"]] == [True]
        assert portrait["faces"][0]["person"] == "Eileen Collins" and portrait["faces"][0]["live"] is True

    (off,) = _identify(capsys, "--db", db, "--jsonl", "--liveness", "off", str(SCREEN))
    assert set(off["faces"][0]) == {"box", "masked", "mask_score", "person", "score"}

    capsys.readouterr()
    assert main(["identify", "--db", db, "--liveness", "passive", str(SCREEN)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{SCREEN}: Screen Person (") and "not live" in line and "screen or print texture" in line
