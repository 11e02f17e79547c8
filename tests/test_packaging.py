"""The packaged app's build inputs: every resource the app loads is bundled, nothing it imports is
excluded, the .desktop entry is valid and the Linux installer does what it says.

The full PyInstaller build is not run here (see packaging/README.md, "CI"); these checks read
the very lists the spec uses (packaging/bundle.py).
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from kiosk.models import MODELS

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "face-kiosk.spec"
DESKTOP = PACKAGING / "face-kiosk.desktop"


def _load_bundle():
    # By path: a `packaging` package would shadow the PyPI `packaging` library.
    spec = importlib.util.spec_from_file_location("face_kiosk_bundle", PACKAGING / "bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundle = _load_bundle()


def _bundled_paths() -> set[str]:
    """Destination paths (posix, relative to the bundle root) of every data file the spec adds."""
    paths = {f"{dest}/{Path(src).name}" for src, dest in bundle.resource_datas()}
    return {p for p in paths if bundle.keep_collected(p)}


def _app_sources() -> list[Path]:
    return [p for pkg in bundle.PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")) if "__pycache__" not in p.parts]


def _literal_resource_paths(path: Path) -> list[tuple[str, ...]]:
    """Arguments of every `resource_path(...)` call in a module whose parts are known statically."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {}
    for node in tree.body:  # module-level tuples such as PHOTO = ("images", "astronaut.png")
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                constants[node.targets[0].id] = value
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
                == "resource_path"):
            continue
        parts: list[str] = []
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                parts.append(arg.value)
            elif isinstance(arg, ast.Starred) and isinstance(arg.value, ast.Name) and arg.value.id in constants:
                parts.extend(constants[arg.value.id])
            else:
                parts = []  # computed (e.g. a model's filename): covered by the MODELS test
                break
        if parts:
            found.append(tuple(parts))
    return found


# -- the spec's contents -------------------------------------------------------------------


def test_spec_takes_its_lists_from_bundle_py():
    text = SPEC.read_text(encoding="utf-8")
    for use in ("bundle.resource_datas()", "bundle.app_modules()", "bundle.EXCLUDES",
                "bundle.keep_collected(", "bundle.prune_vendored_libs(",
                '"NSCameraUsageDescription": bundle.CAMERA_USAGE'):
        assert use in text, f"face-kiosk.spec no longer uses {use}"
    assert "camera" in bundle.CAMERA_USAGE.lower()


def test_every_model_file_is_bundled_but_the_opt_in_ones():
    bundled = _bundled_paths()
    for spec in MODELS.values():
        path = f"resources/models/{spec.filename}"
        if spec.key in bundle.OPT_IN_MODELS:
            assert bundle.OPT_IN_MODELS[spec.key] == path
            assert path not in bundled, f"{spec.filename} is opt-in, left out unless asked for"
        else:
            assert path in bundled, f"{spec.filename} would be missing from the app"


def test_the_opt_in_models_are_the_non_commercial_ones_and_go_in_when_asked_for():
    """A licence-clean build by default (issue 23): the InsightFace weights only on request."""
    assert set(bundle.OPT_IN_MODELS) == {key for key, spec in MODELS.items() if not spec.commercial_use}
    mbf = bundle.OPT_IN_MODELS["mbf"]
    assert not bundle.keep_collected(mbf, environ={})
    assert bundle.keep_collected(mbf, environ={bundle.OPT_IN_VARIABLE: "mbf"})
    assert bundle.keep_collected("resources/models/sface_2021dec_fp32_folded.onnx", environ={})
    with pytest.raises(ValueError, match="unknown sfaec"):
        bundle.left_out_models({bundle.OPT_IN_VARIABLE: "sfaec"})


def test_every_resource_the_code_names_is_bundled():
    bundled = _bundled_paths()
    referenced = {(path.relative_to(ROOT), parts) for path in _app_sources() for parts in _literal_resource_paths(path)}
    assert referenced, "no resource_path() call found: the scan is broken"
    for source, parts in referenced:
        target = "resources/" + "/".join(parts)
        assert (ROOT / target).exists(), f"{source} loads {target}, which does not exist"
        if (ROOT / target).is_file():
            assert target in bundled, f"{source} loads {target}, which the spec does not bundle"
        else:  # a folder: everything in it
            assert all(f"{p.relative_to(ROOT).as_posix()}" in bundled for p in (ROOT / target).rglob("*")
                       if p.is_file())


