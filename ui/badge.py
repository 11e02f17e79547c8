"""The visitor badge: name, company, host, date, photo and "VISITOR", on a label printer or as a
PDF (`badges` in the config: size presets for common label printers, kiosk.config.LABEL_SIZES).

The badge is for the site's staff to read, so it is in the kiosk's own language, not the
visitor's pick. `BadgePrinter(config, gallery)` is what the kiosk calls after a sign-in.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPagedPaintDevice, QPainter

from kiosk.config import LABEL_SIZES, Config, default_data_dir
from kiosk.gallery.api import GalleryStore
from kiosk.i18n import N_, translator
from kiosk.security.private_files import ensure_private_dir
from kiosk.signin.flow import DeskState
from ui.documents import page_mm, print_pages, write_pdf

log = logging.getLogger(__name__)

VISITOR = N_("VISITOR")  # i18n: the large word across the top of a visitor badge; capitals
HOST = N_("Host: {host}")  # i18n: on the badge, {host} is the host's name


@dataclass(frozen=True)
class BadgeData:
    """What a badge shows."""

    name: str
    company: str = ""
    host: str = ""
    day: dt.date | None = None
    photo: np.ndarray | None = None  # RGB
    language: str = "en"


def _fitted(painter: QPainter, text: str, rect: QRectF, max_px: float, bold: bool) -> None:
    """Draw `text` in `rect` in the largest font up to `max_px` that fits on one line."""
    font = QFont()
    font.setBold(bold)
    px = max_px
    while px > 6:
        font.setPixelSize(int(px))
        if QFontMetricsF(font).horizontalAdvance(text) <= rect.width():
            break
        px *= 0.92
    painter.setFont(font)
    painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)


def paint_badge(device: QPagedPaintDevice, badge: BadgeData, accent: str = "#1f6feb") -> None:
    """One badge filling the page of `device`."""
    t = translator(badge.language)
    painter = QPainter(device)
    try:
        w, h = float(device.width()), float(device.height())
        pad = h * 0.05
        band = h * 0.24
        painter.fillRect(QRectF(0, 0, w, band), QColor(accent))
        painter.setPen(QColor("#ffffff"))
        word = t(VISITOR)
        _fitted(painter, word, QRectF(pad, 0, w - 2 * pad, band), band * 0.72, True)
        painter.setPen(QColor("#000000"))
        left = pad
        if badge.photo is not None:
            side = h - band - 2 * pad
            rgb = np.ascontiguousarray(badge.photo[..., :3])
            image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888).copy()
            painter.drawImage(QRectF(pad, band + pad, side, side), image)
            left = pad * 2 + side
        width = w - left - pad
        rows = h - band - 2 * pad
        top = band + pad
        _fitted(painter, badge.name, QRectF(left, top, width, rows * 0.34), rows * 0.26, True)
        lines = [badge.company, t(HOST, host=badge.host) if badge.host else "",
                 badge.day.isoformat() if badge.day else ""]
        y = top + rows * 0.36
        for line in (x for x in lines if x):
            _fitted(painter, line, QRectF(left, y, width, rows * 0.2), rows * 0.14, False)
            y += rows * 0.21
    finally:
        painter.end()


class BadgePrinter:
    """Prints (or writes as a PDF) the badge of a visitor who just signed in."""

    def __init__(self, config: Config, gallery: GalleryStore, *, today=dt.date.today) -> None:
        self.config = config
        self.gallery = gallery
        self.today = today
        self.last_pdf: Path | None = None

    def data_for(self, state: DeskState) -> BadgeData:
        """The badge of a finished sign-in (the photo only when they gave one)."""
        photo = None
        if self.config.badges.show_photo and state.face_consent and state.person_id is not None:
            try:
                photo = self.gallery.thumbnail(state.person_id)
            except Exception:  # a damaged sample must not stop the badge
                log.exception("no photo for the badge of person %s", state.person_id)
        return BadgeData(state.name, state.company, state.host.name if state.host else "", self.today(), photo,
                         self.config.kiosk.language)

    def __call__(self, state: DeskState) -> Path | None:
        """Print the badge; the PDF's path when it went to a file."""
        badge = self.data_for(state)
        cfg = self.config.badges
        width, height = LABEL_SIZES[cfg.size]
        page = page_mm(width, height)
        accent = self.config.kiosk.accent_colour
        if cfg.printer != "pdf":
            print_pages(cfg.printer, lambda d: paint_badge(d, badge, accent), page, title="visitor badge")
            return None
        folder = ensure_private_dir(Path(cfg.folder) if cfg.folder else default_data_dir() / "badges")
        # No name in the file name: a folder listing must not be a visitor list.
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = folder / f"badge-{stamp}-{state.visit_id or state.person_id}.pdf"
        self.last_pdf = write_pdf(path, lambda d: paint_badge(d, badge, accent), page, title="visitor badge")
        log.info("visitor badge written to %s", path)
        return path
