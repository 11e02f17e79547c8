"""How costly the admin PIN's scrypt hash is: measured on this machine, picked once.

A tool for choosing the parameters stored with each hash (`kiosk.gallery.admin_pin`), not
part of checking a PIN; why a slower hash helps only by a constant is in
`kiosk.security.pin_policy`.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ScryptCost:
    """scrypt parameters and what one hash took here when they were picked."""

    n: int
    r: int
    p: int
    seconds: float

    @property
    def memory_bytes(self) -> int:
        """scrypt's working memory: 128 * n * r bytes."""
        return 128 * self.n * self.r


def time_scrypt(n: int, r: int = 8, p: int = 1, *, clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds one PIN hash takes with these parameters on this machine."""
    start = clock()
    hashlib.scrypt(b"000000", salt=b"\0" * 16, n=n, r=r, p=p, dklen=32, maxmem=128 * n * r + (2 << 20))
    return clock() - start


def recommend_scrypt(
    target_s: tuple[float, float] = (0.3, 0.5),
    *,
    r: int = 8,
    max_memory: int = 256 << 20,
    timer: Callable[[int, int], float] | None = None,
) -> ScryptCost:
    """The smallest power-of-two n whose hash takes at least `target_s[0]` here (measured,
    doubling n from 2**14), capped by `max_memory`; r is raised instead when doubling n
    would overshoot `target_s[1]` by more than the next step. Run at PIN-setting time on the
    kiosk itself, and store the parameters with the hash (kiosk.admin_pin does).
    A slower hash only multiplies the offline attacker's work by a constant (see the module
    docstring); the useful range is what a person tolerates at the keypad.
    """
    low, high = target_s
    measure = timer or (lambda n_, r_: time_scrypt(n_, r_))
    n = 2**14
    seconds = measure(n, r)
    while seconds < low and 128 * (2 * n) * r <= max_memory:
        doubled = measure(2 * n, r)
        if doubled > high:
            # 2n overshoots: stay at n and grow r proportionally instead (time ~ n * r).
            r_new = min(max(r + 1, math.ceil(r * low / max(seconds, 1e-9))), 64)
            if 128 * n * r_new <= max_memory:
                return ScryptCost(n, r_new, 1, measure(n, r_new))
            return ScryptCost(2 * n, r, 1, doubled)
        n, seconds = 2 * n, doubled
    return ScryptCost(n, r, 1, seconds)
