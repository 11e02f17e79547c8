"""The kiosk's visit log policy: what gets written to the gallery's `visits` table, and when.

- A recognised person is checked in at most once per cooldown (a visitor who lingers in
  front of the camera, or walks past twice in a minute, is one visit).
- An unknown visitor is one event per track (the tracker's id for one continuous presence),
  so the receptionist sees one alert per stranger, not one per frame.
- Time comes from an injectable clock, so tests never sleep.

Also: CSV export of a day's visits for the receptionist.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from kiosk.errors import KioskError
from kiosk.gallery.api import Visit
from kiosk.gallery.frontdesk_api import SIGN_IN
from kiosk.security.private_files import private_output

log = logging.getLogger(__name__)

CHECKIN = "checkin"  # visits.kind of a recognised person
UNKNOWN = "unknown"  # visits.kind of an unknown visitor

Clock = Callable[[], dt.datetime]

# Unknown-visitor track ids remembered for de-duplication; old ones are forgotten first
# (a track id never comes back once its track ended), so memory stays flat over a day.
_MAX_TRACKS = 512

CSV_COLUMNS = ("time", "kind", "name", "person_id", "score", "masked", "source", "site", "kiosk")


def local_now() -> dt.datetime:
    """The wall clock as an aware local datetime, to the second (what the log stores)."""
    return dt.datetime.now().astimezone().replace(microsecond=0)


class VisitStore(Protocol):
    """The part of `kiosk.gallery.Gallery` the check-in log needs."""

    def record_visit(self, person_id: int | None, kind: str, score: float | None = None,
                     masked: bool = False, source: str = "", ts: str | None = None) -> int: ...

    def visits(self, day: dt.date | None = None) -> list[Visit]: ...


class CheckinLog:
    """Decides which sightings become visit rows, and writes them.

    Not thread-safe: call it from one thread (the GUI thread in kiosk mode).
    """

    def __init__(self, store: VisitStore, cooldown_s: float, *, clock: Clock = local_now,
                 source: str = "kiosk") -> None:
        if cooldown_s < 0:
            raise ValueError("cooldown_s must be >= 0")
        self.store = store
        self.cooldown = dt.timedelta(seconds=cooldown_s)
        self.clock = clock
        self.source = source
        self._last_checkin: dict[int, dt.datetime] = {}
        self._unknown_tracks: OrderedDict[object, None] = OrderedDict()
        self._seed_from_store()

    def _seed_from_store(self) -> None:
        """Remember the check-ins (and sign-ins by touch) of the last cooldown, so a restart (or a
        worker crash) does not log them twice: also across midnight (23:59, restart, 00:01 is
        still one visit)."""
        now = self.clock()
        try:
            rows = [row for day in _days_back(now, self.cooldown) for row in self.store.visits(day)]
        except KioskError as exc:  # e.g. a shared gallery's server down at start: said in one line
            log.warning("could not read the recent visits (%s); cooldowns start empty", exc)
            return
        except Exception:  # a damaged log must not stop the kiosk from greeting people
            log.exception("could not read the recent visits; cooldowns start empty")
            return
        for row in rows:
            pid = row.person_id
            if row.kind not in (CHECKIN, SIGN_IN) or pid is None:
                continue
            try:
                ts = dt.datetime.fromisoformat(row.ts)
            except (TypeError, ValueError):
                continue
            if ts.tzinfo is None:
                ts = ts.astimezone()
            if pid not in self._last_checkin or ts > self._last_checkin[pid]:
                self._last_checkin[pid] = ts

    def in_cooldown(self, person_id: int) -> bool:
        """True when this person was checked in less than a cooldown ago."""
        last = self._last_checkin.get(person_id)
        return last is not None and self.clock() - last < self.cooldown

    def checkin(self, person_id: int, score: float | None, masked: bool) -> Visit | None:
        """Log a recognised person unless they were logged within the cooldown; the Visit or None."""
        now = self.clock()
        last = self._last_checkin.get(person_id)
        # A clock set backwards (now < last) counts as "within the cooldown": never double-log.
        if last is not None and now - last < self.cooldown:
            return None
        visit = self._write(person_id, CHECKIN, score, masked, now)
        if visit is not None:
            self._last_checkin[person_id] = now
            self._forget_old(now)
        return visit

    def arrived(self, person_id: int) -> None:
        """The person's arrival was logged another way just now (signed in by touch): their
        face seen within the cooldown is the same visit, not a second one."""
        now = self.clock()
        last = self._last_checkin.get(person_id)
        if last is None or now > last:
            self._last_checkin[person_id] = now

    def forget(self, person_id: int) -> None:
        """Start this person's cooldown afresh (they were signed out: coming back in is a visit)."""
        self._last_checkin.pop(person_id, None)

    def unknown(self, track_id: object, score: float | None, masked: bool) -> Visit | None:
        """Log an unknown visitor once per track; the Visit, or None when this track was logged."""
        if track_id in self._unknown_tracks:
            return None
        visit = self._write(None, UNKNOWN, score, masked, self.clock())
        if visit is not None:
            self._unknown_tracks[track_id] = None
            while len(self._unknown_tracks) > _MAX_TRACKS:
                self._unknown_tracks.popitem(last=False)
        return visit

    def _write(self, person_id: int | None, kind: str, score: float | None, masked: bool,
               now: dt.datetime) -> Visit | None:
        score = None if score is None else round(float(score), 4)
        try:
            row_id = self.store.record_visit(person_id, kind, score, bool(masked), self.source,
                                             now.isoformat(timespec="seconds"))
        except KioskError as exc:
            # E.g. the person was removed by another process after being recognised: the visit is
            # skipped (not logged as unknown: the face was known a moment ago), with one line.
            log.warning("%s visit not recorded: %s", kind, exc)
            return None
        except Exception:
            # The greeting still shows; a failed write is logged, not fatal (disk full, locked db).
            log.exception("could not record a %s visit", kind)
            return None
        log.info("visit %d: %s person=%s score=%s masked=%s", row_id, kind, person_id, score, masked)
        return Visit(row_id, now.isoformat(timespec="seconds"), kind, person_id, None, score, bool(masked), self.source)

    def _forget_old(self, now: dt.datetime) -> None:
        # Entries past their cooldown no longer matter; dropping them keeps memory flat.
        if len(self._last_checkin) > _MAX_TRACKS:
            self._last_checkin = {p: t for p, t in self._last_checkin.items() if now - t < self.cooldown}


