"""The visitor's own guided capture at the kiosk ("recognise me next time"): a short plan of
the enrollment's guided capture (kiosk.enrollment.guided) with visitor-facing, translatable
prompts, and one short hint per refused frame instead of the receptionist's checklist."""

from __future__ import annotations

from kiosk.enrollment.gates import Gate, Pose, Verdict
from kiosk.enrollment.guided import CaptureStep, Offer
from kiosk.i18n import N_

#: Three samples (straight, a little left, a little right): three photos are the biggest lever on
#: accuracy (README, Accuracy), and a visitor should be done in a few seconds.
VISITOR_STEPS: tuple[CaptureStep, ...] = (
    CaptureStep(N_("Please look straight at the camera"), Pose.FRONTAL, reference=True, label="straight"),
    CaptureStep(N_("Now turn your head a little to the left"), Pose.LEFT, label="left"),
    CaptureStep(N_("Now a little to the right"), Pose.RIGHT, label="right"),
)
#: Added under a turn prompt once the visitor had time to turn (the capture then takes a frontal face).
OR_JUST_LOOK = N_("or just look at the camera")  # i18n: a second, smaller line under a turn prompt
PHOTO_COUNT = N_("Photo {n} of {total}")  # i18n: progress of the capture, e.g. "Photo 2 of 3"

#: The one hint shown for a refused frame, by the first gate that refused it.
GATE_HINTS: dict[Gate, str] = {
    Gate.FACE: N_("Please step in front of the camera"),
    Gate.ONE_FACE: N_("Only one person in front of the camera, please"),
    Gate.IN_FRAME: N_("Please move into the middle of the picture"),
    Gate.SIZE: N_("Please come a little closer"),
    Gate.SHARPNESS: N_("Please hold still for a moment"),
    Gate.EXPOSURE: N_("Your face is too dark or too bright here"),
    Gate.POSE: N_("Please turn your head as shown"),
    Gate.MASK: N_("Please take off your mask for the photo"),
}


def hint_for(verdict: Verdict) -> str:
    """The hint (a msgid) for a refused frame; "" when it passed."""
    failed = verdict.failed
    return GATE_HINTS.get(failed[0].gate, "") if failed else ""


def prompt_for(offer: Offer, steps: tuple[CaptureStep, ...]) -> tuple[str, str]:
    """What to tell the visitor for an offer: (the step's prompt, a second line), as msgids."""
    if offer.step is None:
        return "", ""
    spec = steps[offer.step]
    patient = spec.pose is not Pose.FRONTAL and offer.instruction != spec.instruction
    return spec.instruction, OR_JUST_LOOK if patient else hint_for(offer.verdict)
