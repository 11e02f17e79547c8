"""The front desk, Qt-free (docs/front-desk.md): first-time sign-in at the kiosk (with or
without face consent), undo, invitations and the expected list, arrivals, sign-out (kiosk
button, exit camera, receptionist, end of day) and the on-site (evacuation) list.

    desk = FrontDesk(gallery, config, kiosk="lobby", publish=bus.publish)
    texts = desk.agreement()                       # what the visitor reads, with its version
    hosts = desk.hosts("gra")                      # type-ahead
    done = desk.sign_in(SignInForm("Ada Lovelace", "Analytical Engines", hosts[0].id,
                                   texts.version, face_consent=True), samples, model_version)
    desk.undo_sign_in(done.visit_id)               # the receptionist's undo, the same day
    desk.invite(InvitationForm("Alan Turing", host_id, dt.date(2026, 12, 8)), samples, model_version)
    desk.expected_to_pick(); desk.arrive(invitation_id, texts.version)
    desk.sign_out_person(person_id, "kiosk"); desk.on_site().to_text()
"""

from kiosk.frontdesk.forms import (
    AgreementTexts,
    ArrivalResult,
    ImportLine,
    ImportReport,
    InvitationForm,
    SignInForm,
    SignInResult,
    SignOutResult,
)
from kiosk.frontdesk.onsite import OnSitePdf, OnSiteReport
from kiosk.frontdesk.schedule import EndOfDaySchedule
from kiosk.frontdesk.service import FrontDesk

__all__ = ["AgreementTexts", "ArrivalResult", "EndOfDaySchedule", "FrontDesk", "ImportLine", "ImportReport",
           "InvitationForm", "OnSitePdf", "OnSiteReport", "SignInForm", "SignInResult", "SignOutResult"]
