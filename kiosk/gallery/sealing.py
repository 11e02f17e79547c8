"""Schema 5's rewrite of what schema 4 stored in a weaker form, for both backends: photo paths
become keyed hashes of their file names (kiosk.gallery.stored_faces.photo_provenance), and the
admin PIN's hash and lockout state are sealed again, bound to the gallery's own id and to the
audit log (kiosk.security.pin_policy). It needs the gallery's key, which a schema migration
step does not have: each backend's connection runs it right after the steps, in the same
transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kiosk.gallery.admin_pin import HASH_KEY, LOCKOUT_KEY, PIN_RECORDS, PinPolicy
from kiosk.security.audit import AuditTail
from kiosk.security.pin_policy import (
    LockoutState,
    open_pin_hash,
    seal,
    seal_pin_hash,
    strictest,
    unseal_legacy,
)


def reseal_pin(get: Callable[[str], str | None], put: Callable[[str, str], None], key: bytes, gallery_id: str,
               legacy_id: str, tail: AuditTail) -> None:
    """Seal a schema 4 PIN hash and lockout state for schema 5.

    The hash is bound to the audit record that set it last (seq 0 when none did: a PIN copied
    by `gallery copy` before this version). A lockout state that verifies under the old seal
    (bound to `legacy_id`, the gallery's path or, on PostgreSQL, its id) keeps its count; one
    that does not (edited before the upgrade) becomes the strictest state, as it would have."""
    stored = get(HASH_KEY)
    if stored and open_pin_hash(stored, key, gallery_id) is None and "#" not in stored:
        setter = tail.newest(PIN_RECORDS)
        put(HASH_KEY, seal_pin_hash(stored, key, gallery_id, setter[1] if setter else 0))
    text = get(LOCKOUT_KEY)
    if text is None or text.startswith("v2:"):
        return
    state = unseal_legacy(text, key, legacy_id) or strictest(time.time(), PinPolicy().max_delay_s)
    put(LOCKOUT_KEY, seal(LockoutState(state.failures, state.locked_until), key, gallery_id, tail.last_seq))
