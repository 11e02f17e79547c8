"""Shown instead of the video when no camera could be opened: say so, and offer other sources."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from kiosk.capture.reader import CameraStatus

#: Device indices offered in the picker (most PCs have 0, a second webcam is 1).
DEVICE_CHOICES = tuple(range(5))


class NoCameraPanel(QWidget):
    """A clear "no camera" message with buttons for a file, a folder, a stream or another device.

    The reader keeps retrying in the background: plugging the camera in brings the video back.
    """

    open_file_requested = Signal()
    open_folder_requested = Signal()
    open_stream_requested = Signal()
    device_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noCameraPanel")
        title = QLabel("No camera")
        title.setObjectName("noCameraTitle")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 2)
        font.setBold(True)
        title.setFont(font)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel("Plug a camera in (it is picked up automatically), or open another source:")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.file_button = QPushButton("Open video file…")
        self.folder_button = QPushButton("Open image folder…")
        self.stream_button = QPushButton("Open stream URL…")
        self.file_button.clicked.connect(self.open_file_requested)
        self.folder_button.clicked.connect(self.open_folder_requested)
        self.stream_button.clicked.connect(self.open_stream_requested)
        self.device_combo = QComboBox()
        for index in DEVICE_CHOICES:
            self.device_combo.addItem(f"Camera {index}", index)
        self.device_button = QPushButton("Use this camera")
        self.device_button.clicked.connect(lambda: self.device_requested.emit(int(self.device_combo.currentData())))

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for w in (self.file_button, self.folder_button, self.stream_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        device = QHBoxLayout()
        device.addStretch(1)
        device.addWidget(self.device_combo)
        device.addWidget(self.device_button)
        device.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addWidget(self.message)
        layout.addSpacing(12)
        layout.addWidget(hint)
        layout.addLayout(buttons)
        layout.addLayout(device)
        layout.addStretch(1)

    def set_status(self, status: CameraStatus) -> None:
        """Show why there is no picture and when the next try is."""
        retry = f" Trying again in {status.retry_in_s:g} s." if status.retry_in_s else ""
        self.message.setText(f"{status.description}: {status.message}.{retry}")
