"""Widgets of the enrollment dialog: the guided camera view, the gate checklist, the sample
strip and the per-photo rows. They only draw what they are given."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from kiosk.capture.sources import Frame
from kiosk.enrollment.gates import Gate, Verdict
from kiosk.enrollment.photos import PhotoCheck
from kiosk.recognition.live import FrameResult
from ui.video_widget import VideoWidget

GOOD = QColor("#2ea043")
REFUSED = QColor("#d29922")
BAD = QColor("#cf222e")
STALE_S = 0.6  # a verdict older than this (vs the frame on screen) is not drawn

GATE_LABELS = {
    Gate.FACE: "face",
    Gate.ONE_FACE: "one person",
    Gate.IN_FRAME: "in frame",
    Gate.SIZE: "size",
    Gate.SHARPNESS: "sharp",
    Gate.EXPOSURE: "light",
    Gate.POSE: "pose",
    Gate.MASK: "no mask",
}


def rgb_pixmap(rgb: np.ndarray, size: int | None = None) -> QPixmap:
    """A QPixmap holding a copy of an RGB uint8 image, optionally scaled to `size` (square)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()
    pixmap = QPixmap.fromImage(image)
    if size is not None:
        pixmap = pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
    return pixmap


def clear_layout(layout: QLayout) -> None:
    """Take every item out of `layout`; its widgets are deleted (later, by Qt)."""
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widget.deleteLater()


class FramesOnly:
    """A FrameProvider that shows the worker's frames without the live window's overlays."""

    def __init__(self, worker) -> None:
        self.worker = worker
        self.shown: Frame | None = None

    def latest_frame(self) -> Frame | None:
        """The worker's newest frame (remembered: it is the one on screen)."""
        self.shown = self.worker.latest_frame()
        return self.shown

    def latest_result(self) -> FrameResult | None:
        """No live-window boxes or names: the capture view draws its own guide."""
        return None


@dataclass(frozen=True)
class CaptureOverlay:
    """What the capture view draws over the video."""

    instruction: str
    step_text: str  # "Sample 2 of 5"
    verdict: Verdict | None
    frame_size: tuple[int, int]
    timestamp: float  # capture time of the judged frame
    capturing: bool


