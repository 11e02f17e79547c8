"""Enrolment from the camera needs a live face (kiosk.enrollment.liveness): the controller takes the
live loop's tracked faces with their liveness decisions. A face still unsure may give samples,
but nothing is saved until its track is judged live; a photo or a screen held up stops the
capture, drops what it gave, and the operator reads why; with the check off, nothing changes.
The kiosk's own sign-in capture (kiosk.signin) uses the same decisions. Models: the real ones,
on the vendored photo; the decisions are given by the test."""

from __future__ import annotations

import dataclasses

import pytest
from controller_helpers import ImmediateRunner, ImmediateWriter
from test_enrollment_controller import controller, ready_new_person

from kiosk.enrollment.gates import Pose
from kiosk.enrollment.guided import CaptureSettings, CaptureStep, GuidedCapture
from kiosk.enrollment.session_state import SaveState
from kiosk.gallery import Gallery
from kiosk.liveness import NOT_CHECKED, Cues, Liveness, LivenessDecision, Reason
from kiosk.recognition.live import TrackedFace
from kiosk.recognition.tracking import PENDING
from kiosk.signin.flow import Liveness as DeskLiveness
from kiosk.signin.flow import by_the_live_check

UNSURE = LivenessDecision(Liveness.UNSURE, 0.5, Reason.NO_MOTION, Cues())
LIVE = LivenessDecision(Liveness.LIVE, 0.97, Reason.MOVES_LIKE_A_HEAD, Cues(planarity=1.3))
PHOTO = LivenessDecision(Liveness.ATTACK, 0.01, Reason.FLAT, Cues(planarity=0.01))
STEPS = (CaptureStep("Look at the camera", Pose.FRONTAL, reference=True, label="straight"),
         CaptureStep("Once more", Pose.FRONTAL, label="straight"))


@pytest.fixture
def gallery(tmp_path):
    with Gallery(tmp_path / "gallery.db") as g:
        yield g


@pytest.fixture
def tracked(pipeline, astronaut_rgb):
    """tracked(decision, track) -> the photo's face as the live loop hands it on."""
    (face,) = pipeline.analyze(astronaut_rgb)

    def make(decision: LivenessDecision, track: int = 4) -> list[TrackedFace]:
        return [TrackedFace(track, PENDING, False, face, (), True, liveness=decision)]

    return make


def _camera(gallery, pipeline):
    capture = GuidedCapture(STEPS, CaptureSettings(hold_frames=1, min_interval_s=0.0))
    c = controller(gallery, ImmediateRunner(pipeline), ImmediateWriter(), capture=capture, camera=True)
    ready_new_person(c)
    c.start()
    return c


SIZE = (512, 512)


def test_samples_of_an_unsure_face_are_saved_only_once_it_is_judged_live(gallery, pipeline, tracked):
    c = _camera(gallery, pipeline)
    assert c.offer_tracked(tracked(UNSURE), SIZE, 0.0).captured is not None
    assert c.offer_tracked(tracked(UNSURE), SIZE, 0.1).captured is not None
    assert c.capture.done
    [problem] = c.missing()
    assert "not judged live yet" in problem
    assert not c.save() and "not judged live yet" in c.notice.text and gallery.counts()["people"] == 0
    heard = []
    c.listeners.append(heard.append)
    c.offer_tracked(tracked(LIVE), SIZE, 0.2)  # the visitor turned their head: live
    assert heard and c.missing() == []  # the view hears of it and enables Save
    assert c.save() and c.state is SaveState.SAVED and gallery.counts()["people"] == 1


def test_a_photo_held_up_stops_the_capture_and_drops_its_samples(gallery, pipeline, tracked):
    c = _camera(gallery, pipeline)
    assert c.offer_tracked(tracked(UNSURE), SIZE, 0.0).captured is not None
    assert c.offer_tracked(tracked(PHOTO), SIZE, 0.1) is None
    assert not c.capturing and c.pending_samples() == []
    assert c.notice.error and "Refused by the liveness check" in c.notice.text
    assert "flat like a photo" in c.notice.text and "1 sample was dropped" in c.notice.text
    assert c.offer_tracked(tracked(PHOTO), SIZE, 0.2) is None and c.pending_samples() == []
    # A live visitor (another track) can start again.
    c.start_over()
    assert c.offer_tracked(tracked(LIVE, track=5), SIZE, 0.3).captured is not None
    assert c.offer_tracked(tracked(LIVE, track=5), SIZE, 0.4).captured is not None
    assert c.missing() == [] and c.save() and gallery.counts()["people"] == 1


def test_with_the_check_off_the_capture_is_as_before(gallery, pipeline, tracked):
    c = _camera(gallery, pipeline)
    for t in (0.0, 0.1):
        assert c.offer_tracked(tracked(NOT_CHECKED), SIZE, t).captured is not None
    assert c.missing() == [] and c.save()


def test_the_kiosk_sign_in_capture_gate_reads_the_same_decisions(tracked):
    assert by_the_live_check(tracked(NOT_CHECKED)) is DeskLiveness.LIVE
    assert by_the_live_check(tracked(LIVE)) is DeskLiveness.LIVE
    assert by_the_live_check(tracked(UNSURE)) is DeskLiveness.UNDECIDED
    assert by_the_live_check(tracked(PHOTO)) is DeskLiveness.ATTACK
    assert by_the_live_check(tracked(LIVE) + tracked(PHOTO, track=9)) is DeskLiveness.ATTACK
    assert by_the_live_check([]) is DeskLiveness.UNDECIDED
    assert by_the_live_check([dataclasses.replace(tracked(LIVE)[0], track_id=2)]) is DeskLiveness.LIVE
