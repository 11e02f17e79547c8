"""`gallery rekey` on a shared gallery: a new site key, and everything sealed with the old one
re-sealed with it (a kiosk was stolen, or the key leaked).

Order, so that a crash anywhere loses nothing and a second run continues where the first
stopped:

1. The new key is made and stored on this machine (the "next" slot of kiosk.security.site_key)
   before anything is written with it; the gallery records its check value (`meta.rekey_to`).
   A second run finds both and resumes; a run on another machine is refused (its key is here).
2. People in batches of `batch` (one transaction each, by ascending id): the crops, the
   templates and the row's MAC re-sealed; `meta.rekey_people` says how far it got. Blobs are
   opened with either key, so a batch repeated after a crash is harmless.
3. Visits' MACs, in batches likewise (`meta.rekey_visits`).
4. One last transaction, with new writes held off (table locks): what was added meanwhile, the
   admin PIN's hash and lockout (sealed again at the same audit seq), the audit log re-signed (its rows keep every field; only the MACs change, so
   the append-only trigger is set aside inside this transaction: the gallery's owner runs
   rekey), the new check value and `meta.rekeyed_at`, a `gallery_rekey` audit record, and a
   NOTIFY that tells every kiosk to check its key. Kiosks with the old key are refused from
   then on (one line naming `gallery key import`).
5. The new key becomes this machine's current key; the old one is forgotten here, and what
   this machine saw of the log (kiosk.security.audit_anchor) is the re-signed log. Other
   kiosks' records of it name macs the rekey replaced: they compare only sequence numbers up
   to the `gallery_rekey` record (PgConnection._resigned_since).

A row whose MAC already failed under the old key (edited outside face-kiosk) is not blessed by
the rekey: it gets a MAC that fails under the new key too, and stays flagged.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from kiosk.errors import GalleryError, KioskError
from kiosk.gallery.api import now_iso
from kiosk.gallery.pg_connection import AUDIT_LOCK
from kiosk.gallery.pg_integrity import PERSON_CHECK_COLUMNS, VISIT_CHECK_COLUMNS
from kiosk.gallery.pg_schema import CHANNEL, REKEY_PAYLOAD, PgAuditStore
from kiosk.gallery.resealing import reseal_pin, resign_audit
from kiosk.gallery.row_seal import mac_ok, person_mac, row_key, visit_mac
from kiosk.security.audit import (
    AuditAction,
    AuditLog,
)
from kiosk.security.keys import KEY_BYTES, GalleryKey
from kiosk.security.site_key import (
    BlobCipher,
    find_site_key,
    forget_site_key,
    key_check,
    store_site_key,
)

_BROKEN = "edited-before-rekey"  # the MAC kept for a row that was already edited: fails under any key


@dataclass(frozen=True)
class RekeyReport:
    """What the rekey re-sealed, and where the new key is."""

    people: int
    samples: int
    templates: int
    visits: int
    audit_records: int
    key: GalleryKey
    resumed: bool


class _Keys:
    """The old and the new key of one rekey, and re-sealing with them."""

    def __init__(self, gallery_id: str, old: bytes, new: bytes) -> None:
        self.gallery_id = gallery_id
        self.old, self.new = old, new
        self._old_blobs, self._new_blobs = BlobCipher(old), BlobCipher(new)
        self._old_rows, self._new_rows = row_key(old), row_key(new)

    def blob(self, blob: bytes | None, aad: str) -> bytes | None:
        """The blob sealed with the new key (as it is when a crashed run already did it)."""
        if blob is None:
            return None
        try:
            return self._new_blobs.encrypt(self._old_blobs.decrypt(blob, aad), aad)
        except KioskError:
            self._new_blobs.decrypt(blob, aad)  # raises when it opens with neither key
            return bytes(blob)

    def person(self, row: tuple[Any, ...]) -> str:
        pid, values, mac = int(row[0]), tuple(row[1:-1]), row[-1]
        new = person_mac(self._new_rows, self.gallery_id, pid, values)
        ok = mac_ok(person_mac(self._old_rows, self.gallery_id, pid, values), mac) or mac_ok(new, mac)
        return new if ok else _BROKEN

    def visit(self, row: tuple[Any, ...]) -> str:
        values, mac = tuple(row[:-1]), row[-1]
        new = visit_mac(self._new_rows, self.gallery_id, values)
        ok = mac_ok(visit_mac(self._old_rows, self.gallery_id, values), mac) or mac_ok(new, mac)
        return new if ok else _BROKEN


def _meta(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def _set_meta(conn: psycopg.Connection, **values: str) -> None:
    for k, v in values.items():
        conn.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     (k, v))


def rekey_gallery(gallery: Any, *, batch: int = 200, progress: Callable[[str], None] = lambda _: None,
                  stop_after_batches: int | None = None) -> RekeyReport:
    """Re-seal the PgGallery `gallery` (opened by its owner, no listener) with a new site key.
    `stop_after_batches` stops early (a crash, for tests): a second call resumes."""
    verdict = gallery.verify_audit()
    if not verdict.ok:
        raise GalleryError(f"{gallery.where}: the audit log is not intact ({verdict.reason}); check it with "
                           "`audit verify` before a rekey, which re-signs it")
    gid, old = gallery.gallery_id, gallery.key.key
    with gallery._conn("rekeying") as conn:
        meta = _meta(conn)
    pending = find_site_key(gid, keys_dir=gallery._keys_dir, slot="next")
    resumed = bool(meta.get("rekey_to"))
    if resumed:
        if pending is None or key_check(pending.key) != meta["rekey_to"]:
            raise KioskError(f"{gallery.where}: a rekey was started on another machine (its new key is there); "
                             "finish it there")
        new = pending.key
        progress("resuming the rekey started before")
    else:
        if pending is not None:
            forget_site_key(gid, keys_dir=gallery._keys_dir, slot="next")  # left by a run that wrote nothing
        new = store_site_key(gid, secrets.token_bytes(KEY_BYTES), keys_dir=gallery._keys_dir, slot="next").key
        with gallery._transaction("starting the rekey", audited=False) as conn:
            _set_meta(conn, rekey_to=key_check(new), rekey_people="0", rekey_visits="0")
    keys = _Keys(gid, old, new)
    counts = {"people": 0, "samples": 0, "templates": 0, "visits": 0}
    batches = 0
    for table in ("people", "visits"):
        while stop_after_batches is None or batches < stop_after_batches:
            with gallery._transaction(f"rekeying {table}", audited=False) as conn:
                done = _reseal_batch(conn, keys, table, batch, counts)
            batches += 1
            if not done:
                break
            progress(f"{table}: {counts[table]} re-sealed")
    if stop_after_batches is not None and batches >= stop_after_batches:
        return RekeyReport(counts["people"], counts["samples"], counts["templates"], counts["visits"], 0,
                           GalleryKey(new, "file", "(pending)"), resumed)
    with gallery._transaction("finishing the rekey", audited=False) as conn:
        conn.execute("LOCK TABLE people, samples, templates, visits, settings IN SHARE ROW EXCLUSIVE MODE")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
        for table in ("people", "visits"):
            while _reseal_batch(conn, keys, table, batch, counts):
                pass
        _reseal_pin_settings(conn, gid, old, new)
        n_audit = _resign_audit(conn, old, new)
        conn.execute("DELETE FROM meta WHERE key IN ('rekey_to', 'rekey_people', 'rekey_visits')")
        _set_meta(conn, key_check=key_check(new), rekeyed_at=now_iso())
        record = AuditLog(PgAuditStore(conn), new).append(AuditAction.GALLERY_REKEY, gallery.actor, "gallery", {
            **{f"{k}_resealed": v for k, v in counts.items()}, "audit_records": n_audit, "resumed": resumed})
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, REKEY_PAYLOAD))
    stored = store_site_key(gid, new, keys_dir=gallery._keys_dir, replace=True)
    forget_site_key(gid, keys_dir=gallery._keys_dir, slot="next")
    gallery._use_key(stored, gid)
    # Every record's mac changed: what this computer saw is the re-signed log now.
    gallery.guard.accept(record.seq, record.mac)
    return RekeyReport(counts["people"], counts["samples"], counts["templates"], counts["visits"], n_audit + 1,
                       stored, resumed)


def _reseal_batch(conn: psycopg.Connection, keys: _Keys, table: str, batch: int, counts: dict[str, int]) -> bool:
    """Re-seal the next `batch` rows of `table` after the stored progress; False when none was left."""
    mark = f"rekey_{table}"
    row = conn.execute("SELECT value FROM meta WHERE key = %s FOR UPDATE", (mark,)).fetchone()
    after = int(row[0]) if row else 0
    if table == "people":
        rows = conn.execute(f"SELECT {PERSON_CHECK_COLUMNS} FROM people WHERE id > %s ORDER BY id LIMIT %s",  # noqa: S608
                            (after, batch)).fetchall()
        for r in rows:
            _reseal_person(conn, keys, int(r[0]), counts)
            conn.execute("UPDATE people SET mac = %s WHERE id = %s", (keys.person(r), r[0]))
        counts["people"] += len(rows)
    else:
        rows = conn.execute(f"SELECT id, {VISIT_CHECK_COLUMNS} FROM visits WHERE id > %s ORDER BY id LIMIT %s",  # noqa: S608
                            (after, batch)).fetchall()
        for r in rows:
            conn.execute("UPDATE visits SET mac = %s WHERE id = %s", (keys.visit(tuple(r[1:])), r[0]))
        counts["visits"] += len(rows)
    if rows:
        _set_meta(conn, **{mark: str(int(rows[-1][0]))})
    return bool(rows)


def _aad(gallery_id: str, what: str, person_id: int, extra: str = "") -> str:
    return f"face-kiosk|{gallery_id}|{what}|{person_id}|{extra}"  # as PgConnection._aad


def _reseal_person(conn: psycopg.Connection, keys: _Keys, pid: int, counts: dict[str, int]) -> None:
    gid = keys.gallery_id
    for sid, aligned, face in conn.execute("SELECT id, aligned_png, face_png FROM samples WHERE person_id = %s",
                                           (pid,)).fetchall():
        conn.execute("UPDATE samples SET aligned_png = %s, face_png = %s WHERE id = %s",
                     (keys.blob(aligned, _aad(gid, "aligned", pid)), keys.blob(face, _aad(gid, "face", pid)), sid))
        counts["samples"] += 1
    for tid, version, kind, enc in conn.execute(
            "SELECT id, model_version, kind, embedding_enc FROM templates WHERE person_id = %s AND embedding_enc"
            " IS NOT NULL", (pid,)).fetchall():
        conn.execute("UPDATE templates SET embedding_enc = %s WHERE id = %s",
                     (keys.blob(enc, _aad(gid, "template", pid, f"{version}|{kind}")), tid))
        counts["templates"] += 1


def _reseal_pin_settings(conn: psycopg.Connection, gallery_id: str, old: bytes, new: bytes) -> None:
    def get(name: str) -> str | None:
        row = conn.execute("SELECT value FROM settings WHERE key = %s", (name,)).fetchone()
        return str(row[0]) if row else None

    def put(name: str, value: str) -> None:
        conn.execute("UPDATE settings SET value = %s WHERE key = %s", (value, name))

    reseal_pin(get, put, old, new, gallery_id)


def _resign_audit(conn: psycopg.Connection, old: bytes, new: bytes) -> int:
    """Every audit record's MAC chain and the head, under the new key (the fields unchanged)."""
    def update(seq: int, prev: str, mac: str) -> None:
        conn.execute("UPDATE audit SET prev_mac = %s, mac = %s WHERE seq = %s", (prev, mac, seq))

    # Set aside inside this transaction only: a failure rolls the ALTER back with the rest.
    conn.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_edit")
    try:
        n = resign_audit(PgAuditStore(conn), old, new, update)
    except GalleryError:
        raise GalleryError("the audit log changed during the rekey; nothing was re-signed") from None
    conn.execute("ALTER TABLE audit ENABLE TRIGGER audit_no_edit")
    return n
