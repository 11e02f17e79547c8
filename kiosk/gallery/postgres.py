"""The shared gallery on PostgreSQL + pgvector: several kiosks, one gallery (issue 12).

Implements kiosk.gallery.api.GalleryStore, like the SQLite `Gallery`, on psycopg 3 with a
small psycopg-pool. Chosen by URL (`postgresql://user@host/db?sslmode=verify-full`, see
kiosk.gallery.open); every libpq option in the URL is passed through; the password is never
printed or logged (`redact_url`).

Guarantees, the same as SQLite's: one transaction per write (a crash mid-enrolment leaves no
half person: the server rolls the open transaction back), a schema version with migrations
(kiosk.gallery.pg_schema, numbered like SQLite's), a newer schema and a model-version mismatch
refused with one line, the HMAC-chained audit log (kiosk.security.audit) written in the same
transaction as the change, retention (`purge_expired`) and erasure.

Privacy: crops and templates are encrypted on the kiosk (AES-256-GCM, the site key of
kiosk.security.site_key, never sent to the server), bound to their person, so the server's
DBA sees names and visits (the site's policy) but no face. Encrypted templates cannot be
searched by pgvector: each kiosk decrypts them once at start into its in-memory matrix
(`templates()`), which is the default. `encrypt_templates=False` (chosen when the gallery is
created, stored in it) keeps templates as plain pgvector columns, so a gallery too big for
memory can be searched on the server (`search`, exact or HNSW after `build_index`); the
DBA can then read templates (crops stay encrypted).

Live sync: every write fires a NOTIFY (statement triggers), and the triggers note which
people changed in `gallery_changes`. A listener thread bumps `data_version()`; `templates()`
then refetches only the people that changed. When the server is unreachable the kiosk keeps
its loaded matrix, `record_visit` goes to an encrypted local spool (kiosk.gallery.spool) that
is flushed, idempotently by event id, when the server is back; other writes are refused with
a clear message; `status()` says so for the staff screen.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import psycopg

from kiosk.errors import KioskError
from kiosk.gallery.frontdesk_sql import FrontDeskSql
from kiosk.gallery.local_copy import default_local_copy_path
from kiosk.gallery.pg_connection import GalleryOfflineError, GalleryStatus, redact_url, site_ref
from kiosk.gallery.pg_fleet import HEARTBEAT_S, PgFleet
from kiosk.gallery.pg_migrate import wrong_key_message
from kiosk.gallery.pg_people import PgPeople
from kiosk.gallery.pg_schema import CHANNEL, REKEY_PAYLOAD
from kiosk.gallery.pg_visits import PgVisits
from kiosk.security.site_key import key_check

log = logging.getLogger(__name__)


class PgGallery(PgPeople, FrontDeskSql, PgVisits, PgFleet):
    """The gallery in a PostgreSQL database (with pgvector). Thread-safe; one per process.

    `create=False` refuses a database without a gallery; `encrypt_templates` only matters for
    a new gallery; `migrate` upgrades a gallery of an older schema (`gallery migrate`; a kiosk
    refuses one instead); `actor` names who acts in the audit log; `site` and `kiosk` go on
    visits recorded without their own; `spool_path` is the local visit spool (default: the data
    folder); `listen=False` starts no listener thread (one-shot CLI commands). A listening
    gallery is a kiosk: it keeps a local copy (`local_copy`, default: the data folder; False:
    none) to start from when the server is down, and writes a fleet heartbeat.

    Built in parts, one concern each: the connection, pool, schema and audit log
    (pg_connection, pg_migrate), row MACs (pg_integrity), templates (pg_templates), people and
    samples (pg_people, with the SQL both backends share: people_sql, frontdesk_sql), visits,
    the spool and settings (pg_visits), heartbeats (pg_fleet); here: starting and stopping, and
    the change listener.
    """

    def __init__(self, url: str, *, create: bool = True, encrypt_templates: bool = True, actor: str = "app",
                 site: str = "", kiosk: str = "", spool_path: str | Path | None = None,
                 keys_dir: Path | None = None, listen: bool = True, connect_timeout: float = 5.0,
                 migrate: bool = False, local_copy: str | Path | bool | None = None) -> None:
        copy_path: str | Path | None = None
        if local_copy is None and listen:
            copy_path = default_local_copy_path(site_ref(url))
        elif local_copy not in (None, False, True):
            copy_path = local_copy  # type: ignore[assignment]  # a path, by the test above
        self._cache = {}
        super().__init__(url, create=create, encrypt_templates=encrypt_templates, actor=actor, site=site,
                         kiosk=kiosk, spool_path=spool_path, keys_dir=keys_dir, connect_timeout=connect_timeout,
                         migrate=migrate, local_copy=copy_path)
        if self.migrated_from and self.migrated_from < 6 <= self.schema_version:
            with self._transaction("sealing the rows of the migrated gallery") as conn:
                people, visits = self.seal_unsealed(conn)
                self._audit(conn, "gallery_migrate", "gallery", {"from": self.migrated_from, "to": self.schema_version,
                                                                 "people_sealed": people, "visits_sealed": visits})
        self._flush_spool()
        if listen:
            self._listener = threading.Thread(target=self._listen, name="gallery-listener", daemon=True)
            self._listener.start()

    def __enter__(self) -> PgGallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the listener ----------------------------------------------------------------------

    def _listen(self) -> None:
        """LISTEN for changes; bump data_version on each; notice the server going and coming back;
        write the fleet heartbeat; notice the site key being replaced (gallery rekey)."""
        backoff = 0.25
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, **self._kwargs) as conn:
                    if self._pool is None and self._come_online_from_copy():
                        continue
                    conn.execute(f"LISTEN {CHANNEL}")
                    if not self._online:
                        if not self._key_still_valid(conn):
                            raise _KeyRetired
                        log.warning("%s: the shared gallery is back online", self.where)
                        old, self._pool = self._pool, self._new_pool()
                        if old is not None:
                            threading.Thread(target=old.close, kwargs={"timeout": 5}, daemon=True).start()
                        self._online = True
                    self._bump()  # anything may have changed while nobody listened
                    self._flush_spool()
                    self.heartbeat(conn)
                    backoff = 0.25
                    idle = 0
                    while not self._stop.is_set():
                        notes = list(conn.notifies(timeout=0.5, stop_after=1))  # back on the first
                        if notes:
                            if any(n.payload == REKEY_PAYLOAD for n in notes) and not self._key_still_valid(conn):
                                raise _KeyRetired
                            self._bump()
                            idle = 0
                            continue
                        idle += 1
                        if idle % 10 == 0:  # a heartbeat: a silent network loss shows too
                            conn.execute("SELECT 1")
                            if self._spool is not None and self._spool.count():
                                self._flush_spool()
                        if idle % int(HEARTBEAT_S / 0.5) == 0 or self.last_sync != self._beat_sync:
                            self.heartbeat(conn)
            except _KeyRetired:
                self._stop.wait(30.0)  # nothing to do until someone imports the new key and restarts
            except (psycopg.Error, OSError) as exc:
                if self._stop.is_set():
                    return
                self._set_offline(exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:  # never let the listener die: the kiosk would stop syncing silently
                log.exception("%s: the change listener failed; restarting it", self.where)
                self._bump()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _come_online_from_copy(self) -> bool:
        """The server answered a kiosk that started offline: open the gallery properly. True
        when it cannot be used yet (the kiosk stays on its copy and tries again later)."""
        try:
            if self._start_from_listener():
                with self._lock:
                    self._cache.clear()  # another gallery than the copy's: load it all
        except KioskError as exc:
            self._offline_reason = str(exc)
            log.warning("%s", exc)
            self._stop.wait(30.0)
            return True
        return False

    def _key_still_valid(self, conn: psycopg.Connection) -> bool:
        """Whether the gallery still takes this kiosk's site key (a rekey replaces it)."""
        meta: dict[str, str] = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('key_check', 'rekeyed_at')").fetchall())
        if self._key is not None and meta.get("key_check") == key_check(self._key.key):
            return True
        reason = wrong_key_message(self.where, self.key, meta) if self._key is not None \
            else f"{self.where}: no site key on this kiosk"
        if reason != self._offline_reason:  # said once, not at every retry
            log.error("%s", reason)
        self._online = False
        self._offline_reason = reason
        return False


class _KeyRetired(Exception):
    """The gallery was re-keyed: this kiosk's key no longer opens it."""


__all__ = ["GalleryOfflineError", "GalleryStatus", "PgGallery", "redact_url", "site_ref"]
