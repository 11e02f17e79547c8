"""Keep the native libraries' start-up chatter (LiteRT INFO lines, OpenCV DNN warnings) off stderr.

They write to file descriptor 2 from C++, so Python's logging cannot filter them and their
environment switches do not reach them. While a model loads, fd 2 goes to a temporary file;
if loading fails, what they wrote is replayed so nothing useful is lost.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

# fd 2 is process-wide: two threads loading models at once (live worker, photo import) must not
# interleave their save/restore, or stderr would stay pointed at a temporary file.
_LOCK = threading.RLock()


@contextlib.contextmanager
def native_stderr_quiet() -> Iterator[None]:
    """Silence fd 2 for the block; replay it if the block raises."""
    with _LOCK:
        yield from _quiet()


def _quiet() -> Iterator[None]:
    fd = 2  # the C++ code writes to fd 2 whatever sys.stderr is
    try:
        os.fstat(fd)
    except OSError:  # no stderr at all (a windowed app on Windows)
        yield
        return
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        except BaseException:
            os.dup2(saved, fd)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, fd)
            os.close(saved)
