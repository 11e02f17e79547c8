"""The liveness check's visitor-facing texts: its prompts (active mode) and its refusal card,
shown by the kiosk's recognition screens (kiosk.checkin.texts) and the sign-in's capture.
Defined here, before the check was wired, so every language had them; import the constant and
translate it where it is shown: `t(LIVENESS_TURN_HEAD)`."""

from __future__ import annotations

from kiosk.i18n.catalog import N_

#: The active liveness challenge: a small head turn.
LIVENESS_TURN_HEAD = N_("Please turn your head a little")  # i18n: shown large under the camera; short
#: The active liveness challenge: a blink.
LIVENESS_BLINK = N_("Please blink")  # i18n: shown large under the camera; short
#: The card shown when the liveness check refuses a face (a photo or a screen was held up): the
#: same polite words as for a stranger, so an attacker learns nothing.
LIVENESS_REFUSED = N_("Welcome!\nPlease see the receptionist.")  # i18n: two lines, a large card

__all__ = ["LIVENESS_BLINK", "LIVENESS_REFUSED", "LIVENESS_TURN_HEAD"]
