"""Settings: camera, models, thresholds and the liveness check, edited as the typed Config and
validated by it.

The dialog never saves anything half-valid: OK builds a new Config through pydantic, shows
the first error next to the buttons, and only closes when the whole config is valid.
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ValidationError
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from kiosk.config import (
    LIVENESS_MODES,
    THRESHOLD_MAX,
    THRESHOLD_MIN,
    Config,
    LivenessConfig,
    MatchConfig,
    VisionConfig,
)
from kiosk.models import MODELS, not_in_build_message


def _choices(model: type[BaseModel], field: str) -> tuple[str, ...]:
    """The allowed values of a Literal field, read from the config model itself."""
    return typing.get_args(model.model_fields[field].annotation)


class _OptionalThreshold(QWidget):
    """A threshold that is either automatic (None: the calibrated value) or a number."""

    def __init__(self, value: float | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.auto = QCheckBox("automatic")
        self.spin = QDoubleSpinBox()
        self.spin.setRange(THRESHOLD_MIN, THRESHOLD_MAX)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.01)
        self.spin.setValue(0.5 if value is None else value)
        self.auto.setChecked(value is None)
        self.spin.setEnabled(value is not None)
        self.auto.toggled.connect(lambda on: self.spin.setEnabled(not on))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.auto)
        layout.addWidget(self.spin, 1)

    def value(self) -> float | None:
        """None when automatic."""
        return None if self.auto.isChecked() else round(self.spin.value(), 4)


class SettingsDialog(QDialog):
    """Edit a copy of the config; `result_config()` is the validated new config after OK."""

    def __init__(self, config: Config, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._config = config
        self._result: Config | None = None

        # Camera
        self.source = QLineEdit(config.camera.source)
        self.source.setPlaceholderText("0 (first camera), a video file, an image folder or rtsp://…")
        self.width_spin = QSpinBox()
        self.width_spin.setRange(1, 10_000)
        self.width_spin.setValue(config.camera.width)
        self.height_spin = QSpinBox()
        self.height_spin.setRange(1, 10_000)
        self.height_spin.setValue(config.camera.height)
        camera = QGroupBox("Camera")
        form = QFormLayout(camera)
        form.addRow("Default source", self.source)
        form.addRow("Width", self.width_spin)
        form.addRow("Height", self.height_spin)

        # Models
        self.detector = QComboBox()
        self.detector.addItems(_choices(VisionConfig, "detector"))
        self.detector.setCurrentText(config.vision.detector)
        self.mediapipe_model = QComboBox()
        self.mediapipe_model.addItems(_choices(VisionConfig, "mediapipe_model"))
        self.mediapipe_model.setCurrentText(config.vision.mediapipe_model)
        self.embedder = QComboBox()
        self.embedder.addItems(_choices(VisionConfig, "embedder"))
        self.embedder.setCurrentText(config.vision.embedder)
        self.licence_note = QLabel("The mbf model's weights are for non-commercial research use only.")
        self.licence_note.setWordWrap(True)
        self.embedder.currentTextChanged.connect(self._update_licence_note)
        self.min_face = QSpinBox()
        self.min_face.setRange(0, 10_000)
        self.min_face.setValue(config.vision.min_face_px)
        self.min_face.setSuffix(" px")
        models = QGroupBox("Recognition models")
        form = QFormLayout(models)
        form.addRow("Detector", self.detector)
        form.addRow("MediaPipe model", self.mediapipe_model)
        form.addRow("Embedder", self.embedder)
        form.addRow("", self.licence_note)
        form.addRow("Smallest face", self.min_face)

        # Thresholds
        match = config.match
        self.target_fpir = QDoubleSpinBox()
        self.target_fpir.setRange(0.0, 1.0)
        self.target_fpir.setDecimals(4)
        self.target_fpir.setSingleStep(0.001)
        self.target_fpir.setValue(match.target_fpir)
        self.threshold_unmasked = _OptionalThreshold(match.threshold_unmasked)
        self.threshold_masked = _OptionalThreshold(match.threshold_masked)
        self.verify_threshold = _OptionalThreshold(match.verify_threshold)
        self.mask_threshold = QDoubleSpinBox()
        self.mask_threshold.setRange(0.0, 1.0)
        self.mask_threshold.setDecimals(3)
        self.mask_threshold.setSingleStep(0.05)
        self.mask_threshold.setSpecialValueText("classifier's own")  # 0 = None: the calibrated threshold
        self.mask_threshold.setValue(config.vision.mask_threshold or 0.0)
        thresholds = QGroupBox("Thresholds")
        form = QFormLayout(thresholds)
        form.addRow("Target false-positive rate (1:N)", self.target_fpir)
        form.addRow("Match threshold, no mask", self.threshold_unmasked)
        form.addRow("Match threshold, masked", self.threshold_masked)
        form.addRow("Verify threshold (1:1)", self.verify_threshold)
        form.addRow("Mask score threshold", self.mask_threshold)
        for name, field in (*MatchConfig.model_fields.items(), *VisionConfig.model_fields.items()):
            widget = {"target_fpir": self.target_fpir, "mask_threshold": self.mask_threshold}.get(name)
            if widget is not None and field.description:
                widget.setToolTip(field.description)

        # Liveness (presentation attacks: docs/liveness.md)
        self.liveness_mode = QComboBox()
        self.liveness_mode.addItems(LIVENESS_MODES)
        self.liveness_mode.setCurrentText(config.liveness.mode)
        self.liveness_mode.setToolTip(LivenessConfig.model_fields["mode"].description or "")
        self.liveness_note = QLabel("")
        self.liveness_note.setWordWrap(True)
        self.liveness_mode.currentTextChanged.connect(self._update_liveness_note)
        liveness = QGroupBox("Liveness (photos and screens held up to the camera)")
        form = QFormLayout(liveness)
        form.addRow("Check", self.liveness_mode)
        form.addRow("", self.liveness_note)

        self.error = QLabel("")
        self.error.setObjectName("settingsError")
        self.error.setStyleSheet("color: #f85149")
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(camera)
        layout.addWidget(models)
        layout.addWidget(thresholds)
        layout.addWidget(liveness)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self._update_licence_note(self.embedder.currentText())
        self._update_liveness_note(self.liveness_mode.currentText())

    def _update_licence_note(self, embedder: str) -> None:
        self.licence_note.setVisible("mbf" in embedder)

    def _update_liveness_note(self, mode: str) -> None:
        self.liveness_note.setText({
            "off": "No check: a printed photo of an enrolled person is greeted as them.",
            "passive": "Only faces that move like a head, blink, or that the passive model sees as live are "
                       "greeted; a photo or a screen gets the receptionist card.",
            "active": "As passive, and a visitor the check is unsure of is asked to turn their head a little.",
        }.get(mode, ""))

    def candidate(self) -> dict:
        """The config the widgets describe, as plain data (not validated yet)."""
        data = self._config.model_dump()
        data["camera"].update(source=self.source.text().strip(), width=self.width_spin.value(),
                              height=self.height_spin.value())
        data["vision"].update(detector=self.detector.currentText(), mediapipe_model=self.mediapipe_model.currentText(),
                              embedder=self.embedder.currentText(),
                              min_face_px=self.min_face.value(),
                              mask_threshold=round(self.mask_threshold.value(), 4) or None)
        data["match"].update(target_fpir=round(self.target_fpir.value(), 6),
                             threshold_unmasked=self.threshold_unmasked.value(),
                             threshold_masked=self.threshold_masked.value(),
                             verify_threshold=self.verify_threshold.value())
        data["liveness"].update(mode=self.liveness_mode.currentText())
        return data

    def validate(self) -> Config | None:
        """The validated config, or None with the first problem shown in the dialog."""
        try:
            config = Config.model_validate(self.candidate())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            self.error.setText(f"{where}: {first['msg']}")
            return None
        if not config.camera.source:
            self.error.setText("camera.source: give a camera number, a file, a folder or a URL")
            return None
        left_out = [key for key in config.vision.embedder.split("+") if not MODELS[key].in_this_build]
        if left_out:
            self.error.setText(f"vision.embedder: {not_in_build_message(left_out[0])}")
            return None
        self.error.setText("")
        return config

    def accept(self) -> None:  # noqa: D102 - validate before closing
        config = self.validate()
        if config is None:
            return
        self._result = config
        super().accept()

    def result_config(self) -> Config | None:
        """The new config after OK (None after Cancel)."""
        return self._result
