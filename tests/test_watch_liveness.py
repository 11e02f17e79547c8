"""`face-kiosk watch --liveness passive`: photos held up to the camera greet nobody and are reported
as presentation attacks; real people are not refused; `--liveness off` is the kiosk as before.

Run out of process as an integrator would. The attack clips are made here: the vendored
public-domain portrait carried up to the camera (as tests/test_watch.py's clips), and (with
../shared/data) the first photos of several lfw-dev people, each enrolled from that very photo,
carried up or held as a print in front of the camera one after the other
(kiosk.diagnostics.photo_attacks). The real clips are ../shared/data/video's, with their people
enrolled from the clips themselves.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.diagnostics.arrivals import FPS, FRAME_SIZE
from kiosk.diagnostics.photo_attacks import attack_frames
from kiosk.gallery import Gallery
from kiosk.gallery.api import PersonDetails
from tests.conftest import shared
from tests.test_watch import NAME, events_of, watch

pytest_plugins = ["events_fixtures"]
# Each test runs `watch` over clips of half a minute or more, twice: minutes on a shared machine.
# The limit only stops a hung run; nothing here depends on how fast it is.
pytestmark = pytest.mark.timeout(1200)

VISIT_S = 5.0  # each photo in front of the camera
GAP_S = 3.0  # empty frames between two (the track ends, the kiosk goes idle)


def write_visits(path: Path, photos: list[np.ndarray], kinds: list[str]) -> Path:
    """An MJPG .avi at the analysis rate: each photo held up (its kind of attack) for VISIT_S,
    then GAP_S of empty frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, FRAME_SIZE)
    assert writer.isOpened()
    empty = np.zeros((FRAME_SIZE[1], FRAME_SIZE[0], 3), np.uint8)
    for i, (photo, kind) in enumerate(zip(photos, kinds)):
        frames = attack_frames(kind, photo, np.random.default_rng(100 + i))
        for _ in range(int(VISIT_S * FPS)):
            writer.write(cv2.cvtColor(next(frames), cv2.COLOR_RGB2BGR))
        for _ in range(int(GAP_S * FPS)):
            writer.write(empty)
    writer.release()
    return path


def enrol(db: Path, pipeline, people: list[tuple[str, list[np.ndarray]]]) -> Path:
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face

    with Gallery(db) as g:
        for name, images in people:
            samples = [make_sample(pipeline, pick_enrollment_face(pipeline.analyze(rgb))) for rgb in images]
            g.add_person(PersonDetails(name), samples, pipeline.model_version)
    return db


def as_lfw_photo(rgb: np.ndarray, pipeline) -> np.ndarray:
    """The portrait framed as the attack simulator's photos are (an LFW photo: 250 px, the face
    about 45% of its width), so the printed or carried picture shows a face of a kiosk's size."""
    box = pipeline.analyze(rgb)[0].box
    cx, cy, side = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 2.3 * (box[2] - box[0])
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    return cv2.resize(rgb[y0:y0 + int(side), x0:x0 + int(side)], (250, 250), interpolation=cv2.INTER_AREA)


