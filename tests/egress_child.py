"""Runs one command for tests/egress.py, inside the network namespace when it was given one.

    python egress_child.py --report FILE [--namespace [--trap-dns]] [--until REGEX]
                           [--webhook-config FILE] [--give-up-after SECONDS] -- COMMAND...

--namespace: loopback is brought up (a new namespace has it down), so local servers work.
--trap-dns: /etc/resolv.conf (in this mount namespace only) names a DNS listener on loopback
that answers NXDOMAIN and records each name asked. --webhook-config: an HTTP receiver runs
here (tests/events_servers.py) and the file gets a config pointing a webhook at it.
The report (JSON): the command's exit code, output, the names looked up, requests received.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def query_name(packet: bytes) -> str:
    labels, i = [], 12
    while i < len(packet) and packet[i]:
        labels.append(packet[i + 1 : i + 1 + packet[i]].decode(errors="replace"))
        i += 1 + packet[i]
    return ".".join(labels)


def nxdomain(packet: bytes) -> bytes:
    """The question back with 'no such name', so the resolver gives up at once."""
    end = 12
    while end < len(packet) and packet[end]:
        end += 1 + packet[end]
    question = packet[12 : end + 5]
    return packet[:2] + b"\x81\x83" + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question


def trap_dns(names: list[str]) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 53))

    def serve() -> None:
        while True:
            packet, peer = server.recvfrom(4096)
            names.append(query_name(packet))
            server.sendto(nxdomain(packet), peer)

    threading.Thread(target=serve, daemon=True).start()
    resolv = tempfile.NamedTemporaryFile("w", suffix=".resolv.conf", delete=False)  # noqa: SIM115
    resolv.write("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
    resolv.close()
    subprocess.run(["mount", "--bind", resolv.name, "/etc/resolv.conf"], check=True)


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--report", required=True)
    parser.add_argument("--namespace", action="store_true")
    parser.add_argument("--trap-dns", action="store_true")
    parser.add_argument("--until")
    parser.add_argument("--webhook-config")
    parser.add_argument("--give-up-after", type=float, default=240.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.namespace:
        loopback_up()
    names: list[str] = []
    if args.trap_dns:
        trap_dns(names)
    receiver = None
    if args.webhook_config:
        from events_servers import Receiver

        receiver = Receiver()
        Path(args.webhook_config).write_text(json.dumps({"events": {"webhooks": [{"url": receiver.url}]}}),
                                             encoding="utf-8")
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, text=True, start_new_session=True)
        # A command that hangs (or a window that never shows `until`) is ended here, before
        # pytest-timeout ends the test: a traced process strace lets go of would run on.
        watchdog = threading.Timer(args.give_up_after, kill_group, (proc.pid,))
        watchdog.start()
        stderr: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:  # the window never ends by itself: closed once it showed `until`
            stderr.append(line)
            if args.until and re.search(args.until, line):
                proc.send_signal(signal.SIGTERM)
        returncode = proc.wait()
        watchdog.cancel()
        out.seek(0)
        stdout = out.read()
    received = 0
    if receiver is not None:
        received = receiver.count()
        receiver.close()
    Path(args.report).write_text(json.dumps({"returncode": returncode, "stdout": stdout, "stderr": "".join(stderr),
                                             "lookups": names, "received": received}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
