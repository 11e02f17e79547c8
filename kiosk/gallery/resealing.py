"""What a new gallery key must carry over, for both backends' `gallery rekey`: the audit log
re-signed (every record keeps its fields and seq; only the macs and the sealed head change)
and the admin PIN's hash and lockout sealed again at the same point of the log. Without it
`audit verify` fails and no PIN is accepted after a rekey (the macs were made with the old key).

A value that does not open under the old key (edited outside face-kiosk) is left as it is: it
fails under the new key too, so a rekey never blesses an edit. A log that does not verify
under the old key is not re-signed at all (the caller refuses the rekey first).
"""

from __future__ import annotations

from collections.abc import Callable

from kiosk.errors import GalleryError
from kiosk.gallery.admin_pin import HASH_KEY, LOCKOUT_KEY
from kiosk.security.audit import (
    GENESIS,
    AuditHead,
    AuditLog,
    AuditRecord,
    AuditStore,
    audit_key,
    compute_mac,
    seal_head,
)
from kiosk.security.pin_policy import LockoutState, open_pin_hash, seal, seal_pin_hash, unseal


def resign_audit(store: AuditStore, old: bytes, new: bytes, update: Callable[[int, str, str], None]) -> int:
    """Re-sign every record of `store` under `new` (after checking the chain under `old`):
    `update(seq, prev_mac, mac)` writes one record's macs (the caller has set the append-only
    trigger aside inside its transaction); the head is sealed again. Returns how many records."""
    if not AuditLog(store, old).verify().ok:
        raise GalleryError("the audit log does not verify under the old key; nothing was re-signed")
    key = audit_key(new)
    records: list[AuditRecord] = list(store.records())
    prev = GENESIS
    for r in records:
        mac = compute_mac(key, r.seq, r.ts, r.actor, r.action, r.subject, r.details, prev)
        update(r.seq, prev, mac)
        prev = mac
    store.set_head(seal_head(key, AuditHead(records[-1].seq if records else 0, prev)))
    return len(records)


def reseal_pin(get: Callable[[str], str | None], put: Callable[[str, str], None], old: bytes, new: bytes,
               gallery_id: str) -> None:
    """The admin PIN's hash and lockout, sealed with `new` at the audit seq they were sealed at."""
    stored = get(HASH_KEY)
    opened = open_pin_hash(stored, old, gallery_id) if stored else None
    if opened is not None:
        put(HASH_KEY, seal_pin_hash(opened[0], new, gallery_id, opened[1]))
    lockout = get(LOCKOUT_KEY)
    if lockout is not None:
        state = unseal(lockout, old, gallery_id, expected=True)
        if not state.tampered:
            put(LOCKOUT_KEY, seal(LockoutState(state.failures, state.locked_until), new, gallery_id, state.seq))
