"""How this process asks the C allocator to keep its memory small (glibc; elsewhere nothing).

Measured with `tools/kiosk_soak.py` (the kiosk window and the live loop on two looped clips):
- glibc gives every thread that allocates its own arena, up to 8 per core, and an arena's freed
  pages stay with it. The live loop, the model loaders, onnxruntime's (SFace then ran in it) and
  OpenBLAS's threads each got one: two arenas in all held the same work in 334 MB instead of 395 MB.
- Building an ONNX model parses the whole protobuf and copies the weights: 88 MB more for
  SFace of which ~50 MB stays in use; the rest is only returned when asked (`malloc_trim`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import cache
from typing import Any

# glibc's mallopt parameter for the arena limit (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """At most `arenas` malloc arenas: call before any thread starts (threads made before keep
    their own). The same as MALLOC_ARENA_MAX, which a user's own setting still overrides."""
    libc = _libc()
    if libc is not None and "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(_M_ARENA_MAX, arenas)


def release_freed_memory() -> None:
    """Give memory freed inside the process back to the system (after loading a model)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - musl and other libcs have neither function
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc
