"""Nothing the app runs connects anywhere unless the user configured it (issue 20).

Every command runs as a real subprocess watched at the system-call level (tests/egress.py:
strace on connect/sendto/sendmsg/sendmmsg, inside a network namespace with only loopback where
one can be made, or that namespace alone as a DNS trap). Any internet address other than
loopback or a configured target fails the test. The window (`gui`) runs offscreen until it
has greeted the visitor, then is closed; `watch` runs a clip, once with a webhook on a local
receiver (a configured target, allowed). The check is shown to fail on a planted connection.

tests/test_security_telemetry.py keeps guarding what its audit hook sees: onnxruntime leaves
no files under $HOME and Python opens no socket, with the telemetry switch on.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from egress import Attempt, egress, mode, namespace_prefix, observe, parse_strace

from kiosk.diagnostics.arrivals import FPS, FRAME_SIZE, walk_up_frames

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = ROOT / "resources" / "images" / "astronaut.png"
APP = [sys.executable, "-m", "ui.launcher"]
NAME = "Eileen Collins"

needs_observer = pytest.mark.skipif(
    mode() is None, reason="neither strace (with ptrace allowed) nor network namespaces (unshare -n) work here: "
    "native network use cannot be observed")


def assert_no_egress(seen, configured: frozenset[tuple[str, int]] = frozenset()) -> None:
    assert seen.returncode == 0, seen.stderr[-3000:]
    assert seen.egress(configured) == [], "connections to somewhere not configured"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A visitor (the vendored portrait) walking up to the camera: 3 s at the analysis rate. The
    visitor is a photo: the commands that must greet her run with `--liveness off`."""
    from kiosk.capture.images import load_rgb

    path = tmp_path_factory.mktemp("clip") / "walk-up.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, FRAME_SIZE)
    frames = walk_up_frames(load_rgb(ASTRONAUT), np.random.default_rng(0), seconds=1.5)
    for _ in range(int(3 * FPS)):
        writer.write(cv2.cvtColor(next(frames), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, astronaut_rgb, pipeline) -> Path:
    """An encrypted gallery (the default) holding the portrait's person."""
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face
    from kiosk.gallery import Gallery
    from kiosk.gallery.api import PersonDetails

    db = tmp_path_factory.mktemp("gallery") / "gallery.db"
    with Gallery(db) as g:
        sample = make_sample(pipeline, pick_enrollment_face(pipeline.analyze(astronaut_rgb)))
        g.add_person(PersonDetails(NAME), [sample], pipeline.model_version)
    return db


# -- the check itself ----------------------------------------------------------------------


def test_the_parser_reads_every_form_strace_prints():
    trace = textwrap.dedent("""\
        101 connect(5, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = -1 ENETUNREACH (Network is unreachable)
        102 connect(7, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>
        102 <... connect resumed>) = -1 ENETUNREACH (Network is unreachable)
        103 sendto(9, "x", 1, MSG_NOSIGNAL, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("192.0.2.1")}, 16) = 1
        104 sendmsg(3, {msg_name={sa_family=AF_INET, sin_port=htons(123), sin_addr=inet_addr("198.51.100.7")}, msg_namelen=16, msg_iov=[]}, 0) = 0
        105 connect(4, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
        106 connect(4, {sa_family=AF_INET6, sin6_port=htons(8080), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0
        107 connect(4, {sa_family=AF_INET6, sin6_port=htons(8080), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0
        108 connect(3, {sa_family=AF_UNIX, sun_path="/run/dbus/system_bus_socket"}, 110) = 0
        109 sendto(3, "x", 1, 0, NULL, 0) = 1
        110 connect(6, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("192.0.2.10")}, 16) = 0
        --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=7868, si_uid=0, si_status=0} ---
        """)
    attempts = parse_strace(trace)
    assert [(a.pid, a.call, a.host, a.port) for a in attempts] == [
        (101, "connect", "10.255.255.53", 53), (102, "connect", "2001:db8::1", 443),
        (103, "sendto", "192.0.2.1", 9), (104, "sendmsg", "198.51.100.7", 123),
        (105, "connect", "127.0.0.1", 8080), (106, "connect", "::ffff:127.0.0.1", 8080),
        (107, "connect", "::1", 8080), (110, "connect", "192.0.2.10", 443),
    ]
    # A configured target passes; the same host on another port does not.
    left = egress(attempts, configured=frozenset({("192.0.2.10", 443)}))
    assert [(a.host, a.port) for a in left] == [("10.255.255.53", 53), ("2001:db8::1", 443), ("192.0.2.1", 9),
                                                ("198.51.100.7", 123)]
    assert egress([Attempt(1, "connect", "192.0.2.10", 80, "")], frozenset({("192.0.2.10", 443)}))


@needs_observer
def test_the_check_fails_on_a_planted_connection(tmp_path):
    """A tiny program that connects a UDP socket to 192.0.2.1 (TEST-NET-1: a UDP connect sends
    no packet, and in the namespace there is no route anyway); for the DNS trap it looks a
    name up instead (only there: elsewhere that query would leave the machine)."""
    planted = textwrap.dedent("""
        import socket, sys
        try:
            if sys.argv[1] == "trap":
                socket.getaddrinfo("phone-home.invalid", 443)
            else:
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(("192.0.2.1", 9))
        except OSError:
            pass
    """)
    seen = observe([sys.executable, "-c", planted, str(mode())], tmp_path)
    assert seen.returncode == 0, seen.stderr
    flagged = seen.egress()
    if mode() == "strace":
        assert any('inet_addr("192.0.2.1")' in line and "htons(9)" in line for line in flagged), seen.trace
    else:
        assert "DNS lookup of phone-home.invalid" in flagged


def test_how_the_network_is_watched_here_is_reported():
    """Not a check: says in the test log how this machine was observed (-rA shows it)."""
    print(f"observation: {mode()}; network namespace: {' '.join(namespace_prefix() or ('none',))}")


# -- every command ---------------------------------------------------------------------------


@needs_observer
def test_enroll(tmp_path):
    db = tmp_path / "g.db"
    seen = observe([*APP, "enroll", "--db", str(db), "--name", NAME, "--consent", "test", str(ASTRONAUT)], tmp_path)
    assert_no_egress(seen)
    assert "enrolled" in seen.stdout


@needs_observer
def test_identify(tmp_path, gallery):
    seen = observe([*APP, "identify", "--db", str(gallery), "--jsonl", str(ASTRONAUT)], tmp_path)
    assert_no_egress(seen)
    assert json.loads(seen.stdout)["faces"][0]["person"] == NAME


@needs_observer
def test_verify(tmp_path, gallery):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(f"{ASTRONAUT}\t{ASTRONAUT}\n", encoding="utf-8")
    seen = observe([*APP, "verify", "--db", str(gallery), "--pairs", str(pairs)], tmp_path)
    assert_no_egress(seen)
    assert seen.stdout.split()[-1] == "same"


@needs_observer
def test_self_test(tmp_path):
    seen = observe([*APP, "self-test"], tmp_path)
    assert_no_egress(seen)
    assert "self-test passed" in seen.stdout


@needs_observer
@pytest.mark.data
def test_eval_on_the_quick_profile(tmp_path):
    from conftest import shared

    seen = observe([*APP, "eval", "--profile", "quick", "--data", str(shared())], tmp_path)
    assert_no_egress(seen)
    assert "rank-1" in seen.stdout.lower() or "rank1" in seen.stdout.lower(), seen.stdout[-2000:]


@needs_observer
def test_watch_on_a_clip(tmp_path, gallery, clip):
    seen = observe([*APP, "watch", "--liveness", "off", "--db", str(gallery), "--source", str(clip), "--jsonl"], tmp_path)
    assert_no_egress(seen)
    assert [json.loads(line)["person"] for line in seen.stdout.splitlines()] == [NAME]


@needs_observer
def test_watch_with_a_webhook_reaches_only_the_configured_receiver(tmp_path, gallery, clip):
    config = tmp_path / "config.json"  # written by the observer: the receiver's port is its own
    seen = observe([*APP, "watch", "--liveness", "off", "--db", str(gallery), "--config", str(config), "--source", str(clip),
                    "--jsonl"],
                   tmp_path, webhook_config=config)
    assert_no_egress(seen)
    assert seen.received == 1  # the arrival was delivered...
    if mode() == "strace":  # ...and seen going to the configured target, on loopback
        url = json.loads(config.read_text(encoding="utf-8"))["events"]["webhooks"][0]["url"]
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert any(a.port == port and a.loopback for a in seen.attempts), seen.trace


@needs_observer
@pytest.mark.gui
def test_the_window_runs_until_it_greets_the_visitor(tmp_path, gallery, clip):
    seen = observe([*APP, "gui", "--liveness", "off", "--db", str(gallery), "--source", str(clip), "-v"], tmp_path,
                   until=r"arrival: track \d+, ")
    assert "arrival: track" in seen.stderr, seen.stderr[-3000:]
    assert seen.egress() == [], "connections to somewhere not configured"
