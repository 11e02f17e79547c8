"""The enrollment session without Qt: photo checks one at a time, cancel and stale outcomes,
the camera capture, consent at the time it was given, the duplicate choice, the one write.

Model jobs and writes run when the test says (tests/controller_helpers.py), so every
in-between state can be looked at; the models are the real ones, on the vendored photo.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ASTRONAUT, ROOT
from controller_helpers import ImmediateRunner, ImmediateWriter, ManualRunner, ManualWriter

from kiosk.enrollment.controller import EnrollmentController
from kiosk.enrollment.gates import Pose
from kiosk.enrollment.guided import CaptureSettings, CaptureStep, GuidedCapture
from kiosk.enrollment.prepare import DuplicateError
from kiosk.enrollment.samples import make_sample
from kiosk.enrollment.session_state import (
    CANCELLED_PHOTO,
    Change,
    DetailsForm,
    PhotoStatus,
    SaveState,
    Update,
)
from kiosk.enrollment.threads import Clock
from kiosk.gallery import Gallery
from kiosk.gallery.api import PersonDetails


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def monotonic(self) -> float:
        return self.t

    def now_iso(self) -> str:
        return "2026-03-04T09:30:00+01:00"


@pytest.fixture
def gallery(tmp_path):
    with Gallery(tmp_path / "gallery.db") as g:
        yield g


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def controller(gallery, runner, writer, clock=None, **kwargs) -> EnrollmentController:
    capture = kwargs.pop("capture", None) or GuidedCapture()
    return EnrollmentController(gallery, runner, writer, capture, **kwargs,
                                clock=Clock(clock.monotonic, clock.now_iso) if clock else None)


def record(c: EnrollmentController) -> list[Update]:
    """What a view listening to `c` would hear from now on."""
    updates: list[Update] = []
    c.listeners.append(updates.append)
    return updates


def ready_new_person(c: EnrollmentController, name: str = "Eileen") -> None:
    c.set_details(DetailsForm(name=name, company="Acme"))
    c.give_consent(True)


@pytest.fixture
def photos(tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 400, 3), 180, np.uint8))
    return {"face": ASTRONAUT, "blank": blank, "missing": tmp_path / "missing.jpg"}


def test_the_controllers_import_no_qt():
    code = ("import sys, kiosk.enrollment.controller, kiosk.enrollment.gallery_admin; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'superqt', 'qtpy', 'ui')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# -- photos ---------------------------------------------------------------------------------------


def test_photos_are_checked_one_at_a_time_with_progress(gallery, pipeline, photos):
    runner = ManualRunner(pipeline)
    c = controller(gallery, runner, ImmediateWriter())
    updates = record(c)
    items = c.add_photos([photos["face"], photos["blank"], photos["missing"]])
    assert [i.status for i in items] == [PhotoStatus.CHECKING, PhotoStatus.QUEUED, PhotoStatus.QUEUED]
    assert len(runner.jobs) == 1 and c.checking_photos and c.photo_progress == (0, 3)
    assert "wait until the photos are checked" in c.missing()
    runner.run_next()
    assert items[0].status is PhotoStatus.CHECKED and items[0].face is not None
    assert c.photo_progress == (1, 3) and len(runner.jobs) == 1
    assert any(u.photos == (items[0],) and Change.SAMPLES in u.changes for u in updates)
    runner.run_all()
    assert not c.checking_photos and c.photo_progress is None
    assert items[0].message.startswith("face found")
    assert items[1].message == "no face found in this photo"
    assert items[2].message == "cannot read this file: no such file"
    assert [p.source for p in c.pending_samples()] == [str(photos["face"])]
    assert c.missing() == ["enter the name", "the visitor's consent"]


def test_cancelled_checks_are_marked_and_their_late_outcome_is_dropped(gallery, pipeline, photos):
    runner = ManualRunner(pipeline)
    c = controller(gallery, runner, ImmediateWriter())
    items = c.add_photos([photos["face"]] * 3)
    c.cancel_photos()
    assert all(i.cancelled and i.message == CANCELLED_PHOTO for i in items)
    assert not c.checking_photos and c.photo_progress is None
    runner.run_all()  # the check that was running finishes after the cancel
    assert all(i.status is PhotoStatus.CANCELLED and i.check is None for i in items)
    assert c.pending_samples() == [] and not runner.jobs
    again = c.add_photos([photos["face"]])  # checking starts again for new photos
    runner.run_all()
    assert again[0].face is not None and len(c.pending_samples()) == 1


def test_a_photo_removed_while_checked_is_dropped_and_the_next_one_runs(gallery, pipeline, photos):
    runner = ManualRunner(pipeline)
    c = controller(gallery, runner, ImmediateWriter())
    first, second = c.add_photos([photos["face"], photos["face"]])
    c.remove_photo(first)
    runner.run_all()
    assert c.photos == [second] and second.face is not None and first.check is None


def test_a_failed_check_and_the_photo_limit(gallery, pipeline, photos):
    class Broken(ImmediateRunner):
        def run_on_worker(self, fn):
            return super().run_on_worker(lambda p: (_ for _ in ()).throw(RuntimeError("models not loaded")))

    c = controller(gallery, Broken(pipeline), ImmediateWriter(), max_photos=2)
    items = c.add_photos([photos["face"]] * 3)
    assert len(items) == 2 and all(i.status is PhotoStatus.FAILED for i in items)
    assert items[0].message == "could not be checked: models not loaded"
    assert c.notice.text == "At most 2 photos per person; 1 were left out." and c.notice.error


def test_a_photo_with_two_people_needs_a_pick(gallery, pipeline, tmp_path, astronaut_rgb):
    face = astronaut_rgb[20:260, 110:350]
    pair = np.full((300, 640, 3), 200, np.uint8)
    pair[30:270, 20:260] = face
    pair[30:270, 360:600] = face[:, ::-1]
    two = tmp_path / "two.png"
    cv2.imwrite(str(two), pair[:, :, ::-1])
    c = controller(gallery, ImmediateRunner(pipeline), ImmediateWriter())
    (item,) = c.add_photos([two])
    assert item.needs_pick and "pick the face in the photos with several people, or remove them" in c.missing()
    c.pick_face(item, 1)
    assert not item.needs_pick and len(c.pending_samples()) == 1


# -- saving ---------------------------------------------------------------------------------------


def test_save_a_new_person_with_the_consent_time(gallery, pipeline, photos, clock):
    runner, writer = ManualRunner(pipeline), ManualWriter()
    c = controller(gallery, runner, writer, clock)
    updates = record(c)
    c.add_photos([photos["face"]])
    runner.run_all()
    c.start()
    assert not c.save() and c.notice.text.startswith("Cannot save yet: enter the name") and c.notice.error
    ready_new_person(c)
    assert c.notice.text == "1 sample. Ready to save."
    clock.t += 42.5
    assert c.save() and c.state is SaveState.PREPARING and c.busy
    assert c.notice.text == "Making the templates and checking for duplicates…"
    assert not c.save()  # one save at a time
    runner.run_next()
    assert c.state is SaveState.SAVING and c.notice.text == "Saving…" and not c.cancel()
    assert gallery.counts()["people"] == 0  # nothing is written before the writer runs
    writer.run_next()
    assert c.state is SaveState.SAVED and Change.SAVED in updates[-1].changes
    person = gallery.get_person(c.saved_person_id)
    assert person.name == "Eileen" and person.company == "Acme" and person.n_samples == 1
    assert person.consent_at == "2026-03-04T09:30:00+01:00" and "stores photos of my face" in person.consent_text
    assert c.enroll_seconds == pytest.approx(42.5)


def test_consent_cleared_is_no_consent(gallery, pipeline, photos):
    c = controller(gallery, ImmediateRunner(pipeline), ImmediateWriter())
    ready_new_person(c)
    c.give_consent(False)
    assert c.consent_at is None and c.person_details().consent_text == ""
    assert "the visitor's consent" in c.missing()


def test_cancel_while_preparing_saves_nothing_and_ignores_the_late_result(gallery, pipeline, photos):
    runner, writer = ManualRunner(pipeline), ImmediateWriter()
    c = controller(gallery, runner, writer)
    c.add_photos([photos["face"]])
    runner.run_all()
    ready_new_person(c)
    c.save()
    assert c.cancel() and c.state is SaveState.IDLE
    assert c.notice.text == "Cancelled; nothing was saved."
    runner.run_all()  # the cancelled job's outcome arrives
    assert c.state is SaveState.IDLE and writer.calls == 0 and gallery.counts()["people"] == 0
    assert c.save()  # and saving again works
    runner.run_all()
    assert c.state is SaveState.SAVED and gallery.counts()["people"] == 1


def test_a_failed_write_leaves_nothing_and_can_be_retried(gallery, pipeline, photos):
    class Full(ImmediateWriter):
        def submit(self, fn, /):
            return super().submit(lambda: (_ for _ in ()).throw(OSError("disk full (simulated)")))

    c = controller(gallery, ImmediateRunner(pipeline), Full())
    c.add_photos([photos["face"]])
    ready_new_person(c)
    c.save()
    assert c.state is SaveState.IDLE and c.notice.text == "Nothing was saved: disk full (simulated)"
    assert c.notice.error and gallery.counts()["people"] == 0


def test_possible_duplicates_wait_for_the_operators_choice(gallery, pipeline, photos, astronaut_rgb):
    known = gallery.add_person(PersonDetails("Known Astronaut"), [make_sample(pipeline, pipeline.analyze(astronaut_rgb)[0])],
                               pipeline.model_version)
    writer = ImmediateWriter()
    c = controller(gallery, ImmediateRunner(pipeline), writer)
    c.add_photos([photos["face"]])
    ready_new_person(c, "Someone Else")
    c.save()
    assert c.state is SaveState.CHOOSING and [d.person_id for d in c.duplicates] == [known]
    assert c.notice.text == "Nothing is saved until you choose." and writer.calls == 0
    c.dismiss_duplicates()
    assert c.state is SaveState.IDLE and c.duplicates == [] and gallery.counts()["people"] == 1
    c.save()
    c.resolve_duplicate(known)  # the same person: the samples go to them
    assert c.state is SaveState.SAVED and c.saved_person_id == known and c.resolution.person_id == known
    assert gallery.get_person(known).n_samples == 2 and gallery.counts()["people"] == 1


def test_a_different_person_is_saved_as_new_only_when_confirmed(gallery, pipeline, photos, astronaut_rgb):
    gallery.add_person(PersonDetails("Known Astronaut"), [make_sample(pipeline, pipeline.analyze(astronaut_rgb)[0])],
                       pipeline.model_version)
    c = controller(gallery, ImmediateRunner(pipeline), ImmediateWriter())
    c.add_photos([photos["face"]])
    ready_new_person(c, "Twin")
    c.save()
    c.resolve_duplicate(None)
    assert c.state is SaveState.SAVED and gallery.get_person(c.saved_person_id).name == "Twin"
    assert gallery.counts()["people"] == 2


def test_the_write_paths_own_duplicate_check_asks_the_operator(gallery, pipeline, photos):
    from kiosk.enrollment.duplicates import DuplicateCandidate

    candidate = DuplicateCandidate(7, "Late Arrival", 0.9, 0.5, 1, 1)

    class Refusing(ImmediateWriter):
        def submit(self, fn, /):
            return super().submit(lambda: (_ for _ in ()).throw(DuplicateError([candidate])))

    c = controller(gallery, ImmediateRunner(pipeline), Refusing())
    c.add_photos([photos["face"]])
    ready_new_person(c)
    c.save()
    assert c.state is SaveState.CHOOSING and c.duplicates == [candidate]


def test_adding_samples_needs_no_details_and_keeps_the_person(gallery, pipeline, photos, astronaut_rgb):
    bob = gallery.add_person(PersonDetails("Bob"), [make_sample(pipeline, pipeline.analyze(astronaut_rgb)[0])],
                             pipeline.model_version)
    c = controller(gallery, ImmediateRunner(pipeline), ImmediateWriter(), person_id=bob)
    assert c.adding_samples and c.person.name == "Bob"
    c.add_photos([photos["face"]])
    assert c.missing() == []
    c.save()  # Bob himself is no duplicate of Bob
    assert c.state is SaveState.SAVED and c.saved_person_id == bob and gallery.get_person(bob).n_samples == 2


def test_closing_drops_every_outcome(gallery, pipeline, photos):
    runner, writer = ManualRunner(pipeline), ManualWriter()
    c = controller(gallery, runner, writer)
    updates = record(c)
    c.add_photos([photos["face"]])
    runner.run_all()
    ready_new_person(c)
    c.save()
    runner.run_next()
    c.add_photos([photos["face"]])
    heard = len(updates)
    c.close()
    assert c.closed and c.add_photos([photos["face"]]) == [] and not c.save()
    writer.run_all()  # a write already running completes (one transaction)...
    runner.run_all()
    assert len(updates) == heard and c.saved_person_id is None  # ...but nobody hears of it
    assert c.state is SaveState.CLOSED and c.photos[-1].check is None
    assert gallery.counts()["people"] == 1


# -- camera ---------------------------------------------------------------------------------------


def test_the_camera_capture_fills_the_plan_then_stops(gallery, pipeline, astronaut_rgb):
    steps = (CaptureStep("Look at the camera", Pose.FRONTAL, reference=True, label="straight"),
             CaptureStep("Once more", Pose.FRONTAL, label="straight"))
    capture = GuidedCapture(steps, CaptureSettings(hold_frames=1, min_interval_s=0.0))
    c = controller(gallery, ImmediateRunner(pipeline), ImmediateWriter(), capture=capture, camera=True)
    faces = pipeline.analyze(astronaut_rgb)
    size = (astronaut_rgb.shape[1], astronaut_rgb.shape[0])
    assert c.offer_frame(faces, size, 0.0) is None  # not started (the PIN page shows)
    c.start()
    assert c.capturing and c.prompt().step_text == "Sample 1 of 2"
    c.toggle_capture()
    assert not c.capturing and c.prompt().instruction == "Capture paused" and c.offer_frame(faces, size, 0.1) is None
    c.toggle_capture()
    first = c.offer_frame(faces, size, 0.2)
    assert first is not None and first.captured is not None and c.capturing
    assert c.offer_frame(faces, size, 0.3).captured is not None
    assert c.capture.done and not c.capturing
    assert c.prompt().instruction == "All samples taken - fill in the details and save"
    assert [p.source for p in c.pending_samples()] == ["camera: straight 1", "camera: straight 2"]
    c.retake(1)
    assert c.capturing and len(c.pending_samples()) == 1 and c.prompt().step_text == "Sample 2 of 2"
    c.start_over()
    assert c.pending_samples() == [] and c.capturing


def test_without_a_camera_nothing_is_captured(gallery, pipeline, astronaut_rgb):
    c = controller(gallery, ImmediateRunner(pipeline), ImmediateWriter(), camera=False)
    c.start()
    faces = pipeline.analyze(astronaut_rgb)
    assert not c.capturing and c.offer_frame(faces, (512, 512), 0.0) is None
    c.toggle_capture()
    assert not c.capturing


def test_a_masked_reference_needs_the_operators_leave(gallery, pipeline, photos):
    c = controller(gallery, ImmediateRunner(pipeline), ImmediateWriter())
    (item,) = c.add_photos([photos["face"]])
    item.check = dataclasses.replace(item.check, faces=(dataclasses.replace(item.face, masked=True),))
    assert "at least one sample without a mask (or tick \u201callow a masked reference\u201d)" in c.missing()
    c.allow_masked_reference = True
    assert not any("mask" in m for m in c.missing())
