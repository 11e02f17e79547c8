"""`gallery rekey` on a gallery file: a new SQLCipher key, and everything the old key sealed
sealed again with it (kiosk.gallery.resealing): the audit log re-signed, the admin PIN's hash
and lockout, and a `gallery_rekey` record, all in the rekey's own transaction
(kiosk.security.sqlcipher.rekey), so a crash leaves the old key with the old seals or the new
key with the new ones. The file's integrity key is its SQLCipher key, so without this the PIN
would be refused and `audit verify` would fail after every rekey.

Afterwards what this computer saw of the log (kiosk.security.audit_anchor) is the re-signed log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiosk.errors import GalleryError
from kiosk.gallery.resealing import reseal_pin, resign_audit
from kiosk.gallery.sqlite_connection import SqliteConnection
from kiosk.security.audit import AuditAction, AuditLog, AuditRecord, SqliteAuditStore
from kiosk.security.audit_anchor import GalleryGuard
from kiosk.security.encrypted_gallery import rotate_key
from kiosk.security.keys import GalleryKey


def rekey_file_gallery(path: Path, actor: str = "cli", *, keys_dir: Path | None = None) -> tuple[GalleryKey, AuditRecord]:
    """Give the gallery file at `path` a new key (kiosk stopped); returns the new key's record
    and the `gallery_rekey` audit record. Refused while its audit log is not intact (the
    re-signing would hide a break)."""
    with SqliteConnection(path, create=False, actor=actor) as gallery:
        verdict = gallery.verify_audit()
        if not verdict.ok:
            raise GalleryError(f"{path}: the audit log is not intact ({verdict.reason}); check it with "
                               "`audit verify` (and `audit recover`) before a rekey, which re-signs it")
        gallery_id, guard = gallery.gallery_id, gallery.guard
    written: list[AuditRecord] = []

    def within(conn: Any, old: bytes, new: bytes) -> None:
        store = SqliteAuditStore(conn)
        # The append-only trigger is set aside inside this transaction only (the owner rekeys).
        conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
        n = resign_audit(store, old, new, lambda seq, prev, mac: conn.execute(
            "UPDATE audit SET prev_mac = ?, mac = ? WHERE seq = ?", (prev, mac, seq)))
        store.create_schema()  # the trigger again

        def get(name: str) -> str | None:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (name,)).fetchone()
            return str(row[0]) if row else None

        reseal_pin(get, lambda name, value: conn.execute("UPDATE settings SET value = ? WHERE key = ?", (value, name)),
                   old, new, gallery_id)
        written.append(AuditLog(store, new).append(AuditAction.GALLERY_REKEY, actor, "gallery",
                                                   {"audit_records": n}))

    key = rotate_key(path, keys_dir=keys_dir, within=within)
    record = written[-1]
    GalleryGuard(guard.path).accept(record.seq, record.mac)
    return key, record
