"""The kiosk's camera view: the live picture, mirrored, with an oval face guide."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QWidget

from ui.video_widget import frame_to_qimage

CAMERA_FPS = 15  # the kiosk's camera view; half the live window's rate leaves CPU to recognition


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    """A QImage owning a copy of an RGB array (the array may go away afterwards)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()


class KioskCamera(QWidget):
    """The live picture, mirrored like a looking glass, with an oval face guide. No names, no boxes."""

    def __init__(self, accent: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.accent = accent
        self.guide_colour = accent
        self._provider = None
        self._frame = None
        self._image: QImage | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / CAMERA_FPS))
        self._timer.timeout.connect(self._pull)

    def set_provider(self, provider) -> None:
        """Pull `provider.latest_frame()` while visible (None stops)."""
        self._provider = provider
        if provider is None:
            self._timer.stop()
            self._frame, self._image = None, None
        else:
            self._timer.start()

    def _pull(self) -> None:
        if self._provider is None or not self.isVisible():
            return
        frame = self._provider.latest_frame()
        if frame is not None and frame is not self._frame:
            self._frame = frame
            self._image = frame_to_qimage(frame).flipped(Qt.Orientation.Horizontal)
            self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if self._image is not None:
            iw, ih = self._image.width(), self._image.height()
            scale = min(self.width() / iw, self.height() / ih)
            w, h = iw * scale, ih * scale
            painter.drawImage(QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h), self._image)
        # The guide: an oval where a face at the right distance fits, the rest slightly dimmed.
        gh = self.height() * 0.62
        gw = gh * 0.75
        guide = QRectF((self.width() - gw) / 2, (self.height() - gh) / 2 - self.height() * 0.04, gw, gh)
        shade = QPainterPath()
        shade.addRect(QRectF(self.rect()))
        hole = QPainterPath()
        hole.addEllipse(guide)
        painter.fillPath(shade.subtracted(hole), QColor(0, 0, 0, 110))
        painter.setPen(QPen(self.guide_colour, max(4.0, self.height() / 120)))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(guide)
        painter.end()
