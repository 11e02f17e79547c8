"""Opening a shared gallery's schema: create a new one, check an existing one, or migrate it.

A kiosk never migrates a gallery implicitly: a gallery made by an older face-kiosk is refused
in one line naming `face-kiosk gallery migrate`, which the gallery's owner runs once (with
`--dry-run` to see the steps first). A new, empty database is still made into a gallery by the
first enrolment (or by `gallery migrate`). Rolling upgrades: `meta.min_schema` is the oldest
face-kiosk schema that can use the gallery, so a later migration that only adds things keeps
it, and kiosks one version behind keep running while the others are upgraded.

The site key is found by the gallery id stored in `meta` (kiosk.security.site_key), so it
does not depend on how the URL is spelt; a new gallery's key is made here and announced once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.errors import GalleryError, KioskError
from kiosk.gallery.api import now_iso
from kiosk.gallery.pg_schema import (
    DESCRIPTIONS,
    MIGRATIONS,
    MIN_SCHEMA,
    SCHEMA_VERSION,
    PgAuditStore,
)
from kiosk.security.audit import AuditLog
from kiosk.security.keys import GalleryKey
from kiosk.security.site_key import SiteKey, announce_new_key, key_check, load_site_key

log = logging.getLogger("kiosk.gallery.postgres")  # one logger for the whole backend

MIGRATE_LOCK = 0x6B696F736B01  # one migration at a time (pg_advisory_xact_lock; the key of schema 4 too)
MIGRATE_HINT = "face-kiosk gallery migrate --db URL"


@dataclass(frozen=True)
class SchemaState:
    """What a kiosk needs to know of an opened gallery."""

    gallery_id: str
    key: GalleryKey
    schema_version: int
    templates_encrypted: bool
    migrated_from: int  # the version before this open (the same when nothing ran)
    role_site: str | None  # the site a kiosk role is bound to (kiosk_roles), None for other roles


def _one(conn: Any, sql: str) -> Any:
    row = conn.execute(sql).fetchone()
    return row[0] if row else None


def read_meta(conn: Any, where: str) -> dict[str, str]:
    """The meta table ({} for an empty database); GalleryError for a foreign 'people' table."""
    if _one(conn, "SELECT to_regclass('meta') IS NOT NULL"):
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if _one(conn, "SELECT to_regclass('people') IS NOT NULL"):
        raise GalleryError(f"{where}: this database holds a 'people' table but no face-kiosk gallery")
    return {}


def pending_steps(meta: dict[str, str]) -> list[str]:
    """What `gallery migrate` would do, one line per step ([] when up to date)."""
    version = int(meta.get("schema_version", "0"))
    return [f"{i + 1}: {DESCRIPTIONS[i]}" for i in range(version, SCHEMA_VERSION)]


def check_version(meta: dict[str, str], where: str) -> int:
    """The stored version; GalleryError when this face-kiosk is too old for it."""
    version = int(meta.get("schema_version", "0"))
    if version > SCHEMA_VERSION and int(meta.get("min_schema", str(version))) > SCHEMA_VERSION:
        raise GalleryError(f"{where}: made by a newer face-kiosk (schema {version}, this one reads up to "
                           f"{SCHEMA_VERSION}); update face-kiosk")
    return version


def open_schema(conn: Any, *, where: str, ref: str, create: bool, migrate: bool, keys_dir: Path | None,
                encrypt_templates: bool) -> SchemaState:
    """Check (and with `create` make, with `migrate` upgrade) the gallery in one transaction,
    and find its site key. KioskError in one line for everything that stops a kiosk."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        meta = read_meta(conn, where)
        version = check_version(meta, where)
        if not version and not (create or migrate):
            raise GalleryError(f"{where}: no gallery here (enroll someone first, or check --db)")
        if version and version < SCHEMA_VERSION and not migrate:
            raise GalleryError(f"{where}: made by an older face-kiosk (schema {version}; this one needs "
                               f"{SCHEMA_VERSION}): the gallery's owner runs `{MIGRATE_HINT}` once "
                               "(docs/shared-gallery.md: upgrading)")
        gallery_id = meta.get("gallery_id") or uuid.uuid4().hex
        key = load_site_key(gallery_id, create=not version, keys_dir=keys_dir, legacy_ref=ref)
        if isinstance(key, SiteKey) and key.created:
            log.warning("%s", announce_new_key(where, key))
        if version and meta.get("key_check") != key_check(key.key):
            raise KioskError(wrong_key_message(where, key, meta))
        if version < SCHEMA_VERSION:
            for step in MIGRATIONS[version:]:
                step(conn)
            audit = AuditLog(PgAuditStore(conn), key.key)
            audit.create_schema()  # seals the first head (idempotent)
            if version and version < 5:
                seal_for_schema_5(conn, audit, key.key, gallery_id)
            for k, v in (("schema_version", str(SCHEMA_VERSION)), ("min_schema", str(MIN_SCHEMA))):
                conn.execute("INSERT INTO meta(key, value) VALUES (%s, %s)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (k, v))
            for k, v in (("created_at", now_iso()), ("gallery_id", gallery_id),
                         ("key_check", key_check(key.key)), ("templates_encrypted", "1" if encrypt_templates else "0")):
                conn.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (k, v))
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        role_site = _one(conn, "SELECT fk_role_site(current_user)") if int(meta["schema_version"]) >= 6 else None
    return SchemaState(meta["gallery_id"], key, int(meta["schema_version"]),
                       meta.get("templates_encrypted", "1") == "1", version, role_site)


def wrong_key_message(where: str, key: GalleryKey, meta: dict[str, str]) -> str:
    """One line for a kiosk whose site key is not (or no longer) the gallery's."""
    if meta.get("rekeyed_at"):
        return (f"{where}: the site key ({key.location}) is not this gallery's: it was replaced on "
                f"{meta['rekeyed_at']} (gallery rekey); import the new one: `face-kiosk gallery key import FILE`")
    return (f"{where}: the site key ({key.location}) is not this gallery's; use the key of the kiosk that "
            "created it (`face-kiosk gallery key export` there, `gallery key import` here, or FACE_KIOSK_SITE_KEY)")


def seal_for_schema_5(conn: Any, audit: AuditLog, key: bytes, gallery_id: str) -> None:
    """Photo paths to keyed hashes of their names, the PIN sealed for schema 5
    (kiosk.gallery.sealing): the part of the security audit's step that needs the site key,
    in the migration's transaction."""
    from kiosk.gallery.admin_pin import LOCKOUT_RECORDS
    from kiosk.gallery.sealing import reseal_pin
    from kiosk.gallery.stored_faces import photo_provenance

    for table in ("samples", "templates"):
        for (source,) in conn.execute(f"SELECT DISTINCT source FROM {table}").fetchall():  # noqa: S608
            conn.execute(f"UPDATE {table} SET source = %s WHERE source = %s",  # noqa: S608 - fixed names
                         (photo_provenance(source, key), source))

    def get(name: str) -> str | None:
        row = conn.execute("SELECT value FROM settings WHERE key = %s", (name,)).fetchone()
        return str(row[0]) if row else None

    def put(name: str, value: str) -> None:
        conn.execute("INSERT INTO settings(key, value) VALUES (%s, %s)"
                     " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (name, value))

    # Schema 4 bound the lockout to the same id (PostgreSQL galleries always had their own).
    reseal_pin(get, put, key, gallery_id, gallery_id, audit.tail(LOCKOUT_RECORDS))
