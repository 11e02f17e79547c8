"""The fleet view of a shared gallery: every kiosk writes a heartbeat row (site, kiosk, version,
last sync, spooled visits, whether it runs from its local copy) and anyone may list them
(`face-kiosk fleet status`, the receptionist view). A kiosk role sees its own site's rows
only (row-level security, kiosk.gallery.pg_schema)."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

import psycopg

from kiosk import __version__
from kiosk.gallery.pg_connection import PgConnection, first_line

log = logging.getLogger("kiosk.gallery.postgres")  # one logger for the whole backend

HEARTBEAT_S = 30.0  # how often a kiosk writes its row
STALE_S = 3 * HEARTBEAT_S  # a row older than this: the kiosk is not running (or cannot reach us)


@dataclass(frozen=True)
class KioskBeat:
    """One kiosk's last heartbeat."""

    site: str
    kiosk: str
    role: str
    version: str
    schema_version: int
    online: bool
    last_sync: str | None
    spooled: int
    local_copy_at: str | None
    age_s: float  # seconds since the heartbeat, by the server's clock

    @property
    def stale(self) -> bool:
        """No heartbeat for a while: stopped, or cut off from the server."""
        return self.age_s > STALE_S


class PgFleet(PgConnection):
    """Heartbeats of the kiosks that share the gallery."""

    last_sync: str
    _beats_refused = False
    _beat_sync = ""  # last_sync as the last heartbeat wrote it

    @property
    def kiosk_name(self) -> str:
        """This kiosk's name in the fleet: the configured kiosk id, else the host name."""
        return self.kiosk or socket.gethostname()

    def heartbeat(self, conn: psycopg.Connection) -> None:
        """Write this kiosk's row on `conn` (the listener's). A role that may not write it is
        told once in the log; recognition never depends on it."""
        if self._beats_refused:
            return
        self._beat_sync = self.last_sync
        try:
            conn.execute(
                "INSERT INTO fleet(site, kiosk, version, schema_version, online, last_sync, spooled, local_copy_at,"
                " seen_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s, now()) ON CONFLICT (site, kiosk) DO UPDATE SET"
                " role = current_user, version = excluded.version, schema_version = excluded.schema_version,"
                " online = excluded.online, last_sync = excluded.last_sync, spooled = excluded.spooled,"
                " local_copy_at = excluded.local_copy_at, seen_at = now()",
                (self.site, self.kiosk_name, __version__, self._schema_version, True, self.last_sync or None,
                 self.status().spooled, self._from_copy or None))
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable) as exc:
            self._beats_refused = True
            log.warning("%s: this kiosk cannot write its fleet heartbeat (%s); see docs/shared-gallery.md: roles",
                        self.where, first_line(exc, self.url))

    def fleet(self) -> list[KioskBeat]:
        """Every kiosk's last heartbeat (a kiosk role: its own site's), by site and kiosk."""
        rows = self._rows("SELECT site, kiosk, role, version, schema_version, online, last_sync, spooled,"
                          " local_copy_at, extract(epoch FROM now() - seen_at) FROM fleet ORDER BY site, kiosk",
                          what="reading the fleet")
        return [KioskBeat(r[0], r[1], r[2], r[3], int(r[4]), bool(r[5]), r[6], int(r[7]), r[8], float(r[9]))
                for r in rows]
