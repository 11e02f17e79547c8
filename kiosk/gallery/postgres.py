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

from kiosk.gallery.pg_connection import GalleryOfflineError, GalleryStatus, redact_url, site_ref
from kiosk.gallery.pg_frontdesk import PgFrontDesk
from kiosk.gallery.pg_schema import CHANNEL
from kiosk.gallery.pg_visits import PgVisits

log = logging.getLogger(__name__)


class PgGallery(PgFrontDesk, PgVisits):
    """The gallery in a PostgreSQL database (with pgvector). Thread-safe; one per process.

    `create=False` refuses a database without a gallery; `encrypt_templates` only matters for
    a new gallery; `actor` names who acts in the audit log; `site` and `kiosk` go on visits
    recorded without their own; `spool_path` is the local visit spool (default: the data
    folder); `listen=False` starts no listener thread (one-shot CLI commands).

    Built in parts, one concern each: the connection, pool, schema and audit log
    (pg_connection), templates (pg_templates), people and samples (pg_people), the front desk
    (pg_frontdesk), visits, the spool and settings (pg_visits); here: starting and stopping, and the change listener.
    """

    def __init__(self, url: str, *, create: bool = True, encrypt_templates: bool = True, actor: str = "app",
                 site: str = "", kiosk: str = "", spool_path: str | Path | None = None,
                 keys_dir: Path | None = None, listen: bool = True, connect_timeout: float = 5.0) -> None:
        super().__init__(url, create=create, encrypt_templates=encrypt_templates, actor=actor, site=site,
                         kiosk=kiosk, spool_path=spool_path, keys_dir=keys_dir, connect_timeout=connect_timeout)
        self._cache = {}
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
        """LISTEN for changes; bump data_version on each; notice the server going and coming back."""
        backoff = 0.25
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, **self._kwargs) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if not self._online:
                        log.warning("%s: the shared gallery is back online", self.where)
                        old, self._pool = self._pool, self._new_pool()
                        threading.Thread(target=old.close, kwargs={"timeout": 5}, daemon=True).start()
                        self._online = True
                    self._bump()  # anything may have changed while nobody listened
                    self._flush_spool()
                    backoff = 0.25
                    idle = 0
                    while not self._stop.is_set():
                        got = sum(1 for _ in conn.notifies(timeout=0.5, stop_after=1))  # back on the first
                        if got:
                            self._bump()
                            idle = 0
                            continue
                        idle += 1
                        if idle % 10 == 0:  # a heartbeat: a silent network loss shows too
                            conn.execute("SELECT 1")
                            if self._spool is not None and self._spool.count():
                                self._flush_spool()
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


__all__ = ["GalleryOfflineError", "GalleryStatus", "PgGallery", "redact_url", "site_ref"]