def test_every_file_under_resources_is_bundled():
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "resources").rglob("*") if p.is_file()
             and "__pycache__" not in p.parts}
    assert files - set(bundle.OPT_IN_MODELS.values()) == _bundled_paths()


def test_app_modules_cover_both_packages_and_the_entry_points():
    modules = set(bundle.app_modules())
    for path in _app_sources():
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        assert name in modules
    assert {"ui.launcher", "kiosk.cli", "kiosk.diagnostics.selftest"} <= modules
    # The packaged app starts exactly where the `face-kiosk` console script does.
    assert "from ui.launcher import main" in (PACKAGING / "face_kiosk_main.py").read_text(encoding="utf-8")
    assert 'face-kiosk = "ui.launcher:main"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_app_imports_nothing_the_spec_excludes():
    excluded = set(bundle.EXCLUDES)
    for path in _app_sources():
        for name in _imported_modules(path):
            prefixes = {".".join(name.split(".")[: i + 1]) for i in range(name.count(".") + 1)}
            assert not prefixes & excluded, f"{path.relative_to(ROOT)} imports {name}, excluded from the app"


def test_collected_file_filters():
    assert not bundle.keep_collected("cv2/data/haarcascade_frontalface_default.xml")
    assert not bundle.keep_collected("PySide6/Qt/translations/qtwebengine_de.qm")
    assert not bundle.keep_collected("PySide6/Qt/translations/qtbase_de.qm")  # the app loads no Qt translator
    assert bundle.keep_collected("PySide6/Qt/plugins/platforms/libqxcb.so")
    assert bundle.keep_collected("ai_edge_litert/_pywrap_litert_interpreter_wrapper.so")
    # Qt: X11, Wayland, offscreen (self-test) and printing stay; embedded displays, themes and
    # image-format plugins go (issue 23).
    for kept in ("platforms/libqwayland.so", "platforms/libqoffscreen.so", "platforms/libqminimal.so",
                 "printsupport/libcupsprintersupport.so", "xcbglintegrations/libqxcb-glx-integration.so",
                 "wayland-shell-integration/libxdg-shell.so", "platforminputcontexts/libcomposeplatforminputcontextplugin.so"):
        assert bundle.keep_collected(f"PySide6/Qt/plugins/{kept}"), kept
    for dropped in ("platforms/libqeglfs.so", "platforms/libqvnc.so", "platforms/libqminimalegl.so",
                    "platformthemes/libqgtk3.so", "imageformats/libqsvg.so", "egldeviceintegrations/libqeglfs-x11-integration.so",
                    "generic/libqevdevmouseplugin.so", "iconengines/libqsvgicon.so"):
        assert not bundle.keep_collected(f"PySide6/Qt/plugins/{dropped}"), dropped


def test_vendored_libraries_only_kept_when_something_links_to_them():
    entries = [
        ("cv2/cv2.abi3.so", "/w/cv2.so", "EXTENSION"),
        ("opencv.libs/libQt5Core.so", "/w/core.so", "BINARY"),  # cv2 -> core
        ("opencv.libs/libicu.so", "/w/icu.so", "BINARY"),  # core -> icu (transitive)
        ("opencv.libs/libxcb-x.so", "/w/xcb.so", "BINARY"),  # only the dropped plugin used it
        ("libsystem.so.1", "/w/system.so", "BINARY"),  # not vendored: never pruned
        ("PySide6/QtGui.abi3.so", "/w/qtgui.so", "EXTENSION"),
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/w/libgui.so", "BINARY"),  # QtGui -> libQt6Gui
        ("PySide6/Qt/lib/libQt6Svg.so.6", "/w/libsvg.so", "BINARY"),  # only the dropped SVG plugin used it
    ]
    links = {"/w/cv2.so": {"libQt5Core.so", "libc.so.6"}, "/w/core.so": {"libicu.so"}, "/w/icu.so": set(),
             "/w/xcb.so": {"libQt5Core.so"}, "/w/system.so": set(), "/w/qtgui.so": {"libQt6Gui.so.6"},
             "/w/libgui.so": set(), "/w/libsvg.so": {"libQt6Gui.so.6"}}
    kept = [dest for dest, _, _ in bundle.prune_vendored_libs(entries, links.__getitem__)]
    assert kept == ["cv2/cv2.abi3.so", "opencv.libs/libQt5Core.so", "opencv.libs/libicu.so", "libsystem.so.1",
                    "PySide6/QtGui.abi3.so", "PySide6/Qt/lib/libQt6Gui.so.6"]


