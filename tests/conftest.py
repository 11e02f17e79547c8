"""Shared fixtures: paths to ../shared/data (skip cleanly without it), the vendored photo, pipelines."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The app writes keys, config and data under the user's folders: the tests get their own, and
# never the developer's keyring (galleries are encrypted, their keys go to key files here).
_SANDBOX = Path(tempfile.mkdtemp(prefix="face-kiosk-tests-"))
for _var, _sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
    os.environ[_var] = str(_SANDBOX / _sub)
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
os.environ.setdefault("GLOG_minloglevel", "2")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("FACE_KIOSK_DATA", ROOT.parent / "shared" / "data"))
ASTRONAUT = ROOT / "resources" / "images" / "astronaut.png"
#: `liveness.mode` of the tests that run photo-made visitors through the live loop or the kiosk to
#: measure recognition: their visitors are photos, which the liveness check (rightly) refuses.
RECOGNITION_ONLY = "off"


def shared(*parts: str) -> Path:
    """A path under ../shared/data; skips the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/data ({path} not present; it is not shipped with the project)")
    return path


class ManualClock:
    """A clock (seconds) the test moves by hand: `clock.t += 30`."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@contextmanager
def wal_checkpoint_answered(gallery: Any, verdict: int) -> Iterator[None]:
    """While inside, the gallery's connection gets `verdict` for `PRAGMA wal_checkpoint`:
    sqlite3.SQLITE_IGNORE leaves the WAL uncut (as while another connection is mid-read),
    sqlite3.SQLITE_DENY refuses it (as a failing disk would)."""

    def authorize(action: int, arg1: str | None, *_: object) -> int:
        return verdict if action == sqlite3.SQLITE_PRAGMA and arg1 == "wal_checkpoint" else sqlite3.SQLITE_OK

    gallery._conn.set_authorizer(authorize)
    try:
        yield
    finally:
        gallery._conn.set_authorizer(None)


@pytest.fixture
def gallery(tmp_path):
    """A new (encrypted) SQLite gallery in the test's folder; files may define their own."""
    from kiosk.gallery import Gallery

    with Gallery(tmp_path / "gallery.db") as g:
        yield g


@pytest.fixture(scope="session")
def pipeline():
    """One FacePipeline for the whole session (models load once)."""
    from kiosk.vision.pipeline import FacePipeline

    return FacePipeline()


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """NASA's public-domain portrait (vendored), as RGB."""
    from kiosk.capture.images import load_rgb

    return load_rgb(ASTRONAUT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Collect what the tests left behind while warnings of unclosed loopback sockets are ignored.

    Seen once in about five full runs on a clean clone: a keep-alive connection between a test's
    HTTP client and one of the loopback servers the tests start, both ends found by the garbage
    collector only at pytest's exit, where pytest turns the ResourceWarning into a failure of the
    whole (already green) run. Inside tests, leaks still fail the test that made them.
    """
    import gc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
