"""The evacuation list (kiosk.frontdesk.onsite.OnSiteReport) on paper or as a PDF: staff and
visitors inside now, with host and arrival time, A4, as many pages as it needs, a count on every
page's end. The receptionist view's button prints it; `face-kiosk visits --on-site --pdf FILE`
writes it (ui.launcher hands `write_onsite_pdf` to the command line).
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from PySide6.QtGui import QPagedPaintDevice, QPageSize, QTextDocument

from kiosk.frontdesk.onsite import OnSiteReport
from kiosk.gallery.frontdesk_api import OnSite
from ui.documents import print_pages, write_pdf

A4 = QPageSize(QPageSize.PageSizeId.A4)
MARGIN_PT = 40


def _hhmm(ts: str) -> str:
    try:
        return dt.datetime.fromisoformat(ts).strftime("%H:%M")
    except ValueError:
        return ts


def _table(rows: tuple[OnSite, ...], with_host: bool) -> str:
    head = "<tr><th>Arrived</th><th>Name</th><th>Company</th>" + ("<th>Host</th>" if with_host else "") + \
        "<th>Checked</th></tr>"
    body = "".join(
        f"<tr><td>{_hhmm(r.arrived_at)}</td><td><b>{html.escape(r.name)}</b></td><td>{html.escape(r.company)}</td>"
        + (f"<td>{html.escape(r.host_name)}</td>" if with_host else "") + "<td>&#9744;</td></tr>"
        for r in rows)
    return f'<table width="100%" cellspacing="0" cellpadding="5" border="1">{head}{body}</table>'


def onsite_html(report: OnSiteReport) -> str:
    """The list as HTML (what is printed)."""
    parts = [f"<h1>{html.escape(report.title)}</h1>",
             f"<p>{len(report.rows)} people on site: {len(report.staff)} staff, {len(report.visitors)} visitors.</p>",
             f"<h2>Visitors ({len(report.visitors)})</h2>", _table(report.visitors, True),
             f"<h2>Staff ({len(report.staff)})</h2>", _table(report.staff, False)]
    if report.unknown_today:
        parts.append(f"<p>Also {report.unknown_today} unknown visitor(s) seen today who did not sign in.</p>")
    return "<html><body style='font-family: sans-serif; font-size: 11pt'>" + "".join(parts) + "</body></html>"


def _paint(report: OnSiteReport):
    def paint(device: QPagedPaintDevice) -> None:
        doc = QTextDocument()
        doc.setHtml(onsite_html(report))
        doc.setDocumentMargin(MARGIN_PT)
        doc.print_(device)

    return paint


def write_onsite_pdf(report: OnSiteReport, path: Path) -> None:
    """Write the list as a PDF file (0600; an existing file is replaced). kiosk.frontdesk.OnSitePdf."""
    write_pdf(path, _paint(report), A4, title=report.title, overwrite=True)


def print_onsite(report: OnSiteReport, printer: str = "default") -> None:
    """Print the list on `printer` ("default": the system's default)."""
    print_pages(printer, _paint(report), A4, title=report.title)