def _days_back(now: dt.datetime, span: dt.timedelta) -> list[dt.date]:
    """The local days from `now - span` to `now`, today first (the visit log is read by day)."""
    days, day = [], now.date()
    while day >= (now - span).date():
        days.append(day)
        day -= dt.timedelta(days=1)
    return days


def _csv_safe(value: object) -> object:
    """Neutralise spreadsheet formulas in text cells (a name like '=HYPERLINK(...)'); line breaks
    become spaces (the text CSV ends lines with \\n only, so a bare CR would split the row)."""
    if not isinstance(value, str):
        return value
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        value = "'" + value
    return value.replace("\r", " ").replace("\n", " ")


def visits_csv_rows(visits: Iterable[Visit]) -> list[list[object]]:
    """Visits (as `Gallery.visits` returns them) as CSV rows, oldest first, header included."""
    rows: list[list[object]] = [list(CSV_COLUMNS)]
    for v in sorted(visits, key=lambda v: (v.ts or "", v.id or 0)):
        name = v.name or ("Unknown visitor" if v.kind == UNKNOWN else "")
        score = v.score
        rows.append([
            v.ts or "",
            v.kind or "",
            _csv_safe(name),
            "" if v.person_id is None else v.person_id,
            "" if score is None else f"{float(score):.3f}",
            "yes" if v.masked else "no",
            _csv_safe(v.source or ""),
            _csv_safe(v.site or ""),
            _csv_safe(v.kiosk or ""),
        ])
    return rows


def visits_to_csv(visits: Iterable[Visit]) -> str:
    """The visits as CSV text."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(visits_csv_rows(visits))
    return buf.getvalue()


def export_day_csv(store: VisitStore, day: dt.date, path: str | Path) -> int:
    """Write one day's visits to `path` as CSV (UTF-8 with BOM, so Excel reads names right).

    Written privately (0600) to a temporary file first (kiosk.security.private_files), so a
    failed export never leaves half a file and never writes through a symlink. The caller
    (a save dialog) has confirmed replacing an existing file. Returns the number of visits.
    """
    visits = store.visits(day)
    own_files = getattr(store, "own_files", None)  # never onto the gallery, its keys or spool
    with private_output(Path(path), overwrite=True, protected=own_files() if own_files else ()) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        csv.writer(text, lineterminator="\r\n").writerows(visits_csv_rows(visits))
        text.flush()
        text.detach()
    return len(visits)
