"""Enrollment quality gates and the guided capture: every refusal gives the right reason.

Real faces: the vendored astronaut photo (always) and the shared clips (skipped without
them). Synthetic FaceAnalysis objects pin the exact limits.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared

from kiosk.enrollment.gates import Gate, GateConfig, Pose, check_face, check_frame
from kiosk.enrollment.guided import CaptureSettings, CaptureStep, GuidedCapture
from kiosk.vision.synthetic_masks import MaskStyle, paint_mask
from kiosk.vision.types import FaceAnalysis, Quality

FRAME = (640, 480)
CFG = GateConfig()


def fake_face(box=(250, 150, 390, 310), px=140.0, sharp=120.0, bright=120.0, yaw=0.0, pitch=0.07,
              mask=0.01) -> FaceAnalysis:
    return FaceAnalysis(
        box=np.array(box, np.float32), det_score=0.9, landmarks=np.zeros((5, 2), np.float32),
        aligned=np.zeros((112, 112, 3), np.uint8), masked=mask >= 0.5, mask_score=mask,
        embedding=np.zeros(0, np.float32), quality=Quality(px, sharp, bright, yaw, pitch),
    )


def reasons(verdict) -> list[str]:
    return [r.reason for r in verdict.failed]


def test_a_good_frontal_face_passes_every_gate():
    verdict = check_frame([fake_face()], FRAME, CFG, Pose.FRONTAL, allow_mask=False)
    assert verdict.passed and verdict.reason == "" and verdict.failed == ()
    assert [r.gate for r in verdict.results] == list(Gate)


@pytest.mark.parametrize(("face", "gate", "reason"), [
    (fake_face(px=CFG.min_face_px - 1), Gate.SIZE, "move closer"),
    (fake_face(sharp=CFG.min_sharpness - 1), Gate.SHARPNESS, "hold still - image is blurred"),
    (fake_face(bright=CFG.min_brightness - 1), Gate.EXPOSURE, "too dark - more light on the face"),
    (fake_face(bright=CFG.max_brightness + 1), Gate.EXPOSURE, "too bright - avoid direct light"),
    (fake_face(yaw=CFG.max_frontal_yaw + 0.05), Gate.POSE, "turn to the camera"),
    (fake_face(yaw=-0.5), Gate.POSE, "turn to the camera"),
    (fake_face(pitch=CFG.max_pitch + 0.05), Gate.POSE, "keep your head level and look at the camera"),
    (fake_face(mask=CFG.max_mask_score), Gate.MASK, "please remove your mask for this photo"),
    (fake_face(box=(2, 150, 140, 310)), Gate.IN_FRAME, "move to the middle of the picture"),
    (fake_face(box=(100, 0, 540, 480)), Gate.IN_FRAME, "move back a little"),
])
def test_each_gate_refuses_with_its_reason(face, gate, reason):
    verdict = check_frame([face], FRAME, CFG, Pose.FRONTAL, allow_mask=False)
    assert not verdict.passed
    assert [r.gate for r in verdict.failed] == [gate]
    assert verdict.reason == reason


def test_limits_are_inclusive_and_the_mask_gate_can_be_waived():
    edge = fake_face(px=CFG.min_face_px, sharp=CFG.min_sharpness, bright=CFG.min_brightness,
                     yaw=CFG.max_frontal_yaw, pitch=CFG.min_pitch)
    assert check_frame([edge], FRAME, CFG).passed
    masked = fake_face(mask=0.99)
    assert check_frame([masked], FRAME, CFG, allow_mask=True).passed
    assert not check_frame([masked], FRAME, CFG, allow_mask=False).passed


def test_no_face_and_two_people_are_refused_but_a_small_face_far_behind_is_not():
    assert check_frame([], FRAME, CFG).reason == "look at the camera - no face found"
    two = [fake_face(), fake_face(box=(380, 150, 510, 300))]
    assert check_frame(two, FRAME, CFG).reason == "only one person, please"
    # The rule of photos too (kiosk.enrollment.samples.the_person): a face at the edge counts less.
    at_edge = [fake_face(), fake_face(box=(0, 150, 110, 260))]
    assert check_frame(at_edge, FRAME, CFG).passed
    far = [fake_face(), fake_face(box=(20, 20, 60, 60), px=40)]
    assert check_frame(far, FRAME, CFG).passed


@pytest.mark.parametrize(("pose", "yaw", "reason"), [
    (Pose.LEFT, 0.0, "turn a little to your left"),
    (Pose.LEFT, 0.4, ""),
    (Pose.LEFT, 0.9, "not so far - turn back a little"),
    (Pose.LEFT, -0.5, "turn the other way, to your left"),
    (Pose.RIGHT, -0.4, ""),
    (Pose.RIGHT, 0.1, "turn a little to your right"),
    (Pose.RIGHT, 0.5, "turn the other way, to your right"),
])
def test_turn_steps_ask_for_the_right_direction(pose, yaw, reason):
    verdict = check_frame([fake_face(yaw=yaw)], FRAME, CFG, pose)
    assert verdict.reason == reason


def test_gate_config_rejects_inconsistent_limits():
    with pytest.raises(ValueError):
        GateConfig(min_brightness=200, max_brightness=100)
    with pytest.raises(ValueError):
        GateConfig(max_frontal_yaw=0.5, min_turn_yaw=0.3)


# -- real faces ------------------------------------------------------------------------------


def test_astronaut_passes_and_degraded_copies_fail_for_the_right_reason(pipeline, astronaut_rgb):
    size = (astronaut_rgb.shape[1], astronaut_rgb.shape[0])

    def verdict(rgb, allow_mask=False):
        return check_frame(pipeline.analyze(rgb), (rgb.shape[1], rgb.shape[0]), CFG, Pose.FRONTAL, allow_mask)

    assert verdict(astronaut_rgb).passed
    blurred = cv2.GaussianBlur(astronaut_rgb, (0, 0), 4.0)
    assert reasons(verdict(blurred))[0] == "hold still - image is blurred"
    dark = (astronaut_rgb * 0.15).astype(np.uint8)
    assert "too dark - more light on the face" in reasons(verdict(dark))
    small = cv2.resize(astronaut_rgb, None, fx=0.55, fy=0.55, interpolation=cv2.INTER_AREA)
    canvas = np.full_like(astronaut_rgb, 128)
    canvas[100:100 + small.shape[0], 100:100 + small.shape[1]] = small
    assert "move closer" in reasons(verdict(canvas))
    face = pipeline.analyze(astronaut_rgb)[0]
    masked_rgb = paint_mask(astronaut_rgb, face.landmarks, MaskStyle(shape="surgical", colour=(140, 190, 215), top=64.0))
    assert reasons(verdict(masked_rgb)) == ["please remove your mask for this photo"]
    assert verdict(masked_rgb, allow_mask=True).passed
    assert check_face(face, size, CFG)[0].gate is Gate.IN_FRAME


@pytest.mark.data
def test_clip_frames_give_the_expected_verdicts(pipeline):
    from live_helpers import clip_frames

    male = clip_frames(shared("video", "head-pose-face-detection-male.gif"), [0, 20])
    for rgb in male:
        assert check_frame(pipeline.analyze(rgb), (480, 270), CFG, Pose.FRONTAL, False).passed
    pair = clip_frames(shared("video", "head-pose-face-detection-female-and-male.gif"), [0])[0]
    assert check_frame(pipeline.analyze(pair), (480, 270), CFG).reason == "only one person, please"
    turned = clip_frames(shared("video", "head-pose-face-detection-female.gif"), [0])[0]
    faces = pipeline.analyze(turned)
    assert "turn to the camera" in reasons(check_frame(faces, (480, 270), CFG, Pose.FRONTAL))
    # In an unmirrored camera she faces the image's left, i.e. her own right (and too far).
    assert "not so far - turn back a little" in reasons(check_frame(faces, (480, 270), CFG, Pose.RIGHT))
    assert "turn the other way, to your left" in reasons(check_frame(faces, (480, 270), CFG, Pose.LEFT))


# -- guided capture ----------------------------------------------------------------------------


def test_guided_capture_holds_waits_and_fills_the_slots_in_order():
    steps = (CaptureStep("straight", Pose.FRONTAL, reference=True), CaptureStep("left", Pose.LEFT),
             CaptureStep("straight", Pose.FRONTAL))
    capture = GuidedCapture(steps, CaptureSettings(hold_frames=2, min_interval_s=0.5, turn_patience_s=100))
    good = [fake_face()]
    assert capture.offer(good, FRAME, 0.0).captured is None  # first good frame: hold
    first = capture.offer(good, FRAME, 0.1).captured
    assert first is not None and first.step == 0 and capture.current == 1
    refused = capture.offer(good, FRAME, 0.2)
    assert refused.verdict.reason == "turn a little to your left" and refused.instruction == "left"
    left = [fake_face(yaw=0.4)]
    assert capture.offer(left, FRAME, 0.3).captured is None
    assert capture.offer(left, FRAME, 0.4).captured is None  # held, but too soon after the last one
    assert capture.offer(left, FRAME, 0.7).captured.step == 1
    capture.offer(good, FRAME, 1.3)
    assert capture.offer(good, FRAME, 1.4).captured.step == 2
    assert capture.done and len(capture.samples) == 3
    assert capture.offer(good, FRAME, 2.0).step is None
    capture.retake(1)
    assert capture.current == 1 and not capture.done


def test_a_bad_frame_breaks_the_hold_and_the_reference_refuses_a_mask():
    capture = GuidedCapture(settings=CaptureSettings(hold_frames=2, min_interval_s=0))
    capture.offer([fake_face()], FRAME, 0.0)
    blurred = capture.offer([fake_face(sharp=1)], FRAME, 0.1)
    assert blurred.verdict.reason == "hold still - image is blurred"
    assert capture.offer([fake_face()], FRAME, 0.2).captured is None
    masked = [fake_face(mask=0.95)]
    fresh = GuidedCapture(settings=CaptureSettings(hold_frames=1))
    assert fresh.offer(masked, FRAME, 0.0).verdict.reason == "please remove your mask for this photo"
    allowed = GuidedCapture(settings=CaptureSettings(hold_frames=1), allow_masked_reference=True)
    assert allowed.offer(masked, FRAME, 0.0).captured is not None


def test_a_turn_step_takes_a_frontal_face_after_the_patience_runs_out():
    steps = (CaptureStep("left", Pose.LEFT),)
    capture = GuidedCapture(steps, CaptureSettings(hold_frames=1, turn_patience_s=4.0))
    frontal = [fake_face()]
    assert capture.offer(frontal, FRAME, 10.0).verdict.reason == "turn a little to your left"
    assert capture.offer(frontal, FRAME, 13.9).captured is None
    late = capture.offer(frontal, FRAME, 14.0)
    assert late.relaxed and late.captured is not None and late.captured.relaxed
    assert "(or just look at the camera)" in late.instruction
    # Patience never waives the other gates.
    other = GuidedCapture(steps, CaptureSettings(hold_frames=1, turn_patience_s=0.0))
    assert other.offer([fake_face(sharp=1)], FRAME, 0.0).captured is None


def test_the_own_mask_step_is_asked_only_when_masked_samples_are_used():
    from kiosk.enrollment.guided import DEFAULT_STEPS, capture_plan

    assert capture_plan(False) == DEFAULT_STEPS
    plan = capture_plan(True)
    assert len(plan) == len(DEFAULT_STEPS) + 1 and plan[-1].wear_mask
    capture = GuidedCapture(plan[-1:], CaptureSettings(hold_frames=1, min_interval_s=0))
    bare = capture.offer([fake_face(mask=0.05)], FRAME, 0.0)
    assert bare.captured is None and bare.verdict.reason == "please put your mask on for this photo"
    masked = capture.offer([fake_face(mask=0.95)], FRAME, 1.0)
    assert masked.captured is not None and capture.done
