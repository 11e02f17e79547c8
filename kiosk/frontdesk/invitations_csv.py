"""Invitations from a CSV file (`face-kiosk invite --csv FILE`): one line per expected visitor.

The header names the columns, in any order: `name`, `host` and `date` are required, `company`
and `photo` optional (a photo's path is relative to the CSV's folder). The host is a host's
exact name (case-insensitive) or id; the date is YYYY-MM-DD. Each line is checked and written
on its own (its own transaction): a bad line is reported with its number and reason and the
others are still invited; a line already invited (same name, host and day, still expected) is
reported and not invited twice, so a corrected file can be imported again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

from kiosk.errors import KioskError
from kiosk.frontdesk.forms import ImportLine, ImportReport, InvitationForm
from kiosk.frontdesk.service import FrontDesk
from kiosk.gallery.api import NewSample, clean_name
from kiosk.gallery.frontdesk_api import Host

REQUIRED = ("name", "host", "date")
OPTIONAL = ("company", "photo")
MAX_BYTES = 5 * 1024 * 1024

#: Reads a photo into enrollment samples (kiosk.enrollment's; KioskError with a one-line reason).
LoadPhoto = Callable[[Path], list[NewSample]]


def read_csv_text(path: Path) -> str:
    """The file's text (UTF-8, a BOM is fine); KioskError for a missing, huge or binary file."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise KioskError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB; not an invitations list")
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KioskError(f"{path}: not UTF-8 text (byte {exc.start}); save it as CSV UTF-8") from None
    except OSError as exc:
        raise KioskError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def import_invitations(desk: FrontDesk, text: str, *, base_dir: Path, load_photo: LoadPhoto | None = None,
                       model_version: str = "") -> ImportReport:
    """Invite everyone the CSV `text` lists (see the module's doc); a report line per data line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise KioskError(f"the CSV's first line must name the columns; missing: {', '.join(missing)} "
                         f"(required: {', '.join(REQUIRED)}; optional: {', '.join(OPTIONAL)})")
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    if unknown:
        raise KioskError(f"unknown column(s) {', '.join(unknown)} (allowed: {', '.join(REQUIRED + OPTIONAL)})")
    reader.fieldnames = header
    hosts = desk.hosts()
    lines = []
    for row in reader:
        number = reader.line_num
        name = clean_name(row.get("name") or "")
        try:
            lines.append(_one(desk, row, name, number, hosts, base_dir, load_photo, model_version))
        except KioskError as exc:
            lines.append(ImportLine(number, name, None, str(exc)))
    return ImportReport(tuple(lines))


def _one(desk: FrontDesk, row: dict[str, str | None], name: str, number: int, hosts: list[Host], base_dir: Path,
         load_photo: LoadPhoto | None, model_version: str) -> ImportLine:
    if None in row:  # csv puts the extra cells of a too-long line under None
        raise KioskError("more cells than the header has columns")
    if not name:
        raise KioskError("no name")
    host = _host(hosts, (row.get("host") or "").strip())
    raw_day = (row.get("date") or "").strip()
    try:
        day = dt.date.fromisoformat(raw_day)
    except ValueError:
        raise KioskError(f"date {raw_day!r} is not a date (YYYY-MM-DD)") from None
    for existing in desk.expected(day):
        if existing.name.lower() == name.lower() and existing.host_id == host.id and existing.status == "expected":
            raise KioskError(f"already invited for {day.isoformat()} (invitation {existing.id})")
    samples: list[NewSample] = []
    photo = (row.get("photo") or "").strip()
    if photo:
        if load_photo is None:
            raise KioskError("photos cannot be read here")
        path = Path(photo) if Path(photo).is_absolute() else base_dir / photo
        samples = load_photo(path)
    form = InvitationForm(name, host.id, day, clean_name(row.get("company") or ""))
    invitation = desk.invite(form, samples, model_version)
    return ImportLine(number, name, invitation.id)


def _host(hosts: list[Host], ref: str) -> Host:
    if not ref:
        raise KioskError("no host")
    if ref.isascii() and ref.isdigit():
        found = [h for h in hosts if h.id == int(ref)]
    else:
        found = [h for h in hosts if h.name.lower() == ref.lower()]
    if not found:
        raise KioskError(f"host {ref!r} is not a host here (face-kiosk people host NAME marks one)")
    if len(found) > 1:
        raise KioskError(f"{len(found)} hosts are named {ref!r}; use the id ({', '.join(str(h.id) for h in found)})")
    return found[0]
