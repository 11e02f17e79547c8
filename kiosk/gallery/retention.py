"""The retention rule, in one place: who and what is purged, and when.

People past their `retention_until` date (visitors get theirs from the front desk), visits older
than `privacy.visits_retention_days` and invitations of days that long ago are deleted (`GalleryStore.purge_expired`: one transaction, audited as `purge`, the files
scrubbed). Every process that holds a gallery runs it:

- the CLI, each time it opens a gallery (kiosk.gallery.target.open_target_gallery);
- the GUI, at start and then daily (a QTimer in ui.main_window calls `RetentionSchedule`);
- `face-kiosk watch`, at start and then daily (kiosk.checkin.headless).

"Daily" means once per calendar day of the local date, so a kiosk that runs for weeks purges
every morning, and a clock that jumps (a laptop resumed from sleep) purges at the next check.
The date comes from an injectable `today`, so tests never wait for midnight.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.config import PrivacyConfig
from kiosk.errors import KioskError
from kiosk.gallery.api import GalleryStore
from kiosk.security.sqlcipher import DB_ERRORS

log = logging.getLogger(__name__)

#: How often (seconds) a long-running process checks whether the day changed.
CHECK_EVERY_S = 600.0


@dataclass(frozen=True)
class Purged:
    """What one purge removed."""

    day: dt.date
    people: int
    visits: int


def purge_retention(gallery: GalleryStore, privacy: PrivacyConfig, today: dt.date | None = None) -> Purged:
    """Delete the people and visits the retention rule says must go (as of `today`)."""
    day = today or dt.date.today()
    people, visits = gallery.purge_expired(day, privacy.visits_retention_days)
    gallery.purge_invitations(day - dt.timedelta(days=privacy.visits_retention_days))
    if people or visits:
        log.info("retention: %d people past their retention date and %d visits older than %d days deleted",
                 people, visits, privacy.visits_retention_days)
    return Purged(day, people, visits)


class RetentionSchedule:
    """Runs `purge_retention` at the first `run_if_due()` and then once per local date.

    A failed purge (the gallery busy, a disk error) is logged and retried at the next call;
    it never stops the kiosk. Call from the thread that writes the gallery.
    """

    def __init__(self, gallery: GalleryStore, privacy: PrivacyConfig, *,
                 today: Callable[[], dt.date] = dt.date.today) -> None:
        self.gallery = gallery
        self.privacy = privacy
        self._today = today
        self.last_day: dt.date | None = None

    def run_if_due(self) -> Purged | None:
        """Purge when the date is not the one of the last purge; what was purged, or None."""
        day = self._today()
        if self.last_day == day:
            return None
        try:
            done = purge_retention(self.gallery, self.privacy, day)
        except (KioskError,) + DB_ERRORS as exc:
            log.warning("retention purge failed (retried later): %s", exc)
            return None
        self.last_day = day
        return done
