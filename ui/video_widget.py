"""The live video with its overlays, painted at display rate.

A timer pulls the newest frame and the newest result from a provider (the worker) and
repaints only when either changed; the worker never pushes pixels at the GUI. Boxes are
coloured by state, with the voted name and score, a mask badge and quality hints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from kiosk.capture.reader import CameraState, CameraStatus
from kiosk.capture.sources import Frame
from kiosk.recognition.live import FrameResult, RateMeter, TrackedFace
from kiosk.vision.types import RejectedFace

KNOWN = QColor("#2ea043")
UNKNOWN = QColor("#f85149")
MASKED = QColor("#d29922")  # masked and not (yet) named: the uncertain case
PENDING = QColor("#b0b7c0")
REJECTED_HINT = "turn to the camera"  # a face the landmarks could not align (kiosk.vision.pipeline)
MASK_BADGE = QColor("#1f6feb")
HINT = QColor("#ffd33d")
ATTACK = QColor("#a371f7")  # the liveness check refused the face: a photo or a screen
# Results older than this (relative to the frame on screen) are not drawn: boxes that
# trail a person who already left are worse than none.
STALE_RESULT_S = 0.6
MODELS_LOADING = "Loading the recognition models…"


class FrameProvider(Protocol):
    """Where the widget pulls from (ui.worker.LiveWorker, or a test double)."""

    def latest_frame(self) -> Frame | None:
        """The newest captured frame."""
        ...

    def latest_result(self) -> FrameResult | None:
        """The newest analysis result."""
        ...


@dataclass(frozen=True)
class PaintInfo:
    """What one paint showed (for the benchmark and tests)."""

    painted_at: float  # time.monotonic()
    frame_id: int
    frame_timestamp: float
    result_frame_id: int | None
    names: tuple[str, ...]  # names on screen
    boxes: int  # boxes on screen


def box_colour(face: TrackedFace) -> QColor:
    """Green for a known person, red for unknown, amber for masked-and-unnamed, grey while voting;
    purple for a face the liveness check refused."""
    if face.liveness.attack:
        return ATTACK
    if face.identity.known:
        return KNOWN
    if face.masked:
        return MASKED
    return UNKNOWN if face.identity.settled else PENDING


def box_label(face: TrackedFace) -> str:
    """The text above a box (a refused face: "refused: flat like a photo", then the name its
    picture matched: this is the staff's window)."""
    ident = face.identity
    if face.liveness.attack:
        return f"refused: {face.liveness.reason.value}" + (f" ({ident.name})" if ident.known else "")
    if ident.known:
        return f"{ident.name} {ident.score:.2f}"
    if ident.settled:
        return "Unknown"
    return "…"


def frame_to_qimage(frame: Frame) -> QImage:
    """A QImage that owns its pixels (the numpy buffer may go away), in Qt's native 32-bit format.

    The conversion is the copy; scaling RGB32 smoothly took 2 ms per paint against 7 ms for RGB888
    (640x480 -> 960x540 here), which is GUI-thread time.
    """
    rgb = frame.rgb
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).convertToFormat(
        QImage.Format.Format_RGB32)


