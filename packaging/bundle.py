"""What goes into the packaged app, as plain Python the spec and the tests both read.

face-kiosk.spec (run by PyInstaller) and tests/test_packaging.py load this file by path, so
the test checks the very lists the build uses. Nothing here imports PyInstaller.

Everything is found by walking the source tree, so a new ui/kiosk module or a new file
under resources/ is bundled without editing the spec.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "face-kiosk"
APP_TITLE = "Face Kiosk"
BUNDLE_ID = "org.facekiosk.FaceKiosk"
PACKAGES = ("kiosk", "ui")
# macOS asks the user for camera access with this text (Info.plist NSCameraUsageDescription).
CAMERA_USAGE = ("Face Kiosk uses the camera to recognise enrolled visitors at the reception desk. "
                "Images are processed on this computer and never sent anywhere.")

# Modules the app never uses but that dependencies drag in (measured: see packaging/README.md).
EXCLUDES = [
    "tkinter", "_tkinter",
    "IPython", "jupyter_client", "notebook",
    "pytest", "_pytest", "pytestqt", "ruff", "importlinter", "grimp",
    "PyInstaller", "setuptools", "pip",
    # onnxruntime: a test dependency only (every ONNX model runs in OpenCV).
    "scipy", "sklearn", "onnx", "onnxruntime", "pandas", "torch", "tensorflow", "jax", "matplotlib",
    # PySide6 modules face-kiosk does not use (QtCore, QtGui and QtWidgets are what it needs, and
    # QtPrintSupport for the visitor badge and the evacuation list).
    "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets",
    "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets", "PySide6.QtSql", "PySide6.QtTest",
    "PySide6.QtDBus", "PySide6.QtSvg", "PySide6.QtSvgWidgets",
    "PySide6.QtXml", "PySide6.QtConcurrent", "PySide6.QtDesigner", "PySide6.QtHelp",
    "PySide6.QtUiTools", "PySide6.QtMultimedia", "PySide6.QtMultimediaWidgets",
    "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.Qt3DCore",
    "PySide6.QtCharts", "PySide6.QtDataVisualization", "PySide6.QtPdf", "PySide6.QtBluetooth",
    "PySide6.QtPositioning", "PySide6.QtSerialPort", "PySide6.QtStateMachine",
    # Never used; kept out even if a dependency's hook would pull them in.
    "superqt", "pygments", "cmap", "pint", "qtawesome",
    # pydantic's mypy plugin (collected with pydantic's submodules) drags in mypy and its parser
    # (4 MB); PyYAML (apprise imports it) runs without its C accelerator (2.7 MB).
    "pydantic.mypy", "pydantic.v1.mypy", "mypy", "mypy_extensions", "librt", "ast_serialize",
    "yaml.cyaml", "yaml._yaml", "_yaml",
]

# Files collected by dependency hooks that face-kiosk never opens (destination prefixes).
DROP_PREFIXES = (
    # Haar cascades: detection uses BlazeFace and YuNet.
    "cv2/data/",
    # Qt plugins for what the app never does (issue 23). It draws widgets in software on X11
    # (xcb), Wayland, offscreen (self-test) or minimal, and prints (printsupport); it decodes
    # no image file through Qt (photos and frames come through OpenCV, the icon is a PNG,
    # which Qt reads without a plugin). Left out: the embedded-display platforms (EGLFS,
    # framebuffer, VNC, Vulkan display), evdev input, desktop themes (GTK 3, XDG portal: the
    # app keeps Qt's own style and dialogs), SVG icons, image format plugins and Wayland's
    # OpenGL buffer integrations (raster windows use shared memory).
    "PySide6/Qt/plugins/platforms/libqeglfs", "PySide6/Qt/plugins/platforms/libqlinuxfb",
    "PySide6/Qt/plugins/platforms/libqminimalegl", "PySide6/Qt/plugins/platforms/libqvkkhrdisplay",
    "PySide6/Qt/plugins/platforms/libqvnc", "PySide6/Qt/plugins/egldeviceintegrations/",
    "PySide6/Qt/plugins/generic/", "PySide6/Qt/plugins/platformthemes/", "PySide6/Qt/plugins/iconengines/",
    "PySide6/Qt/plugins/imageformats/", "PySide6/Qt/plugins/wayland-graphics-integration-client/",
)

# Models only a builder who asks for them gets (issue 23): the InsightFace weights behind the
# embedder "sface+mbf" are for non-commercial research use only (and 13 MB), so the packaged app
# leaves them out and says "the mbf model is not in this build" when someone picks that embedder.
# `FACE_KIOSK_OPT_IN=mbf packaging/build.sh` puts them in. The source tree keeps them either way.
OPT_IN_MODELS = {"mbf": "resources/models/w600k_mbf.onnx"}
OPT_IN_VARIABLE = "FACE_KIOSK_OPT_IN"

# Qt's own translations: none (issue 23, 5.8 MB). The app installs no QTranslator: the
# receptionist's side is English, and what a visitor reads is translated by the app's gettext
# catalogs (resources/i18n, docs/i18n.md), not by Qt.
QT_TRANSLATIONS_KEEP: tuple[str, ...] = ()


# Qt's ICU data (issue 23: 32 MB -> 10 MB, packaging/trim_icu.py, Linux). Dropped: the items
# Qt never asks ICU for (transliterators, code pages, character names, the spoof checker's
# confusables) and other languages' locale data (their names of languages, regions, currencies,
# units, time zones; Qt formats from its own CLDR tables). Kept: every collation (sorting names
# the desk's way), the break rules and dictionaries, the Unicode and time-zone data, and the
# locale data of English and the languages the app ships (resources/i18n/*.po).
ICU_DROP_TREES = ("translit/",)
ICU_DROP_SUFFIXES = (".cnv",)
ICU_DROP_NAMES = ("unames.icu", "confusables.cfu")
ICU_ALWAYS_KEEP = ("res_index.res", "pool.res", "root.res")  # each kept tree's index, key pool and root
_ICU_LOCALE = re.compile(r"([a-z]{2,3})(_[A-Za-z0-9]*)*\.res")


def app_languages(root: Path = ROOT) -> set[str]:
    """The languages the app speaks: English and one per resources/i18n/*.po."""
    return {"en"} | {p.stem.split("_")[0] for p in (root / "resources" / "i18n").glob("*.po")}


def icu_item_dropped(item: str, languages: Iterable[str] | None = None) -> bool:
    """True for an ICU data item (`coll/de.res`, `ibm-1047_P100-1995.cnv`) the app can do without."""
    name = item.rsplit("/", 1)[-1]
    if item.startswith(ICU_DROP_TREES) or name.endswith(ICU_DROP_SUFFIXES) or name in ICU_DROP_NAMES:
        return True
    if item.startswith("coll/") or name in ICU_ALWAYS_KEEP:
        return False
    locale = _ICU_LOCALE.fullmatch(name)
    return bool(locale) and locale.group(1) not in set(languages if languages is not None else app_languages())


def resource_files(root: Path = ROOT) -> list[Path]:
    """Every file under resources/ (models, images, icons, anything added later)."""
    base = root / "resources"
    return sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def resource_datas(root: Path = ROOT) -> list[tuple[str, str]]:
    """PyInstaller `datas` entries: each resource file -> its folder inside the bundle.

    The bundle keeps the relative layout, so kiosk.resources finds `resources/` under
    sys._MEIPASS exactly as it does next to the source tree.
    """
    return [(str(p), str(p.parent.relative_to(root).as_posix())) for p in resource_files(root)]


def app_modules(root: Path = ROOT) -> list[str]:
    """Every module of the app's own packages, from the source tree (imported lazily, so listed)."""
    modules = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules.append(".".join(parts))
    return modules


def left_out_models(environ: Mapping[str, str] = os.environ) -> set[str]:
    """Bundle paths of the opt-in models this build leaves out (all unless FACE_KIOSK_OPT_IN names them)."""
    wanted = {key.strip() for key in environ.get(OPT_IN_VARIABLE, "").split(",") if key.strip()}
    if unknown := wanted - set(OPT_IN_MODELS):
        raise ValueError(f"{OPT_IN_VARIABLE}: unknown {', '.join(sorted(unknown))}; "
                         f"opt-in models: {', '.join(OPT_IN_MODELS)}")
    return {path for key, path in OPT_IN_MODELS.items() if key not in wanted}


def keep_collected(dest: str, environ: Mapping[str, str] = os.environ) -> bool:
    """False for collected files the app never opens (see DROP_PREFIXES and translations) and
    for the opt-in models the builder did not ask for."""
    dest = dest.replace("\\", "/")
    if dest.startswith(DROP_PREFIXES) or dest in left_out_models(environ):
        return False
    if "/translations/" in dest and dest.endswith(".qm"):
        return Path(dest).name.startswith(QT_TRANSLATIONS_KEEP)
    return True


def version(root: Path = ROOT) -> str:
    """The app's version, read from kiosk/__init__.py (without importing the app)."""
    for line in (root / "kiosk" / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise ValueError("no __version__ in kiosk/__init__.py")


def is_vendored_lib(dest: str) -> bool:
    """True for a shared library a wheel vendors beside its package (auditwheel's `<dist>.libs/`),
    or one of PySide6's Qt libraries (Linux: `PySide6/Qt/lib/`): either is only needed when
    something kept links to it (a Qt library only a dropped plugin used goes with it)."""
    parts = dest.replace("\\", "/").split("/")
    return (len(parts) == 2 and parts[0].endswith(".libs")) or (len(parts) == 4 and parts[:3] == ["PySide6", "Qt", "lib"])


def _name(dest: str) -> str:
    return dest.replace("\\", "/").rsplit("/", 1)[-1]


def is_top_level_lib(dest: str) -> bool:
    """True for a system library PyInstaller put beside libpython (`libcairo.so.2`), not a Python
    extension module and not libpython itself (the launcher loads it by name)."""
    name = dest.replace("\\", "/")
    return ("/" not in name and ".so" in name and not name.startswith("libpython")
            and ".cpython-" not in name and ".abi3." not in name)


def prune_vendored_libs(entries: Iterable[tuple], needs: Callable[[str], set[str]],
                        dropped: Iterable[tuple] = ()) -> list[tuple]:
    """Drop vendored libraries (`*.libs/`, PySide6's Qt libraries) that no other kept binary links
    to, and the top-level system libraries only dropped files linked (GTK's cairo, pango...).

    `entries` are PyInstaller TOC tuples (dest, src, typecode); `dropped` the entries
    `keep_collected` removed; `needs(src)` gives the library names a binary links to: a library
    only a dropped file used goes with it. A top-level library no dropped file linked stays even
    if nothing links to it: PyInstaller may have collected it for a `ctypes` load.
    """
    entries = list(entries)
    top = {_name(e[0]): e for e in entries if is_top_level_lib(e[0])}
    # The top-level libraries the dropped files linked, directly or through each other.
    from_dropped: set[str] = set()
    walk = list(dropped)
    while walk:
        for name in needs(walk.pop()[1]):
            if name in top and name not in from_dropped:
                from_dropped.add(name)
                walk.append(top[name])

    def prunable(entry: tuple) -> bool:
        return is_vendored_lib(entry[0]) or _name(entry[0]) in from_dropped

    candidates = {_name(e[0]): e for e in entries if prunable(e)}
    keep: set[str] = set()
    todo = [e for e in entries if not prunable(e)]
    while todo:
        for name in needs(todo.pop()[1]):
            if name in candidates and name not in keep:
                keep.add(name)
                todo.append(candidates[name])
    return [e for e in entries if not prunable(e) or _name(e[0]) in keep]
