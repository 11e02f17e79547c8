"""One log line per kind of failure, not one per retry."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class RateLimitedLog:
    """Logs a message when its key changes, or when `interval_s` has passed since the key was
    last logged (then with the number of repeats held back in between). Thread-safe."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[str, float, int]] = {}  # channel -> (key, logged at, held back)

    def log(self, level: int, channel: str, key: str, message: str) -> bool:
        """Log `message` unless the same `key` was logged on `channel` within the interval.

        Returns True when the line was written.
        """
        now = self._clock()
        with self._lock:
            last = self._last.get(channel)
            if last is not None and last[0] == key and now - last[1] < self._interval_s:
                self._last[channel] = (key, last[1], last[2] + 1)
                return False
            held = last[2] if last is not None and last[0] == key else 0
            self._last[channel] = (key, now, 0)
        suffix = f" ({held} more like this since the last report)" if held else ""
        self._logger.log(level, "%s%s", message, suffix)
        return True

    def reset(self, channel: str) -> None:
        """Forget the channel's last key (after a recovery, the next failure is news again)."""
        with self._lock:
            self._last.pop(channel, None)
