"""No phoning home: an onnxruntime session in a fresh $HOME writes nothing and opens no socket.

face-kiosk itself never loads onnxruntime (tests/test_startup_imports.py checks each command;
an import-linter contract forbids the import), but it keeps onnxruntime's telemetry switch set
for any process that imports kiosk and then onnxruntime itself (these tests, tools/, a script):
the checks below prove that switch still works. Each check runs in a subprocess (telemetry starts at import, once per process). Python's
audit hook sees Python-level sockets only; onnxruntime's telemetry is native, so when strace
works here the same run is also traced at the system-call level.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "resources" / "models" / "sface_2021dec_fp32_folded.onnx"

SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    events = []
    WATCH = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
             "socket.sendmsg", "socket.bind"}
    sys.addaudithook(lambda name, args: events.append([name, repr(args)[:200]]) if name in WATCH else None)
    sys.path.insert(0, sys.argv[1])
    report = None
    if sys.argv[3] == "ours":
        from kiosk.security.telemetry import disable_native_telemetry
        report = disable_native_telemetry()
    import numpy as np
    import onnxruntime as ort
    session = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: np.zeros((1, 3, 112, 112), np.float32)})
    time.sleep(float(sys.argv[4]))  # room for native telemetry threads (not a timed assertion)
    print(json.dumps({"events": events, "report": report and list(report.actions),
                      "too_late": report and report.too_late}))
""")


def run(tmp_path: Path, mode: str, *, trace: Path | None = None, linger_s: float = 0.5) -> tuple[dict, list[str]]:
    """Run the session in a subprocess with HOME (and XDG dirs) in tmp_path; returns its
    report and every file it left under that HOME."""
    home = tmp_path / f"home-{mode}"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ORT_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"))
    cmd = [sys.executable, "-c", SCRIPT, str(ROOT), str(MODEL), mode, str(linger_s)]
    if trace is not None:
        cmd = ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace), *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    return json.loads(done.stdout.strip().splitlines()[-1]), left


def strace_works(tmp_path: Path) -> bool:
    if shutil.which("strace") is None:
        return False
    out = tmp_path / "probe.trace"
    return subprocess.run(["strace", "-qq", "-o", str(out), "true"], capture_output=True).returncode == 0


def network_calls(trace: Path) -> list[str]:
    """connect/sendto/sendmsg system calls to anything but a local (AF_UNIX) socket."""
    lines = trace.read_text().splitlines()
    return [line for line in lines if ("connect(" in line or "send" in line) and "AF_UNIX" not in line
            and "resumed>" not in line]


def test_onnxruntime_writes_nothing_and_opens_no_socket(tmp_path):
    result, left = run(tmp_path, "ours")
    assert result["report"] == ["ORT_DISABLE_TELEMETRY=1"]  # it never imports onnxruntime itself
    assert result["too_late"] is False
    assert left == [], left  # nothing under $HOME, .cache included
    assert result["events"] == []


def test_no_native_network_calls_either(tmp_path):
    """Traced at the system-call level for 12 s: without the switch, onnxruntime's uploader
    resolves its telemetry host ~9 s after start here (the device id file appears at import)."""
    if not strace_works(tmp_path):
        pytest.skip("strace is not available (or ptrace is not allowed) here")
    trace = tmp_path / "ours.trace"
    _, left = run(tmp_path, "ours", trace=trace, linger_s=12.0)
    assert left == []
    assert network_calls(trace) == []


def test_control_without_the_switch_onnxruntime_phones_home(tmp_path):
    """Shows the checks above can see the telemetry: without disable_native_telemetry the
    same run writes a device id under ~/.cache (and, traced, talks to DNS)."""
    result, left = run(tmp_path, "control")
    if not any("onnxruntime" in p for p in left):
        pytest.skip("this onnxruntime build has no 1DS telemetry: nothing to detect")
    assert ".cache/Microsoft/DeveloperTools/.onnxruntime/deviceid" in left


def test_too_late_is_reported(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import onnxruntime
        from kiosk.security.telemetry import disable_native_telemetry
        report = disable_native_telemetry()
        print(report.too_late, report.actions[-1])
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORT_")}
    env["HOME"] = str(tmp_path)
    env["XDG_CACHE_HOME"] = str(tmp_path / ".cache")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    # Too late for the switch; the API call (Windows' ETW provider) is still made.
    assert done.stdout.strip() == "True onnxruntime.disable_telemetry_events()"
