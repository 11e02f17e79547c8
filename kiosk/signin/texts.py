"""The words of the kiosk's visitor screens (sign-in, expected list, leaving), as msgids: the
screens translate them (kiosk.i18n) in the visitor's language. The flow (flow.py) hands
problems over as these constants, so it never holds a sentence in one language."""

from __future__ import annotations

from kiosk.i18n import N_

# Buttons on the start screens.
FIRST_TIME = N_("First time here?")  # i18n: a large button; short
EXPECTED = N_("Expected today?")  # i18n: a large button; short
LEAVING = N_("Leaving")  # i18n: a large button; short ("I am leaving")

# Navigation.
BACK = N_("Back")  # i18n: button
CANCEL = N_("Cancel")  # i18n: button
NEXT = N_("Next")  # i18n: button
DONE = N_("Done")  # i18n: button

# The sign-in form.
SIGN_IN_TITLE = N_("Welcome! Please sign in")  # i18n: page title
NAME_LABEL = N_("Your name")  # i18n: label above a text field
COMPANY_LABEL = N_("Company (optional)")  # i18n: label above a text field
NAME_MISSING = N_("Please enter your name")
HOST_TITLE = N_("Who are you visiting?")  # i18n: page title
HOST_HINT = N_("Type the first letters of their name")
HOST_NONE_FOUND = N_("Nobody by that name. Please check the spelling.")
HOST_UNKNOWN = N_("I don't know")  # i18n: button: the visitor does not know their host's name
AGREEMENT_TITLE = N_("Visitor agreement and privacy")  # i18n: page title
AGREEMENT_VERSION = N_("Version {version}")  # i18n: small print under the agreement
AGREE = N_("I agree")  # i18n: button
FACE_TITLE = N_("Recognise you next time?")  # i18n: page title
FACE_YES = N_("Yes, recognise me")  # i18n: button
FACE_NO = N_("No, thank you")  # i18n: button
FACE_RETENTION = N_("Your photos are deleted after {days} days.")  # i18n: {days} is a number
CAPTURE_SKIP = N_("Continue without photos")  # i18n: button
SAVING = N_("One moment, please...")

# The end of a sign-in.
DONE_TITLE = N_("Thank you, {name}!")  # i18n: {name} is the visitor's name; very large
HOST_TOLD = N_("{host} has been told you are here.")  # i18n: {host} is the host's name
RECEPTION_TOLD = N_("Please take a seat. Someone will be with you shortly.")
BADGE_PRINTED = N_("Please take your visitor badge from the printer.")
FACE_KEPT = N_("Next time the kiosk will greet you by name.")
FACE_NOT_KEPT = N_("Your photos could not be kept this time. The receptionist can help.")

# The expected list.
EXPECTED_TITLE = N_("Find your name")  # i18n: page title
EXPECTED_HINT = N_("Type at least 3 letters of your name")
EXPECTED_NONE_FOUND = N_("We could not find your name. Please see the receptionist.")
ITS_ME = N_("This is me")  # i18n: button next to a name

# Leaving.
LEAVING_TITLE = N_("Goodbye! Please look at the camera")  # i18n: large, above the live picture
LEFT_TITLE = N_("Goodbye, {name}!")  # i18n: {name} is the visitor's name; very large
SIGNED_OUT = N_("You are signed out. Thank you for your visit.")
NOT_SIGNED_IN = N_("You were not signed in. Have a good day!")
NOT_RECOGNISED = N_("We could not recognise you. Please see the receptionist to sign out.")
LEAVING_BY_NAME = N_("Sign out with my name")  # i18n: button under the live picture on "Leaving"
LEAVING_NAME_TITLE = N_("Find your name to sign out")  # i18n: page title
LEAVING_NONE_FOUND = N_("We could not find you among today's visitors. Please see the receptionist.")

# Problems.
FAILED = N_("Sorry, that did not work. Please see the receptionist.")
AGREEMENT_CHANGED = N_("The agreement has just been updated. Please read it again.")
NOT_EXPECTED_NOW = N_("You are already signed in. Welcome!")
