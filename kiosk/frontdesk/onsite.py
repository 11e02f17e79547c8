"""The evacuation list: who is inside now (staff and visitors), with host and arrival time, as
typed rows, CSV and plain text. The PDF and the printout are drawn by the GUI (Qt's print
support lives in ui/); `face-kiosk visits --on-site --pdf FILE` reaches it through the
`OnSitePdf` writer the launcher hands to the command line (kiosk.cli.entry.main)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk.gallery.frontdesk_api import OnSite

CSV_COLUMNS = ("name", "kind", "company", "host", "arrived", "kiosk", "site", "person_id", "visit_id")


@dataclass(frozen=True)
class OnSiteReport:
    """Who was inside at `generated_at` (local time): staff first, then visitors, by name.
    `unknown_today` counts strangers seen today who never signed in (not on the list: nobody
    knows who they are, but a fire warden should know they exist)."""

    generated_at: dt.datetime
    site: str
    rows: tuple[OnSite, ...]
    unknown_today: int = 0

    @property
    def staff(self) -> tuple[OnSite, ...]:
        """The staff inside."""
        return tuple(r for r in self.rows if r.kind == "staff")

    @property
    def visitors(self) -> tuple[OnSite, ...]:
        """The visitors inside."""
        return tuple(r for r in self.rows if r.kind != "staff")

    @property
    def title(self) -> str:
        """The heading of a printout."""
        where = f" at {self.site}" if self.site else ""
        return f"On site{where}: {self.generated_at:%Y-%m-%d %H:%M}"

    def to_csv(self) -> str:
        """CSV text (a header, then one row per person; formulas neutralised)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in self.rows:
            writer.writerow([_cell(r.name), r.kind, _cell(r.company), _cell(r.host_name), r.arrived_at,
                             _cell(r.kiosk), _cell(r.site), r.person_id, r.visit_id])
        return buf.getvalue()

    def to_jsonl(self) -> str:
        """One JSON object per person, then none (an empty list prints nothing)."""
        return "".join(json.dumps({"name": r.name, "kind": r.kind, "company": r.company, "host": r.host_name,
                                   "host_id": r.host_id, "arrived": r.arrived_at, "kiosk": r.kiosk, "site": r.site,
                                   "person_id": r.person_id, "visit_id": r.visit_id}, ensure_ascii=False) + "\n"
                       for r in self.rows)

    def to_text(self) -> str:
        """A readable list for a terminal or a plain printout."""
        lines = [self.title, ""]
        for heading, rows in (("Staff", self.staff), ("Visitors", self.visitors)):
            lines.append(f"{heading} ({len(rows)})")
            for r in rows:
                host = f", host {r.host_name}" if r.host_name else ""
                company = f" ({r.company})" if r.company else ""
                lines.append(f"  {_hhmm(r.arrived_at)}  {r.name}{company}{host}")
            lines.append("")
        lines.append(f"{len(self.rows)} people on site")
        if self.unknown_today:
            lines.append(f"also {self.unknown_today} unknown visitor(s) seen today who did not sign in")
        return "\n".join(lines) + "\n"


#: Writes an OnSiteReport as a PDF file (the GUI's print support provides it).
OnSitePdf = Callable[[OnSiteReport, Path], None]


def _hhmm(ts: str) -> str:
    try:
        return dt.datetime.fromisoformat(ts).strftime("%H:%M")
    except ValueError:
        return ts


def _cell(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula; line breaks become spaces."""
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        value = "'" + value
    return value.replace("\r", " ").replace("\n", " ")
