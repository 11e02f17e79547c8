"""The export passphrase dialog of the gallery manager (ui.gallery_manager): the passphrase
twice, or, ticked and confirmed, no encryption."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from kiosk.errors import KioskError, as_sentence
from kiosk.security.keys import MIN_PASSPHRASE_CHARS, validate_new_passphrase


class ExportSecretDialog(QDialog):
    """Asks for an export's passphrase, twice; or, ticked and confirmed, for no encryption.

    `secret()` after `exec()`: the passphrase, or None for an unencrypted zip.
    """

    def __init__(self, count: int, parent: QWidget | None = None,
                 confirm_plain: Callable[[], bool] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export people")
        self._confirm_plain = confirm_plain or self._ask_plain
        self.first = QLineEdit(self)
        self.second = QLineEdit(self)
        self.error = QLabel("", self)
        for edit in (self.first, self.second):
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.textChanged.connect(lambda _text: self.error.setText(""))
        self.plain = QCheckBox("Unencrypted (a plain zip: whoever gets the file sees the faces)", self)
        self.plain.toggled.connect(self._on_plain)
        self.error.setStyleSheet("color: #c62828")
        form = QFormLayout()
        form.addRow("Passphrase", self.first)
        form.addRow("The same again", self.second)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"The export of {count} {'person' if count == 1 else 'people'} is encrypted with "
                                f"this passphrase (at least {MIN_PASSPHRASE_CHARS} characters). Without it "
                                "nobody can read or import it.", self))
        layout.addLayout(form)
        layout.addWidget(self.plain)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _on_plain(self, on: bool) -> None:
        self.first.setEnabled(not on)
        self.second.setEnabled(not on)

    def _ask_plain(self) -> bool:
        answer = QMessageBox.warning(
            self, "Unencrypted export",
            "Write the faces, templates and details unencrypted? Anyone who gets the file can read them.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def accept(self) -> None:  # noqa: D102 - QDialog override: validate first
        if self.plain.isChecked():
            if self._confirm_plain():
                super().accept()
            return
        if self.first.text() != self.second.text():
            self.error.setText("The two passphrases differ.")
            return
        try:
            validate_new_passphrase(self.first.text())
        except KioskError as exc:
            self.error.setText(f"{as_sentence(exc)}.")
            return
        super().accept()

    def secret(self) -> str | None:
        """The passphrase, or None when an unencrypted export was chosen and confirmed."""
        return None if self.plain.isChecked() else self.first.text()