def test_system_libraries_only_a_dropped_plugin_linked_go_with_it():
    """The GTK theme plugin's cairo and pango sit beside libpython (issue 23); glib, which Qt
    itself links, stays, and so does a library nothing links (perhaps loaded by ctypes)."""
    entries = [
        ("PySide6/Qt/lib/libQt6Core.so.6", "/w/core.so", "BINARY"),
        ("PySide6/QtCore.abi3.so", "/w/qtcore.so", "EXTENSION"),
        ("libglib-2.0.so.0", "/w/glib.so", "BINARY"),  # Qt and the plugin: stays
        ("libcairo.so.2", "/w/cairo.so", "BINARY"),  # only the plugin: goes
        ("libpixman-1.so.0", "/w/pixman.so", "BINARY"),  # only cairo: goes (transitive)
        ("libffi-loaded.so.1", "/w/ffi.so", "BINARY"),  # nothing links it, no dropped file either: stays
        ("_cffi_backend.cpython-311-x86_64-linux-gnu.so", "/w/cffi.so", "EXTENSION"),
        ("libpython3.11.so.1.0", "/w/python.so", "BINARY"),
    ]
    dropped = [("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "/w/gtk3.so", "BINARY")]
    links = {"/w/core.so": {"libglib-2.0.so.0"}, "/w/qtcore.so": {"libQt6Core.so.6"}, "/w/glib.so": set(),
             "/w/cairo.so": {"libpixman-1.so.0", "libglib-2.0.so.0"}, "/w/pixman.so": set(), "/w/ffi.so": set(),
             "/w/cffi.so": set(), "/w/python.so": set(),
             "/w/gtk3.so": {"libQt6Core.so.6", "libglib-2.0.so.0", "libcairo.so.2", "libpython3.11.so.1.0"}}
    kept = [dest for dest, _, _ in bundle.prune_vendored_libs(entries, links.__getitem__, dropped)]
    assert kept == ["PySide6/Qt/lib/libQt6Core.so.6", "PySide6/QtCore.abi3.so", "libglib-2.0.so.0",
                    "libffi-loaded.so.1", "_cffi_backend.cpython-311-x86_64-linux-gnu.so", "libpython3.11.so.1.0"]


def test_icu_data_keeps_collation_unicode_time_zones_and_the_app_languages():
    """What packaging/trim_icu.py keeps of Qt's ICU data (issue 23)."""
    languages = bundle.app_languages()
    assert {"en", "de", "es", "fr", "nl"} <= languages
    for kept in ("coll/sv.res", "coll/ucadata.icu", "coll/root.res", "de.res", "de_CH.res", "zone/fr.res",
                 "curr/nl.res", "brkitr/char.brk", "brkitr/cjdict.dict", "zoneinfo64.res", "metaZones.res",
                 "ulayout.icu", "nfkc.nrm", "cnvalias.icu", "pool.res", "res_index.res", "zone/pool.res",
                 "lang/res_index.res", "root.res", "supplementalData.res", "likelySubtags.res", "plurals.res"):
        assert not bundle.icu_item_dropped(kept, languages), kept
    for dropped in ("sv.res", "zh_Hant_TW.res", "zone/ja.res", "lang/ru.res", "unit/pt_BR.res",
                    "translit/root.res", "translit/el_Latn.res", "ibm-1047_P100-1995.cnv", "unames.icu",
                    "confusables.cfu"):
        assert bundle.icu_item_dropped(dropped, languages), dropped


def _installed_requirements(name: str) -> set[str]:
    """`name` and every installed distribution it needs at run time (no extras), normalised."""
    from importlib.metadata import PackageNotFoundError, distribution

    def norm(n: str) -> str:
        return re.sub(r"[-_.]+", "-", n).lower()

    seen: set[str] = set()
    todo = [norm(name)]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        try:
            requires = distribution(current).requires or []
        except PackageNotFoundError:
            continue  # a platform-only requirement not installed here
        seen.add(current)
        todo += [norm(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requires if "extra ==" not in r]
    return seen


def test_the_app_needs_no_tasks_runtime_and_one_headless_opencv():
    """MediaPipe's Tasks runtime posts usage metrics to Google (issue 20): its models run in
    LiteRT instead. One OpenCV, headless: no HighGUI and no second Qt beside PySide6's (contrib,
    for the HOG descriptor OpenCV 5 moved there)."""
    needed = _installed_requirements("face-kiosk")
    assert {"numpy", "ai-edge-litert", "opencv-contrib-python-headless"} <= needed  # the walk works
    assert "mediapipe" not in needed
    assert "onnxruntime" not in needed  # nor a second inference runtime (and its telemetry)
    assert {n for n in needed if n.startswith("opencv")} == {"opencv-contrib-python-headless"}


# -- the Linux desktop entry and its installer ----------------------------------------------


def _desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    assert parser.sections() == ["Desktop Entry"]
    return dict(parser["Desktop Entry"])


def _qt_application_names() -> set[str]:
    names = set()
    for path in sorted((ROOT / "ui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "setApplicationName"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                names.add(node.args[0].value)
    return names


def _validate(path: Path) -> None:
    """The freedesktop validator (desktop-file-utils; .ci/run installs it); skips without it."""
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (Debian: desktop-file-utils)")
    result = subprocess.run([tool, str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_desktop_entry_is_valid():
    entry = _desktop_entry(DESKTOP)
    assert entry["Type"] == "Application"
    assert entry["Terminal"] == "false"
    assert entry["Exec"].split()[0] == "face-kiosk"
    assert entry["Categories"].endswith(";")
    icon = ROOT / "resources" / "icons" / f"{entry['Icon']}.png"
    with Image.open(icon) as img:
        assert img.format == "PNG" and img.size == (512, 512)
    # GNOME and KDE match the window to this entry by WM_CLASS, which Qt takes from the app name.
    assert _qt_application_names() == {entry["StartupWMClass"]}


def test_desktop_entry_passes_the_freedesktop_validator():
    _validate(DESKTOP)


@pytest.fixture
def fake_app(tmp_path):
    """An unpacked app folder as build.sh lays it out, with a stub executable."""
    app = tmp_path / "unpacked" / "face-kiosk"
    (app / "_internal" / "resources" / "icons").mkdir(parents=True)
    shutil.copy(ROOT / "resources" / "icons" / "face-kiosk.png", app / "_internal" / "resources" / "icons")
    shutil.copy(DESKTOP, app)
    shutil.copy(PACKAGING / "install-linux.sh", app)
    exe = app / "face-kiosk"
    exe.write_text("#!/bin/sh\necho stub face-kiosk \"$@\"\n")
    exe.chmod(0o755)
    return app


@pytest.mark.skipif(sys.platform == "win32" or not shutil.which("bash"), reason="the Linux installer needs bash")
def test_linux_installer_adds_and_removes_the_menu_entry(tmp_path, fake_app):
    home = tmp_path / "home"
    data = home / "my data"  # a space in the path: Exec= must be quoted
    gallery = data / "face-kiosk" / "gallery.db"
    gallery.parent.mkdir(parents=True)
    gallery.write_bytes(b"the user's gallery")
    env = {"HOME": str(home), "XDG_DATA_HOME": str(data), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def install(*args: str) -> str:
        result = subprocess.run(["bash", str(fake_app / "install-linux.sh"), *args], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    install("--desktop-icon", "--autostart")
    prefix = data / "face-kiosk-app"
    menu = data / "applications" / "face-kiosk.desktop"
    entry = _desktop_entry(menu)
    assert entry["Exec"] == f'"{prefix}/face-kiosk"'
    assert (prefix / "face-kiosk").is_file() and (prefix / "_internal").is_dir()
    assert (data / "icons" / "hicolor" / "512x512" / "apps" / "face-kiosk.png").is_file()
    assert os.readlink(home / ".local" / "bin" / "face-kiosk") == str(prefix / "face-kiosk")
    assert (home / "Desktop" / "face-kiosk.desktop").is_file()
    autostart = _desktop_entry(home / ".config" / "autostart" / "face-kiosk.desktop")
    assert autostart["Exec"] == f'"{prefix}/face-kiosk" gui --kiosk'
    written = tmp_path / "written"
    written.mkdir()
    shutil.copy(menu, written / "menu.desktop")
    shutil.copy(home / ".config" / "autostart" / "face-kiosk.desktop", written / "autostart.desktop")

    install("--uninstall")
    assert not menu.exists() and not prefix.exists()
    assert not (home / ".local" / "bin" / "face-kiosk").exists()
    assert not (home / ".config" / "autostart" / "face-kiosk.desktop").exists()
    assert gallery.read_bytes() == b"the user's gallery"  # enrolled people survive
    # Last, as it skips (visibly) where the validator is not installed.
    _validate(written / "menu.desktop")
    _validate(written / "autostart.desktop")


def test_build_scripts_are_well_formed():
    for script in ("build.sh", "install-linux.sh", "smoke-gui.sh"):
        path = PACKAGING / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        if shutil.which("bash"):
            result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
    ps1 = (PACKAGING / "build.ps1").read_text(encoding="utf-8")
    assert "face-kiosk.spec" in ps1 and "self-test" in ps1


WATCH_UNIT = PACKAGING / "face-kiosk-watch.service"


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {raw!r}"
        current.setdefault(key, []).append(value)
    return sections


def test_watch_service_runs_the_real_command_unprivileged_and_restarts():
    from kiosk.cli import build_parser

    unit = _unit(WATCH_UNIT)
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"][0])
    assert argv[0] == "/opt/face-kiosk/face-kiosk"  # where install-linux.sh --system puts the app
    args = build_parser().parse_args(argv[1:])  # the flags exist and parse as the CLI reads them
    assert args.func.__name__ == "cmd_watch" and args.jsonl and args.status_port
    assert args.db.startswith("/var/lib/face-kiosk/")  # the StateDirectory, 0700
    assert service["User"] == ["face-kiosk"] and service["User"] != ["root"]
    assert service["Restart"] == ["on-failure"] and service["UMask"] == ["0077"]
    assert service["StateDirectoryMode"] == ["0700"] and service["NoNewPrivileges"] == ["yes"]
    assert service["ProtectSystem"] == ["strict"] and service["ProtectHome"] == ["yes"]
    # Every XDG folder the app writes is inside the unit's own private directories.
    env = dict(e.split("=", 1) for e in service["Environment"])
    folders = {k: v for k, v in env.items() if k.startswith(("HOME", "XDG_"))}
    assert {k: v.split("/")[2] for k, v in folders.items()} == {
        "HOME": "lib", "XDG_DATA_HOME": "lib", "XDG_CONFIG_HOME": "lib", "XDG_CACHE_HOME": "cache"}
    # Issue 20 row 8: the key apart from the state folder (a credential), and no names in the journal.
    assert service["LoadCredential"] == ["gallery-key:/etc/face-kiosk/gallery.key"]
    assert env["FACE_KIOSK_GALLERY_KEY_FILE"] == "%d/gallery-key"
    assert "FACE_KIOSK_GALLERY_KEY" not in env and args.ids_only
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert "face-kiosk-watch.service" in (PACKAGING / "build.sh").read_text(encoding="utf-8")


def test_watch_service_passes_systemd_analyze(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    # verify checks that ExecStart exists: point it at a stand-in executable.
    exe = tmp_path / "face-kiosk"
    exe.write_text("#!/bin/sh\n", encoding="utf-8")
    exe.chmod(0o755)
    unit = tmp_path / "face-kiosk-watch.service"
    unit.write_text(WATCH_UNIT.read_text(encoding="utf-8").replace("/opt/face-kiosk/face-kiosk", str(exe)),
                    encoding="utf-8")
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True)
    # verify exits 0 over unknown keys and bad values (it only warns): any line naming the unit fails.
    output = result.stdout + result.stderr
    assert result.returncode == 0 and str(unit) not in output, output
