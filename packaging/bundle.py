"""What goes into the packaged app, as plain Python the spec and the tests both read.

face-kiosk.spec (run by PyInstaller) and tests/test_packaging.py load this file by path, so
the test checks the very lists the build uses. Nothing here imports PyInstaller.

Everything is found by walking the source tree, so a new ui/kiosk module or a new file
under resources/ is bundled without editing the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    "scipy", "sklearn", "onnx", "pandas", "torch", "tensorflow", "jax", "matplotlib",
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

# Qt translations: keep only qtbase (standard dialog buttons) for the languages the app ships.
QT_TRANSLATIONS_KEEP = ("qtbase_",)


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


def keep_collected(dest: str) -> bool:
    """False for collected files the app never opens (see DROP_PREFIXES and translations)."""
    dest = dest.replace("\\", "/")
    if dest.startswith(DROP_PREFIXES):
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


def prune_vendored_libs(entries: Iterable[tuple], needs: Callable[[str], set[str]]) -> list[tuple]:
    """Drop vendored libraries (`*.libs/`) that no other kept binary links to.

    `entries` are PyInstaller TOC tuples (dest, src, typecode); `needs(src)` gives the library
    names a binary links to: a library only a dropped file used goes with it.
    """
    entries = list(entries)
    vendored = {e[0].replace("\\", "/").rsplit("/", 1)[-1]: e for e in entries if is_vendored_lib(e[0])}
    keep: set[str] = set()
    todo = [e for e in entries if not is_vendored_lib(e[0])]
    while todo:
        for name in needs(todo.pop()[1]):
            if name in vendored and name not in keep:
                keep.add(name)
                todo.append(vendored[name])
    return [e for e in entries if not is_vendored_lib(e[0]) or e[0].replace("\\", "/").rsplit("/", 1)[-1] in keep]
