"""How long this process has been running: the start-up measurements (`watch -v`, the GUI's log)."""

from __future__ import annotations

import os
import time

_IMPORTED = time.monotonic()


def process_age_s() -> float:
    """Seconds since this process started (Linux: from /proc, so the interpreter's own start and
    every import count; elsewhere: since this module was imported)."""
    try:
        with open("/proc/self/stat") as handle:
            # Field 22 is the start time in clock ticks after boot; the name (field 2) may hold spaces.
            start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _IMPORTED
