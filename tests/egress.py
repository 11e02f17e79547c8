"""Watching a command's network use from outside it, at the system-call level.

Python's audit hooks see only Python's own sockets; native libraries (MediaPipe's metrics
client, onnxruntime's telemetry) open theirs in C. So the command runs under
`strace -f -e trace=connect,sendto,sendmsg,sendmmsg`, which sees every socket address a
process of the tree hands to the kernel, and every AF_INET/AF_INET6 one is judged: loopback
and the configured targets pass, anything else is egress.

Where a network namespace can be made (`unshare -n`, as root or in a user namespace), the
command also runs inside one with only loopback: a regression is seen by strace and still
sends nothing anywhere. Without strace, the namespace doubles as a trap: its resolver is a
DNS listener on loopback (tests/egress_child.py) that records every name looked up; that sees
phoning home by host name (every SDK does), not a connect to a bare IP address.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = HERE / "egress_child.py"
TRACED = "connect,sendto,sendmsg,sendmmsg"

_V4 = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_V6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')
_CALL = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\w+)\(")


@dataclass(frozen=True)
class Attempt:
    """One system call that named an internet address."""

    pid: int
    call: str
    host: str
    port: int
    line: str

    @property
    def loopback(self) -> bool:
        address = ipaddress.ip_address(self.host)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback


def parse_strace(text: str) -> list[Attempt]:
    """Every AF_INET / AF_INET6 address in strace's output (`-f`, any of the traced calls;
    an `<unfinished ...>` line carries the address, its `resumed>` line does not)."""
    found = []
    for line in text.splitlines():
        call = _CALL.match(line)
        for pattern in (_V4, _V6):
            for port, host in pattern.findall(line):
                found.append(Attempt(int(call.group(1)) if call else 0, call.group(2) if call else "?",
                                     host, int(port), line.strip()))
    return found


def egress(attempts: list[Attempt], configured: frozenset[tuple[str, int]] = frozenset()) -> list[Attempt]:
    """The attempts that are neither loopback nor a configured (host, port)."""
    return [a for a in attempts if not a.loopback and (a.host, a.port) not in configured]


@cache
def strace_works() -> bool:
    """strace is installed and may trace (ptrace can be forbidden in containers)."""
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, "true"], capture_output=True)
    return probe.returncode == 0


@cache
def namespace_prefix() -> tuple[str, ...] | None:
    """How to start a command in a new network (and mount) namespace here, if at all."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (("unshare", "-n", "-m"), ("unshare", "-r", "-n", "-m")):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return None


def mode() -> str | None:
    """'strace' (with a namespace around it where possible), 'trap' (a namespace alone) or None.
    FACE_KIOSK_EGRESS=trap tries the trap where strace would do."""
    if strace_works() and os.environ.get("FACE_KIOSK_EGRESS") != "trap":
        return "strace"
    if namespace_prefix() is not None:
        return "trap"
    return None


@dataclass
class Observation:
    """What a command did (its output, and the child's report) and the network use seen."""

    returncode: int
    stdout: str
    stderr: str
    attempts: list[Attempt] = field(default_factory=list)  # strace mode
    lookups: list[str] = field(default_factory=list)  # trap mode: names sent to the resolver
    received: int = 0  # requests the webhook receiver got
    trace: str = ""

    def egress(self, configured: frozenset[tuple[str, int]] = frozenset()) -> list[str]:
        """Everything seen leaving for somewhere not allowed, one line each."""
        return [a.line for a in egress(self.attempts, configured)] + [f"DNS lookup of {n}" for n in self.lookups]


def observe(command: list[str], workdir: Path, *, until: str | None = None, webhook_config: Path | None = None,
            timeout: float = 280) -> Observation:
    """Run `command` under the observation `mode()` gives (the caller skips when it is None).

    `until`: a regular expression; when the command's stderr shows it, the command is sent
    SIGTERM (how the window is closed). `webhook_config`: a config file the child writes,
    pointing a webhook at a receiver it runs beside the command.
    """
    how = mode()
    assert how is not None, "no way to observe the network here (the test should have skipped)"
    report = workdir / f"report-{os.getpid()}-{len(list(workdir.glob('report-*')))}.json"
    child = [sys.executable, str(CHILD), "--report", str(report)]
    prefix = namespace_prefix()
    if prefix is not None:
        child += ["--namespace"] + (["--trap-dns"] if how == "trap" else [])
    if until:
        child += ["--until", until]
    if webhook_config:
        child += ["--webhook-config", str(webhook_config)]
    full = [*(prefix or ()), *child, "--", *command]
    trace = Path(tempfile.mkstemp(prefix="egress-", suffix=".trace", dir=workdir)[1])
    if how == "strace":
        full = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", f"trace={TRACED}", "-o", str(trace), *full]
    done = subprocess.run(full, capture_output=True, text=True, timeout=timeout, cwd=workdir)
    assert report.exists(), f"the observed run did not finish: {done.stderr[-3000:]}"
    result = json.loads(report.read_text(encoding="utf-8"))
    text = trace.read_text(encoding="utf-8", errors="replace")
    return Observation(result["returncode"], result["stdout"], result["stderr"], parse_strace(text),
                       result["lookups"], result["received"], text)