class CaptureView(VideoWidget):
    """The live video with the capture guide: instruction on top, face box and the refusal reason."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overlay: CaptureOverlay | None = None
        self._frames: FramesOnly | None = None
        self._big = QFont(self.font())
        self._big.setPointSizeF(self._big.pointSizeF() * 1.5)
        self._big.setBold(True)
        self._reason_font = QFont(self.font())
        self._reason_font.setPointSizeF(self._reason_font.pointSizeF() * 1.2)
        self._reason_font.setBold(True)

    def show_worker(self, worker) -> None:
        """Show `worker`'s frames (None: stop)."""
        self._frames = FramesOnly(worker) if worker is not None else None
        self.set_provider(self._frames)

    def set_overlay(self, overlay: CaptureOverlay | None) -> None:
        """New guide to draw (repainted with the next frame, or now)."""
        self.overlay = overlay
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        overlay = self.overlay
        if overlay is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._draw_instruction(painter, overlay)
        shown = self._frames.shown if self._frames is not None else None
        fresh = shown is None or shown.timestamp - overlay.timestamp <= STALE_S
        verdict = overlay.verdict
        if overlay.capturing and verdict is not None and fresh:
            colour = GOOD if verdict.passed else REFUSED
            if verdict.face is not None:
                rect = self._face_rect(verdict.face.box, overlay.frame_size)
                painter.setPen(QPen(colour, 4))
                painter.drawRoundedRect(rect, 6, 6)
            text = "hold still…" if verdict.passed else verdict.reason
            self._draw_reason(painter, text, colour)
        painter.end()

    def _face_rect(self, box: np.ndarray, frame_size: tuple[int, int]) -> QRectF:
        fw, fh = frame_size
        scale = min(self.width() / max(1, fw), self.height() / max(1, fh))
        ox, oy = (self.width() - fw * scale) / 2, (self.height() - fh * scale) / 2
        x1, y1, x2, y2 = (float(v) for v in box)
        return QRectF(ox + x1 * scale, oy + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)

    def _draw_instruction(self, painter: QPainter, overlay: CaptureOverlay) -> None:
        painter.setFont(self._big)
        metrics = QFontMetrics(self._big)
        text = f"{overlay.step_text}:  {overlay.instruction}" if overlay.step_text else overlay.instruction
        text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, self.width() - 24)
        band = QRectF(0, 0, self.width(), metrics.height() + 20)
        painter.fillRect(band, QColor(0, 0, 0, 200))
        painter.setPen(QColor("#ffffff"))
        painter.drawText(band, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_reason(self, painter: QPainter, text: str, colour: QColor) -> None:
        painter.setFont(self._reason_font)
        metrics = QFontMetrics(self._reason_font)
        w = min(self.width() - 20, metrics.horizontalAdvance(text) + 32)
        h = metrics.height() + 14
        pill = QRectF((self.width() - w) / 2, self.height() - h - 14, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(pill, h / 2, h / 2)
        painter.setPen(QColor("#000000") if colour == REFUSED else QColor("#ffffff"))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)


class GateChecklist(QWidget):
    """One chip per gate: green when it passed on the last frame, red with the reason when not."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.chips: dict[Gate, QLabel] = {}
        for gate, label in GATE_LABELS.items():
            chip = QLabel(label, self)
            chip.setAlignment(Qt.AlignmentFlag.AlignCenter)
            chip.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            layout.addWidget(chip)
            self.chips[gate] = chip
        self.show_verdict(None)

    def show_verdict(self, verdict: Verdict | None) -> None:
        """Colour the chips after `verdict` (None: all grey)."""
        results = {r.gate: r for r in verdict.results} if verdict is not None else {}
        for gate, chip in self.chips.items():
            result = results.get(gate)
            if result is None:
                style, mark, tip = "background: #d0d7de; color: #57606a;", "", "not checked"
            elif result.passed:
                style, mark = "background: #dafbe1; color: #116329;", "✓ "
                tip = "passed" + (f" ({result.value:.2f})" if result.value is not None else "")
            else:
                style, mark = "background: #ffebe9; color: #a40e26; font-weight: bold;", "✗ "
                tip = result.reason + (f" ({result.value:.2f})" if result.value is not None else "")
            chip.setText(mark + GATE_LABELS[gate])
            chip.setStyleSheet(style + " border-radius: 8px; padding: 3px 6px;")
            chip.setToolTip(tip)

    def failed_gates(self) -> list[Gate]:
        """Gates shown as failed (for tests)."""
        return [g for g, chip in self.chips.items() if chip.text().startswith("✗")]


class SampleSlot(QFrame):
    """A sample thumbnail with its caption and one action (Retake, or Remove for a photo)."""

    action = Signal()

    THUMB = 92

    def __init__(self, caption: str, action_text: str, pixmap: QPixmap | None, note: str = "",
                 active: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        if active:
            self.setStyleSheet("SampleSlot { border: 2px solid #1f6feb; border-radius: 4px; }")
        self.image = QLabel(self)
        self.image.setFixedSize(QSize(self.THUMB, self.THUMB))
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if pixmap is not None:
            self.image.setPixmap(pixmap)
        else:
            self.image.setText("next" if active else "—")
            self.image.setStyleSheet("background: #eaeef2; color: #57606a;")
        self.caption = QLabel(caption, self)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        self.caption.setMaximumWidth(self.THUMB + 16)
        if note:
            self.setToolTip(note)
        self.button = QPushButton(action_text, self)
        self.button.setEnabled(pixmap is not None)
        self.button.clicked.connect(self.action.emit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(self.image, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.caption)
        layout.addWidget(self.button)


class PhotoRow(QFrame):
    """One imported photo: its face (or the faces to pick from), what was found, Remove."""

    picked = Signal(int)
    removed = Signal()

    THUMB = 56

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.check: PhotoCheck | None = None
        self.thumb = QLabel(self)
        self.thumb.setFixedSize(self.THUMB, self.THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name = QLabel(name, self)
        bold = QFont(self.name.font())
        bold.setBold(True)
        self.name.setFont(bold)
        self.status = QLabel("reading…", self)
        self.status.setWordWrap(True)
        # Without an expanding item the row splits its width evenly and squeezes the text.
        self.status.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.faces = QHBoxLayout()
        self.faces.setSpacing(4)
        self.remove = QToolButton(self)
        self.remove.setText("Remove")
        self.remove.clicked.connect(self.removed.emit)
        text = QVBoxLayout()
        text.setSpacing(1)
        text.addWidget(self.name)
        text.addWidget(self.status)
        text.addLayout(self.faces)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 1)
        layout.addWidget(self.remove, 0, Qt.AlignmentFlag.AlignTop)

    def show_check(self, check: PhotoCheck) -> None:
        """Show what the photo offers; several faces become buttons to pick from."""
        self.check = check
        clear_layout(self.faces)
        face = check.face
        if face is not None:
            self.thumb.setPixmap(rgb_pixmap(face.aligned, self.THUMB))
        else:
            self.thumb.clear()
            self.thumb.setText("✗" if check.error else "?")
        colour = "#a40e26" if check.error else ("#9a6700" if check.needs_pick or check.warnings else "#116329")
        self.status.setText(check.summary())
        self.status.setStyleSheet(f"color: {colour};")
        if check.needs_pick:
            for i, f in enumerate(check.faces):
                button = QToolButton(self)
                button.setIcon(rgb_pixmap(f.aligned, 48))
                button.setIconSize(QSize(48, 48))
                button.setToolTip(f"enroll face {i + 1}")
                button.setAccessibleName(f"pick face {i + 1}")
                button.clicked.connect(lambda checked=False, k=i: self.picked.emit(k))
                self.faces.addWidget(button)
            self.faces.addStretch(1)

    def show_error(self, message: str) -> None:
        """The check itself failed (models not loaded, ...)."""
        self.status.setText(message)
        self.status.setStyleSheet("color: #a40e26;")
        self.thumb.setText("✗")

