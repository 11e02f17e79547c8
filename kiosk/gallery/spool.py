"""The local visit spool of a kiosk on a shared gallery: visits recorded while the server is
unreachable wait here, and are sent when it is back.

A small SQLCipher file, encrypted like a SQLite gallery (its key found or made by
kiosk.security.keys, never beside it). Each visit carries its event id (unique here and on the
server), so a flush that is cut off half way and repeated never sends a visit twice, and a
visit leaves the spool only after the server committed it: nothing lost, nothing twice.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import astuple, dataclass
from pathlib import Path

import platformdirs

from kiosk.security.encrypted_gallery import open_gallery
from kiosk.security.keys import APP_NAME
from kiosk.security.private_files import ensure_private_dir


@dataclass(frozen=True)
class SpooledVisit:
    """One visit as it will be written to the server."""

    event_id: str
    person_id: int | None
    kind: str
    score: float | None
    masked: bool
    source: str
    ts: str
    site: str
    kiosk: str


def default_spool_path(ref: str) -> Path:
    """<user data folder>/spool/<hash of the gallery's name>.db."""
    digest = hashlib.sha256(ref.encode("utf-8")).hexdigest()[:24]
    return Path(platformdirs.user_data_dir(APP_NAME)) / "spool" / f"{digest}.db"


class VisitSpool:
    """The spool file. Thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        ensure_private_dir(self.path.parent)
        self._lock = threading.Lock()
        self._conn, _ = open_gallery(self.path, create=True)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,"
            " person_id INTEGER, kind TEXT NOT NULL, score REAL, masked INTEGER NOT NULL, source TEXT NOT NULL,"
            " ts TEXT NOT NULL, site TEXT NOT NULL, kiosk TEXT NOT NULL)")

    def add(self, visit: SpooledVisit) -> None:
        """Keep a visit (a repeated event id is ignored)."""
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO spool(event_id, person_id, kind, score, masked, source, ts,"
                               " site, kiosk) VALUES (?,?,?,?,?,?,?,?,?)",
                               (*astuple(visit)[:4], int(visit.masked), *astuple(visit)[5:]))

    def pending(self) -> list[SpooledVisit]:
        """The waiting visits, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT event_id, person_id, kind, score, masked, source, ts, site, kiosk"
                                      " FROM spool ORDER BY id").fetchall()
        return [SpooledVisit(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8]) for r in rows]

    def remove(self, event_id: str) -> None:
        """Drop a visit the server has committed."""
        with self._lock:
            self._conn.execute("DELETE FROM spool WHERE event_id = ?", (event_id,))

    def count(self) -> int:
        """How many visits wait."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM spool").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
