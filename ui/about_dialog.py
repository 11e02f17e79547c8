"""About face-kiosk: version, the bundled models with their licences, the libraries used."""

from __future__ import annotations

import html

import PySide6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from kiosk import __version__
from kiosk.models import MODELS

LIBRARIES = (
    ("Qt for Python (PySide6)", "LGPL-3.0"),
    ("OpenCV", "Apache-2.0"),
    ("ONNX Runtime", "MIT"),
    ("NumPy", "BSD-3-Clause"),
    ("Pillow", "MIT-CMU (HPND)"),
    ("pydantic", "MIT"),
    ("LiteRT (ai-edge-litert)", "Apache-2.0"),
    ("SQLCipher / sqlcipher3", "BSD-3-Clause / zlib"),
    ("cryptography", "Apache-2.0 or BSD-3-Clause"),
    ("keyring", "MIT"),
    ("platformdirs", "MIT"),
    ("paho-mqtt", "EPL-2.0 or EDL-1.0"),
    ("apprise", "BSD-2-Clause"),
    ("prometheus-client", "Apache-2.0"),
    ("psycopg / psycopg-pool", "LGPL-3.0"),
    ("pgvector (Python)", "MIT"),
)


def models_html(in_use: str = "") -> str:
    """An HTML table of every bundled model: file, licence, origin, commercial use."""
    rows = []
    for spec in MODELS.values():
        used = " (in use)" if spec.key and spec.key in in_use.split("+") else ""
        commercial = "yes" if spec.commercial_use else "<b>no</b>"
        rows.append(
            f"<tr><td><b>{html.escape(spec.key)}</b>{used}<br><small>{html.escape(spec.filename)}</small></td>"
            f"<td>{html.escape(spec.licence)}</td><td>{commercial}</td>"
            f"<td><small>{html.escape(spec.source)}</small></td></tr>"
        )
    return (
        "<table border='1' cellspacing='0' cellpadding='4'>"
        "<tr><th>model</th><th>licence</th><th>commercial use</th><th>origin</th></tr>"
        + "".join(rows) + "</table>"
    )


class AboutDialog(QDialog):
    """Version, licences of the bundled models (what a deployer must check), and libraries."""

    def __init__(self, model_version: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About face-kiosk")
        self.resize(760, 520)
        title = QLabel(f"<h2>face-kiosk {__version__}</h2>"
                       "<p>Offline, mask-aware face recognition for a reception desk. "
                       "No model or data is downloaded at run time.</p>")
        title.setWordWrap(True)
        title.setTextFormat(Qt.TextFormat.RichText)
        libraries = "".join(f"<li>{html.escape(n)}: {html.escape(lic)}</li>" for n, lic in LIBRARIES)
        in_use = " + ".join(v.split("@")[0] for v in model_version.split("+")) if model_version else "not loaded yet"
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(
            f"<h3>Bundled models</h3><p>Embedder in use: {html.escape(in_use)}</p>"
            + models_html("+".join(v.split("@")[0] for v in model_version.split("+")))
            + "<p>The <b>mbf</b> weights (InsightFace) are for non-commercial research only; they are "
            "used only when the embedder is set to <i>sface+mbf</i>.</p>"
            + f"<h3>Libraries</h3><ul>{libraries}</ul>"
            + f"<p><small>PySide6 {html.escape(PySide6.__version__)}</small></p>"
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