class VideoWidget(QWidget):
    """Paints the provider's newest frame and result; looks for a new one `poll_hz` times a second.

    Polling at the monitor's rate (not the camera's) keeps a 30 fps source from beating against
    a 30 Hz timer and skipping frames; a poll without a new frame or result costs nothing.
    """

    frame_painted = Signal(object)  # PaintInfo

    def __init__(self, parent: QWidget | None = None, poll_hz: int = 60) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._provider: FrameProvider | None = None
        self._frame: Frame | None = None
        self._image: QImage | None = None
        self._result: FrameResult | None = None
        self._status: CameraStatus | None = None
        self._models_loading = False
        self._painted_frame_id: int | None = None
        self.show_hints = True
        self._display = RateMeter()
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(9.0, self._font.pointSizeF()))
        self._font.setBold(True)
        self._small = QFont(self.font())
        self._small.setPointSizeF(max(8.0, self._font.pointSizeF() - 1))
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(max(1, int(1000 / poll_hz)))
        self._timer.timeout.connect(self._pull)

    # -- API ----------------------------------------------------------------------------

    def set_provider(self, provider: FrameProvider | None) -> None:
        """Start pulling from `provider` (None stops the timer)."""
        self._provider = provider
        if provider is None:
            self._timer.stop()
        else:
            self._timer.start()

    def set_camera_status(self, status: CameraStatus) -> None:
        """Show a banner while the camera connects, is lost or has ended."""
        self._status = status
        self.update()

    def set_models_loading(self, loading: bool) -> None:
        """Show "loading the recognition models" over the video until they are ready (the window
        and the camera come first, the models load behind them)."""
        self._models_loading = loading
        self.update()

    def display_fps(self) -> float:
        """New frames painted per second (over the last 2 s)."""
        return self._display.rate()

    @property
    def frames_painted(self) -> int:
        """New frames painted since the start."""
        return self._display.total

    @property
    def current_result(self) -> FrameResult | None:
        """The result whose overlays are on screen."""
        return self._result

    # -- painting -------------------------------------------------------------------------

    def _pull(self) -> None:
        provider = self._provider
        if provider is None:
            return
        frame, result = provider.latest_frame(), provider.latest_result()
        if frame is self._frame and result is self._result:
            return
        if frame is not self._frame and frame is not None:
            self._image = frame_to_qimage(frame)
        self._frame, self._result = frame, result
        self.update()

    def _image_rect(self) -> QRectF:
        assert self._image is not None
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        if self._image is None or self._frame is None:
            self._draw_banner(painter, self.status_text() or "waiting for the camera…", centre=True)
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        target = self._image_rect()
        painter.drawImage(target, self._image)
        names: list[str] = []
        boxes = 0
        result = self._result
        if result is not None and self._frame.timestamp - result.timestamp <= STALE_RESULT_S:
            scale = target.width() / max(1, result.frame_size[0])
            for face in result.faces:
                self._draw_face(painter, face, target, scale)
                boxes += 1
                if face.identity.known and face.identity.name:
                    names.append(face.identity.name)
            for rejected in result.rejected:
                self._draw_rejected(painter, rejected, target, scale)
        text = self.status_text()
        if text:
            self._draw_banner(painter, text, centre=False)
        painter.end()
        if self._frame.frame_id != self._painted_frame_id:
            self._painted_frame_id = self._frame.frame_id
            self._display.tick()
        self.frame_painted.emit(PaintInfo(
            time.monotonic(), self._frame.frame_id, self._frame.timestamp,
            result.frame_id if result is not None else None, tuple(names), boxes,
        ))

    def _draw_face(self, painter: QPainter, face: TrackedFace, target: QRectF, scale: float) -> None:
        x1, y1, x2, y2 = (float(v) for v in face.box)
        rect = QRectF(target.x() + x1 * scale, target.y() + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
        colour = box_colour(face)
        painter.setPen(QPen(colour, 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 4, 4)
        # Name tag above the box (below it when the box touches the top edge).
        painter.setFont(self._font)
        metrics = QFontMetrics(self._font)
        label = box_label(face)
        tag_h = metrics.height() + 6
        tag_w = metrics.horizontalAdvance(label) + 12
        tag_y = rect.top() - tag_h if rect.top() - tag_h >= target.top() else rect.bottom()
        tag = QRectF(rect.left() - 1.5, tag_y, tag_w, tag_h)
        painter.fillRect(tag, colour)
        painter.setPen(Qt.GlobalColor.black if colour in (PENDING, MASKED) else Qt.GlobalColor.white)
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)
        if face.masked:
            badge_text = "mask"
            badge = QRectF(tag.right() + 4, tag.top(), metrics.horizontalAdvance(badge_text) + 12, tag_h)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(MASK_BADGE)
            painter.drawRoundedRect(badge, tag_h / 2, tag_h / 2)
            painter.setPen(Qt.GlobalColor.white)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, badge_text)
            painter.setBrush(Qt.BrushStyle.NoBrush)
        if self.show_hints and face.hints:
            painter.setFont(self._small)
            small = QFontMetrics(self._small)
            y = rect.bottom() + 3 if tag_y < rect.bottom() else tag.bottom() + 3
            for hint in face.hints:
                text = hint.value
                pill = QRectF(rect.left(), y, small.horizontalAdvance(text) + 10, small.height() + 4)
                painter.fillRect(pill, QColor(0, 0, 0, 170))
                painter.setPen(HINT)
                painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
                y += pill.height() + 2

    def _draw_rejected(self, painter: QPainter, face: RejectedFace, target: QRectF, scale: float) -> None:
        """A face that could not be aligned: a dashed grey box and the hint, never a name."""
        x1, y1, x2, y2 = (float(v) for v in face.box)
        rect = QRectF(target.x() + x1 * scale, target.y() + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
        painter.setPen(QPen(PENDING, 2, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 4, 4)
        if self.show_hints:
            painter.setFont(self._small)
            small = QFontMetrics(self._small)
            text = REJECTED_HINT
            pill = QRectF(rect.left(), rect.bottom() + 3, small.horizontalAdvance(text) + 10, small.height() + 4)
            painter.fillRect(pill, QColor(0, 0, 0, 170))
            painter.setPen(HINT)
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)

    def status_text(self) -> str:
        """The banner shown over the video ('' while the camera is live)."""
        status = self._status
        if status is None or status.state in (CameraState.LIVE, CameraState.STOPPED):
            return MODELS_LOADING if self._models_loading else ""
        if status.state is CameraState.LOST:
            retry = f" - reconnecting in {status.retry_in_s:g} s (attempt {status.attempt})" if status.retry_in_s else ""
            return f"Camera lost: {status.message}{retry}"
        if status.state is CameraState.NO_CAMERA:
            return f"No camera: {status.message}"
        if status.state is CameraState.ENDED:
            return f"{status.description}: end of the video"
        return f"Connecting to {status.description}…"

    def _draw_banner(self, painter: QPainter, text: str, centre: bool) -> None:
        painter.setFont(self._font)
        metrics = QFontMetrics(self._font)
        h = metrics.height() + 16
        rect = QRectF(0, (self.height() - h) / 2 if centre else 0, self.width(), h)
        painter.fillRect(rect, QColor(0, 0, 0, 190))
        painter.setPen(QColor("#ffffff"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, metrics.elidedText(text, Qt.TextElideMode.ElideRight, self.width() - 20))
