"""The end-of-day sign-out, run by every long-running process (`watch`, the GUI) like the
retention purge (kiosk.gallery.retention): at the first check and then whenever a new end-of-day
moment (`frontdesk.end_of_day`) has passed. A failed sweep is logged and retried at the next
check; it never stops the kiosk."""

from __future__ import annotations

import datetime as dt
import logging

from kiosk.errors import KioskError
from kiosk.frontdesk.forms import SignOutResult
from kiosk.frontdesk.service import FrontDesk
from kiosk.security.sqlcipher import DB_ERRORS

log = logging.getLogger(__name__)


class EndOfDaySchedule:
    """Calls `FrontDesk.end_of_day` once per end-of-day moment. Call from the gallery's thread."""

    def __init__(self, desk: FrontDesk) -> None:
        self.desk = desk
        self.last_cutoff: dt.datetime | None = None

    def run_if_due(self) -> SignOutResult | None:
        """Sweep when the last end-of-day moment is one not swept yet; what it closed, or None."""
        cutoff = self.desk.last_end_of_day()
        if cutoff is None or cutoff == self.last_cutoff:
            return None
        try:
            done = self.desk.end_of_day()
        except (KioskError,) + DB_ERRORS as exc:
            log.warning("end-of-day sign-out failed (retried later): %s", exc)
            return None
        self.last_cutoff = cutoff
        return done
