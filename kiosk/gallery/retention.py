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

#: The settings key of the visits' retention period an admin approved last (days).
APPROVED_KEY = "visits_retention_days_approved"
DEFAULT_VISITS_DAYS = PrivacyConfig().visits_retention_days

#: How often (seconds) a long-running process checks whether the day changed.
CHECK_EVERY_S = 600.0


@dataclass(frozen=True)
class Purged:
    """What one purge removed."""

    day: dt.date
    people: int
    visits: int


def purge_retention(gallery: GalleryStore, privacy: PrivacyConfig, today: dt.date | None = None, *,
                    admin: bool = False) -> Purged:
    """Delete the people and visits the retention rule says must go (as of `today`).

    `admin`: the admin PIN was checked for this run. The visits' period comes from the config,
    which anyone running a command can choose (`--config`): a period shorter than the one an
    admin last approved is only applied with the PIN (`visits_days`)."""
    day = today or dt.date.today()
    days = visits_days(gallery, privacy.visits_retention_days, admin=admin)
    people, visits = gallery.purge_expired(day, days)
    gallery.purge_invitations(day - dt.timedelta(days=days))
    if people or visits:
        log.info("retention: %d people past their retention date and %d visits older than %d days deleted",
                 people, visits, days)
    return Purged(day, people, visits)


def visits_days(gallery: GalleryStore, wanted: int, *, admin: bool) -> int:
    """How many days of visits to keep: the config's `wanted`, unless it is shorter than the
    period an admin approved last and this run has no admin (the PIN was not checked, and the
    gallery has one); then the approved period, with a warning. An admin's run approves
    `wanted`; a gallery without a PIN keeps `wanted`. Before anything was approved, the default
    (90 days)."""
    from kiosk.gallery.admin_pin import AdminPin

    if not AdminPin(gallery).is_set():
        return wanted  # nobody to ask: whoever runs it is the admin
    approved_text = gallery.get_setting(APPROVED_KEY)
    if admin:
        if approved_text != str(wanted):
            gallery.set_setting(APPROVED_KEY, str(wanted))
        return wanted
    approved = int(approved_text) if approved_text and approved_text.isdigit() else DEFAULT_VISITS_DAYS
    if wanted < approved:
        log.warning("retention: the config keeps visits %d days, the admin approved %d; the shorter period "
                    "needs the admin PIN (run an admin command such as `face-kiosk visits` with this config)",
                    wanted, approved)
        return approved
    return wanted


def purge_on_open(gallery: GalleryStore, privacy: PrivacyConfig, *, admin: bool) -> Purged | None:
    """`purge_retention` when a command opens the gallery; a purge that fails (the audit log
    refuses a write, the gallery is busy) is logged and the command goes on: retention must
    never stop anyone from reading the gallery (or from repairing it)."""
    try:
        return purge_retention(gallery, privacy, admin=admin)
    except (KioskError,) + DB_ERRORS as exc:
        log.warning("retention purge skipped this time: %s", exc)
        return None


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