def visit_of(event: dict) -> int:
    """Which visit of a `write_visits` clip an event belongs to."""
    return int(event["t"] // (VISIT_S + GAP_S))


def test_the_portrait_held_up_greets_nobody_and_is_reported_as_an_attack(tmp_path, astronaut_rgb, pipeline):
    db = enrol(tmp_path / "gallery.db", pipeline, [(NAME, [astronaut_rgb])])
    photo = as_lfw_photo(astronaut_rgb, pipeline)
    clip = write_visits(tmp_path / "portrait.avi", [photo, photo], ["walk_up", "held_print"])

    refused = events_of(watch("--db", db, "--source", clip, "--jsonl", "-v", liveness="passive"))
    assert refused and {e["event"] for e in refused} == {"presentation_attack"}
    assert sorted({visit_of(e) for e in refused}) == [0, 1]  # each photo, once per track
    assert len({e["track"] for e in refused}) == len(refused)
    for e in refused:
        assert (e["person"], e["person_id"], e["logged"]) == (None, None, False)
        assert e["liveness"]["state"] == "attack" and e["liveness"]["score"] <= 0.05
        assert e["liveness"]["reason"] in ("flat like a photo", "screen or print texture")
        assert e["score"] is not None and e["score"] > 0.5  # the picture did match the enrolled person
    with Gallery(db, create=False) as g:
        assert g.visits() == []  # never logged as anyone

    # The same clip with the check off: greeted as her, as before the check existed.
    accepted = events_of(watch("--db", db, "--source", clip, "--jsonl"))
    assert [(e["event"], e["person"], e["liveness"]) for e in accepted] == [("arrival", NAME, None)] * 2


@pytest.mark.data
def test_photos_of_enrolled_people_held_up_greet_nobody_and_each_is_an_attack(tmp_path, pipeline):
    from kiosk.capture.images import load_rgb
    from kiosk.diagnostics.liveness_clips import first_photo, split_people

    lfw = shared("lfw-dev", "images")
    people = split_people(lfw, "report")[:4]
    photos = [load_rgb(first_photo(lfw, p)) for p in people]
    db = enrol(tmp_path / "gallery.db", pipeline, [(p.replace("_", " "), [rgb]) for p, rgb in zip(people, photos)])
    clip = write_visits(tmp_path / "photos.avi", photos, ["walk_up", "held_print", "walk_up", "held_print"])

    refused = events_of(watch("--db", db, "--source", clip, "--jsonl", liveness="passive"))
    assert not any(e["event"] == "arrival" for e in refused)
    attacks = [e for e in refused if e["event"] == "presentation_attack"]
    assert sorted({visit_of(e) for e in attacks}) == [0, 1, 2, 3]
    assert all(e["person"] is None and e["liveness"]["state"] == "attack" for e in attacks)
    with Gallery(db, create=False) as g:
        assert [v for v in g.visits() if v.kind == "checkin"] == []

    accepted = events_of(watch("--db", db, "--source", clip, "--jsonl"))  # off: each photo greeted as them
    assert [(visit_of(e), e["event"], e["person"]) for e in accepted if e["event"] == "arrival"] == [
        (i, "arrival", p.replace("_", " ")) for i, p in enumerate(people)]


@pytest.fixture(scope="module")
def real_clips(tmp_path_factory, pipeline) -> list[tuple[Path, Path, int]]:
    """(clip, gallery, people) for each real clip: each person in it enrolled from the clip itself
    (the two sharpest frames of each track of at least 8 frames; tracks of one person joined)."""
    from kiosk.capture.sources import Frame, make_source
    from kiosk.config import Config, LivenessConfig
    from kiosk.enrollment.samples import make_sample
    from kiosk.recognition.live import LiveRecognizer
    from kiosk.recognition.recognizer import Recognizer
    from kiosk.vision.quality import quality_score

    folder = tmp_path_factory.mktemp("real")
    out = []
    for clip in sorted(shared("video").glob("*.gif")):
        db = folder / f"{clip.stem}.db"
        with Gallery(db) as g:
            live = LiveRecognizer(Recognizer(Config(liveness=LivenessConfig(mode="off")), g, pipeline))
            live.embed_all = True
            source = make_source(str(clip), loop=False)
            source.open()
            faces: dict[int, list] = {}
            i = 0
            while (rgb := source.read()) is not None:
                for f in live.process(Frame(i + 1, rgb, i / (source.fps or 12.5))).faces:
                    faces.setdefault(f.track_id, []).append((quality_score(f.analysis), f.analysis))
                i += 1
            source.close()
            people: list[tuple[np.ndarray, list]] = []
            for items in faces.values():
                if len(items) < 8:
                    continue
                best = [a for _, a in sorted(items, key=lambda x: -x[0])[:2]]
                mean = np.mean([a.embedding for a in best], 0)
                mean /= np.linalg.norm(mean)
                same = next((p for p in people if float(p[0] @ mean) > 0.55), None)
                if same is None:
                    people.append((mean, best))
                else:
                    same[1].extend(best)
            for k, (_, best) in enumerate(people):
                g.add_person(PersonDetails(f"Person {k + 1}"), [make_sample(pipeline, a) for a in best[:3]],
                             pipeline.model_version)
        out.append((clip, db, len(people)))
    return out


@pytest.mark.data
def test_the_real_clips_refuse_no_one(real_clips):
    greeted = 0
    for clip, db, _people in real_clips:
        events = events_of(watch("--db", db, "--source", clip, "--jsonl", liveness="passive"))
        assert not any(e["event"] == "presentation_attack" for e in events), (clip.name, events)
        arrivals = [e for e in events if e["event"] == "arrival"]
        assert all(e["liveness"]["state"] == "live" for e in arrivals)
        greeted += len(arrivals)
    # The head-turning clips' people are greeted once judged live (docs/liveness.md has each track).
    assert greeted >= 3
