"""MACs on the rows a DBA can write: people (name, host, retention, consent, ...) and visits.

On a shared gallery the server's administrator can change any plain column. Faces are
encrypted and bound to their person (kiosk.security.site_key.BlobCipher), but a name is
plain text: `UPDATE people SET name = 'Mallory'` would make every kiosk greet Mallory. So the
app writes, with each row, an HMAC-SHA256 over its fields under a key derived from the site
key (which the server never holds), bound to the gallery and to the row: the person's id, or
the visit's event id (unique, chosen by the kiosk before the server numbers the row). A row
whose MAC does not match was changed outside face-kiosk: it is shown as such and never
greeted by the edited name (kiosk.gallery.pg_people, pg_templates, pg_visits).

What a MAC cannot show (docs/shared-gallery.md says it too): a deleted row (nothing is left
to check; the audit log still has its enrolment), and a row put back as it was earlier with
its earlier MAC (a replay of a name the person had before).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.security.audit import canonical_json

#: What is shown instead of a name from a row that was changed outside the app.
EDITED_LABEL = "(edited outside face-kiosk)"
#: The people columns a MAC covers (besides the id), in the order the queries select them.
PERSON_SEALED = ("uid", "name", "company", "host", "notes", "consent_at", "consent_text", "retention_until",
                 "kind", "is_host", "contact", "host_id", "agreement_version", "agreement_at")
#: The visits columns a MAC covers; the event id binds it to its row.
VISIT_SEALED = ("event_id", "person_id", "ts", "kind", "score", "masked", "source", "site", "kiosk")


def row_key(site_key: bytes) -> bytes:
    """The rows' HMAC key, derived from the site key (a separate key per purpose)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"face-kiosk row mac v1").derive(site_key)


def _mac(key: bytes, gallery_id: str, table: str, bound: str, fields: Mapping[str, Any]) -> str:
    body = canonical_json({"v": 1, "gallery": gallery_id, "table": table, "row": bound, "fields": dict(fields)})
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def person_mac(key: bytes, gallery_id: str, person_id: int, values: tuple[Any, ...]) -> str:
    """The MAC of a people row: `values` in PERSON_SEALED order."""
    return _mac(key, gallery_id, "people", str(int(person_id)), dict(zip(PERSON_SEALED, values, strict=True)))


def visit_mac(key: bytes, gallery_id: str, values: tuple[Any, ...]) -> str:
    """The MAC of a visits row: `values` in VISIT_SEALED order (the event id first)."""
    fields = dict(zip(VISIT_SEALED, values, strict=True))
    fields["masked"] = bool(fields["masked"])
    fields["score"] = None if fields["score"] is None else float(fields["score"])
    return _mac(key, gallery_id, "visits", str(fields["event_id"]), fields)


def mac_ok(expected: str, stored: str | None) -> bool:
    """Whether a stored MAC is the expected one (constant time; a missing MAC is not)."""
    return stored is not None and hmac.compare_digest(expected, str(stored))
