"""How the kiosk's screens look (ui.kiosk_mode.window): type that scales with the screen, labels
in the kiosk's colours, page colours by style sheet, the logo, and the round greeting photo."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QWidget

from ui.kiosk_mode.camera import qimage_from_rgb

log = logging.getLogger("ui.kiosk_mode.window")  # the window's messages, as before


def kiosk_font(px: int, bold: bool = False) -> QFont:
    """A font `px` pixels high (at least 12)."""
    font = QFont()
    font.setPixelSize(max(12, int(px)))
    font.setBold(bold)
    return font


def kiosk_label(text: str = "", px: int = 40, bold: bool = False) -> QLabel:
    """A centred, wrapping label in the kiosk's colours."""
    label = QLabel(text)
    # Only the kiosk's own labels take its colours; the PIN pad (a child dialog) keeps its own.
    label.setProperty("kiosk", "true")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setFont(kiosk_font(px, bold))
    return label


def load_logo(path: str | None) -> QPixmap | None:
    """The configured logo, or None (none configured, or unreadable: logged)."""
    if not path:
        return None
    pixmap = QPixmap(path)
    if pixmap.isNull():
        log.warning("kiosk logo %s cannot be read; showing none", path)
        return None
    return pixmap


def set_page_colours(page: QWidget, bg: QColor, fg: QColor) -> None:
    """Give a page (or a label) its background and text colours."""
    # Style sheets, not palettes: the window's own sheet would override a palette.
    page.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
    name = page.objectName()
    if isinstance(page, QLabel):
        page.setStyleSheet(f"QLabel#{name} {{ background: {bg.name()}; color: {fg.name()}; }}")
    else:
        page.setStyleSheet(f"#{name} {{ background: {bg.name()}; }}"
                           f" QLabel[kiosk=\"true\"] {{ color: {fg.name()}; background: transparent; }}")


def round_photo(rgb: np.ndarray, size: int) -> QPixmap:
    """The greeting photo: `rgb` cropped to a `size` px circle with a white ring."""
    src = QPixmap.fromImage(qimage_from_rgb(rgb)).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
        Qt.TransformationMode.SmoothTransformation)
    round_ = QPixmap(size, size)
    round_.fill(Qt.GlobalColor.transparent)
    painter = QPainter(round_)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    path = QPainterPath()
    path.addEllipse(QRectF(0, 0, size, size))
    painter.setClipPath(path)
    painter.drawPixmap(0, 0, src)
    painter.setClipping(False)
    ring = max(4, size // 40)
    painter.setPen(QPen(QColor("#ffffff"), ring))
    inset = ring / 2 + 1  # the whole ring inside the pixmap, not clipped flat at its edges
    painter.drawEllipse(QRectF(inset, inset, size - 2 * inset, size - 2 * inset))
    painter.end()
    return round_
