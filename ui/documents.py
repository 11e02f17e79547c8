"""Printed documents through Qt's print support: a page painted once, sent to a printer or kept
as a PDF file that only its user can read (0600, written whole or not at all).

Used by the visitor badge (ui.badge) and the evacuation list (ui.onsite_pdf). Works without a
display: `ensure_gui_app()` starts an off-screen Qt application for the command line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QSizeF
from PySide6.QtGui import QGuiApplication, QPagedPaintDevice, QPageLayout, QPageSize, QPdfWriter
from PySide6.QtPrintSupport import QPrinter, QPrinterInfo

from kiosk.errors import KioskError
from kiosk.security.private_files import atomic_write

#: Paints every page on the device (calls device.newPage() between pages).
Paint = Callable[[QPagedPaintDevice], None]

PDF_DPI = 300


def ensure_gui_app() -> QGuiApplication:
    """The running Qt application, or an off-screen one (the CLI has no window and maybe no display)."""
    app = QGuiApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication(["face-kiosk"])
    assert isinstance(app, QGuiApplication)
    return app


def page_mm(width_mm: float, height_mm: float) -> QPageSize:
    """A page of the given size in millimetres (a label, or A4 with `QPageSize.A4`)."""
    return QPageSize(QSizeF(width_mm, height_mm), QPageSize.Unit.Millimeter, "", QPageSize.SizeMatchPolicy.ExactMatch)


def pdf_bytes(paint: Paint, page: QPageSize, *, title: str = "") -> bytes:
    """The PDF of `paint` on pages of `page`, without margins (the painter places everything)."""
    ensure_gui_app()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_DPI)
    writer.setTitle(title)
    writer.setCreator("face-kiosk")
    writer.setPageLayout(QPageLayout(page, QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)))
    paint(writer)
    del writer  # ends the document: the PDF is complete in `data` only now
    buffer.close()
    return bytes(data.data())


def write_pdf(path: Path, paint: Paint, page: QPageSize, *, title: str = "", overwrite: bool = False) -> Path:
    """Paint into a PDF file at `path` (0600; KioskError with one line if it cannot be written)."""
    atomic_write(path, pdf_bytes(paint, page, title=title), overwrite=overwrite)
    return path


def printer_names() -> list[str]:
    """The printers the system knows."""
    ensure_gui_app()
    return [p.printerName() for p in QPrinterInfo.availablePrinters()]


def print_pages(printer: str, paint: Paint, page: QPageSize, *, title: str = "") -> None:
    """Paint straight to `printer` ("default": the system's default printer)."""
    ensure_gui_app()
    info = QPrinterInfo.defaultPrinter() if printer == "default" else QPrinterInfo.printerInfo(printer)
    if info.isNull():
        known = ", ".join(printer_names()) or "none"
        raise KioskError(f"no printer {printer!r} (printers here: {known})")
    device = QPrinter(info, QPrinter.PrinterMode.HighResolution)
    device.setDocName(title or "face-kiosk")
    device.setFullPage(True)
    device.setPageLayout(QPageLayout(page, QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)))
    paint(device)
