"""The receptionist view's "Evacuation list" button: who is inside now (staff and visitors, with
host and arrival time), printed at once or saved as a PDF (ui.onsite_pdf)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QToolButton, QWidget

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.frontdesk import FrontDesk, OnSiteReport
from kiosk.gallery.api import GalleryStore
from kiosk.security.sqlcipher import DB_ERRORS
from ui.onsite_pdf import print_onsite, write_onsite_pdf

log = logging.getLogger(__name__)


class EvacuationButton(QToolButton):
    """"Evacuation list" with Print and Save as PDF."""

    def __init__(self, gallery: GalleryStore, config: Config | None, parent: QWidget | None = None, *,
                 ask_path: Callable[[str], str] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("evacuationButton")
        self.setText("Evacuation list")
        self.setToolTip("Everyone inside now (staff and visitors): print it, or save it as a PDF")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.desk = FrontDesk(gallery, config or Config())
        self._ask_path = ask_path or self._ask
        menu = QMenu(self)
        self.print_action = menu.addAction("Print", self.print_list)
        self.pdf_action = menu.addAction("Save as PDF…", self.save_pdf)
        self.setMenu(menu)

    def report(self) -> OnSiteReport:
        """Who is inside now."""
        return self.desk.on_site()

    def _ask(self, default: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, "Evacuation list", default, "PDF (*.pdf)")
        return path

    def save_pdf(self) -> str:
        """Ask where, write the PDF; the path ("" when cancelled or failed)."""
        path = self._ask_path(f"on-site-{dt.datetime.now():%Y-%m-%d-%H%M}.pdf")
        if not path:
            return ""
        try:
            from pathlib import Path

            write_onsite_pdf(self.report(), Path(path))
        except (KioskError, OSError) + DB_ERRORS as exc:
            QMessageBox.warning(self, "Evacuation list", f"Could not write {path}: {exc}")
            return ""
        return path

    def print_list(self) -> bool:
        """Print on the default printer; False (and a message) when there is none."""
        try:
            print_onsite(self.report())
        except (KioskError, OSError) + DB_ERRORS as exc:
            QMessageBox.warning(self, "Evacuation list", f"Could not print: {exc}. Save it as a PDF instead.")
            return False
        return True
