"""An append-only, tamper-evident audit log of what admins did to the gallery.

Each record carries ``mac = HMAC-SHA256(k, canonical_json(v, seq, ts, actor, action,
subject, details, prev_mac))`` where ``prev_mac`` is the previous record's mac (64 zeros for
seq 1) and ``k = HKDF-SHA256(gallery key, info="face-kiosk audit v1")``. A plain hash chain
could be recomputed by whoever edits the database; an HMAC chain cannot without the key.
A second copy of the newest (seq, mac), itself HMAC-tagged, is kept as the head pointer
(the one-row table ``audit_head`` in SQLite) and updated in the same transaction, so cutting
records off the end shows too. The head exists from the moment the schema is made (a sealed
"seq 0" head), so a missing head is always tampering, never "a new log".

`verify` tells apart: "edited" (a record's mac fails, or the chain links a record that was
swapped for another), "reordered", "deleted (gap at seq N)", "duplicated (seq N)",
"truncated at the end", "head pointer missing/edited/behind the log", "audit log missing".

`append` refuses (AuditError) while the head is missing, edited or behind: writing a fresh
head would erase the evidence. An admin then looks at `verify()` and calls `recover`, which
appends an "audit_recover" record saying what was wrong and reseals the head: the break is
kept in the log itself. After a cut at the end, `append` continues after the head's seq, so
the cut stays visible as a gap instead of being refilled.

Limits: a rollback of the whole database to an older copy (records and head together) is
consistent and cannot be seen from inside; each computer's record of the newest head it saw
(kiosk.security.audit_anchor) shows it. Anyone with the gallery key can forge records: the
key is what the kiosk itself uses. The macs matter for plaintext galleries, copies and the
shared PostgreSQL gallery (whose DBA has no key).

No biometric data and no names go in: subjects are ids ("person 12"), and `details` refuses
keys such as "embedding", "image" or "name" and long number lists (a template).

The logic is storage-agnostic (pure functions over `AuditRecord`s); `SqliteAuditStore` holds
SQLite's SQL, kiosk.gallery.pg_schema.PgAuditStore PostgreSQL's (`details` as TEXT: jsonb
would reformat the JSON and break the macs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.errors import KioskError

GENESIS = "0" * 64
FORMAT_VERSION = 1
RECOVER_ACTION = "audit_recover"
_ACTION_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
# Keys that would put biometric data or a name into a log that outlives erasure.
_FORBIDDEN_KEYS = frozenset({
    "embedding", "embeddings", "template", "templates", "vector", "image", "images", "photo",
    "png", "jpeg", "crop", "aligned", "aligned_png", "face", "thumbnail", "name", "names",
})
_MAX_NUMBERS = 32
_MAX_TEXT = 1000


class AuditAction(str, Enum):
    """What happened. Other lowercase identifiers are accepted too (the list can grow)."""

    ENROLL = "enroll"
    UPDATE = "update"
    REMOVE = "remove"
    EXPORT = "export"
    IMPORT = "import"
    PURGE = "purge"
    PIN_SET = "pin_set"
    PIN_CHANGE = "pin_change"
    KIOSK_UNLOCK = "kiosk_unlock"
    PIN_FAILED = "pin_failed"
    GALLERY_ENCRYPT = "gallery_encrypt"
    GALLERY_REKEY = "gallery_rekey"
    ERASE = "erase"


class AuditError(KioskError):
    """The log cannot take a record now (its head is missing or edited: see `verify`)."""


@dataclass(frozen=True)
class AuditRecord:
    """One log entry. `details` is JSON-safe; do not mutate it."""

    seq: int
    ts: str  # UTC, ISO 8601
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any]
    prev_mac: str
    mac: str

    COLUMNS: ClassVar[str] = "seq, ts, actor, action, subject, details, prev_mac, mac"  # as every store keeps it

    def as_row(self) -> tuple[Any, ...]:
        """The record as a row of COLUMNS (details as canonical JSON text)."""
        return (self.seq, self.ts, self.actor, self.action, self.subject,
                canonical_json(self.details).decode("utf-8"), self.prev_mac, self.mac)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> AuditRecord:
        """A record read back from a row of COLUMNS; details that are not a JSON object are kept as text."""
        seq, ts, actor, action, subject, details, prev_mac, mac = row
        try:
            parsed = json.loads(details)
            if not isinstance(parsed, dict):
                raise ValueError
        except (TypeError, ValueError):
            parsed = {"_unparseable": str(details)}  # an edited row: its mac will fail
        return cls(int(seq), str(ts), str(actor), str(action), str(subject), parsed, str(prev_mac), str(mac))


@dataclass(frozen=True)
class AuditHead:
    """The newest record's seq and mac, as kept in the second place."""

    seq: int
    mac: str


@dataclass(frozen=True)
class AuditVerdict:
    """The outcome of `verify`. `first_bad_seq` is None when ok."""

    ok: bool
    count: int
    first_bad_seq: int | None = None
    reason: str = ""


def audit_key(gallery_key: bytes) -> bytes:
    """The log's HMAC key, derived from the gallery key (a separate key per purpose)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"face-kiosk audit v1").derive(gallery_key)


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8, no NaN: the same bytes on every platform."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def compute_mac(
    key: bytes, seq: int, ts: str, actor: str, action: str, subject: str, details: Mapping[str, Any], prev_mac: str
) -> str:
    """The record's HMAC-SHA256, hex."""
    body = canonical_json({
        "v": FORMAT_VERSION, "seq": seq, "ts": ts, "actor": actor, "action": action,
        "subject": subject, "details": dict(details), "prev_mac": prev_mac,
    })
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def record_is_authentic(key: bytes, record: AuditRecord) -> bool:
    """The record's mac matches its own fields (it was not edited)."""
    try:
        expected = compute_mac(key, record.seq, record.ts, record.actor, record.action, record.subject,
                               record.details, record.prev_mac)
    except (TypeError, ValueError):  # fields no longer JSON-safe: edited
        return False
    return hmac.compare_digest(expected, record.mac)


def check_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe copy of `details`, or ValueError (a programming error, not a user one)."""
    if details is None:
        return {}

    def walk(value: Any, depth: int) -> Any:
        if depth > 5:
            raise ValueError("audit details nest too deep")
        if value is None or isinstance(value, (bool, int, str)):
            if isinstance(value, str) and len(value) > _MAX_TEXT:
                raise ValueError("audit details: text too long")
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError("audit details: NaN or infinity")
            return value
        if isinstance(value, (list, tuple)):
            if sum(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) > _MAX_NUMBERS:
                raise ValueError("audit details: a long list of numbers looks like a face template")
            return [walk(v, depth + 1) for v in value]
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise ValueError("audit details: keys must be strings")
                if k.lower() in _FORBIDDEN_KEYS:
                    raise ValueError(f"audit details: {k!r} would put biometric data or a name in the log")
                out[k] = walk(v, depth + 1)
            return out
        raise ValueError(f"audit details: {type(value).__name__} is not JSON-safe")

    result: dict[str, Any] = walk(dict(details), 0)
    return result


def make_record(
    key: bytes,
    prev: AuditHead | None,
    action: AuditAction | str,
    actor: str,
    subject: str,
    details: Mapping[str, Any] | None,
    ts: str,
) -> AuditRecord:
    """The record that follows `prev` (None: the first record)."""
    name = action.value if isinstance(action, AuditAction) else str(action)
    if not _ACTION_RE.match(name):
        raise ValueError(f"audit action {name!r}: use a short lowercase identifier")
    safe = check_details(details)
    seq = 1 if prev is None else prev.seq + 1
    prev_mac = GENESIS if prev is None else prev.mac
    return AuditRecord(seq, ts, actor, name, subject, safe, prev_mac,
                       compute_mac(key, seq, ts, actor, name, subject, safe, prev_mac))


def seal_head(key: bytes, head: AuditHead) -> str:
    """"seq:mac:tag": the tag stops anyone without the key from moving the head back."""
    tag = hmac.new(key, f"face-kiosk audit head|{head.seq}|{head.mac}".encode("ascii"), hashlib.sha256).hexdigest()
    return f"{head.seq}:{head.mac}:{tag}"


def open_head(key: bytes, text: str | None) -> tuple[AuditHead | None, bool]:
    """(head, authentic). (None, True) when there is no head yet; (None, False) if damaged."""
    if text is None:
        return None, True
    try:
        seq_text, mac, _ = text.split(":")
        head = AuditHead(int(seq_text), mac)
    except ValueError:
        return None, False
    return head, hmac.compare_digest(seal_head(key, head), text)


def verify(records: Iterable[AuditRecord], key: bytes, head: str | None = None, *,
           check_head: bool | None = None) -> AuditVerdict:
    """Check a log given in storage order, and its sealed head pointer.

    `key` is `audit_key(gallery key)`. The head is checked when given, or when `check_head`
    is True (then a None head means "missing": what `AuditLog.verify` does). Without the
    head, records cut off the end cannot be seen, everything else can.
    """
    if check_head is None:
        check_head = head is not None
    recs = list(records)
    count = len(recs)
    for r in recs:
        if not record_is_authentic(key, r):
            return AuditVerdict(False, count, r.seq, "edited")
    seqs = [r.seq for r in recs]
    ordered = sorted(seqs)
    for a, b in zip(ordered, ordered[1:]):
        if a == b:
            return AuditVerdict(False, count, a, f"duplicated (seq {a})")
    for pos, seq in enumerate(seqs):
        if seq != ordered[pos]:
            return AuditVerdict(False, count, seq, "reordered")
    prev: AuditRecord | None = None
    for r in recs:
        expected = 1 if prev is None else prev.seq + 1
        if r.seq != expected:
            return AuditVerdict(False, count, expected, f"deleted (gap at seq {expected})")
        if r.prev_mac != (GENESIS if prev is None else prev.mac):
            return AuditVerdict(False, count, r.seq, "edited")
        prev = r
    if not check_head:
        return AuditVerdict(True, count)
    problem = head_problem(key, head, prev)
    if problem is not None:
        return AuditVerdict(False, count, *problem)
    return AuditVerdict(True, count)


def head_problem(key: bytes, head: str | None, last: AuditRecord | None) -> tuple[int, str] | None:
    """(first bad seq, reason) when the sealed head does not match the last record, else None."""
    last_seq, last_mac = (last.seq, last.mac) if last else (0, GENESIS)
    pointer, authentic = open_head(key, head)
    if not authentic:
        return max(last_seq, 1), "head pointer edited"
    if pointer is None:
        return max(last_seq, 1), "head pointer missing"
    if pointer.seq > last_seq:
        return last_seq + 1, "truncated at the end"
    if pointer.seq < last_seq:
        return pointer.seq + 1, "head pointer behind the log"
    if not hmac.compare_digest(pointer.mac, last_mac):
        return max(last_seq, 1), "edited"
    return None


@dataclass(frozen=True)
class AuditTail:
    """The end of the log, for values sealed at a point of it (the PIN hash and lockout): the
    newest record (0: none), the sealed head's seq when authentic, the newest of some actions."""

    last_seq: int
    head_seq: int | None
    last_of: Mapping[str, int]

    def newest(self, actions: Iterable[str]) -> tuple[str, int] | None:
        """The newest of these actions and its seq, or None when none is in the log."""
        found = [(seq, action) for action, seq in self.last_of.items() if action in set(actions)]
        return (max(found)[1], max(found)[0]) if found else None  # (action, seq)


# -- storage --------------------------------------------------------------------------------


class AuditStore(Protocol):
    """What the log needs from a database. All SQL lives in the implementations."""

    def create_schema(self) -> None: ...
    def exists(self) -> bool: ...
    def in_transaction(self) -> bool: ...
    def last(self) -> AuditRecord | None: ...
    def head(self) -> str | None: ...
    def insert(self, record: AuditRecord) -> None: ...
    def set_head(self, text: str) -> None: ...
    def records(self) -> Iterator[AuditRecord]: ...
    def mac_at(self, seq: int) -> str | None: ...
    def last_seqs(self, actions: tuple[str, ...]) -> dict[str, int]: ...


class SqliteAuditStore:
    """The audit tables on a SQLite / SQLCipher connection (DB-API, sqlite3 dialect).

    Rows are read in insertion order (`id`), so rows moved around show as "reordered". The
    triggers (no UPDATE or DELETE of records, no DELETE of the head) stop the app's own code;
    someone with the database can drop them, which is why the macs exist."""

    DDL = (
        "CREATE TABLE IF NOT EXISTS audit ("
        " id INTEGER PRIMARY KEY,"
        " seq INTEGER NOT NULL UNIQUE,"
        " ts TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL,"
        " details TEXT NOT NULL, prev_mac TEXT NOT NULL, mac TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL)",
        "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head"
        " BEGIN SELECT RAISE(ABORT, 'the audit head is kept'); END",
    )

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def create_schema(self) -> None:
        """Create the tables and triggers (idempotent). Use `AuditLog.create_schema`, which
        also seals the first head, inside a migration's transaction."""
        for statement in self.DDL:
            self.conn.execute(statement)

    def exists(self) -> bool:
        """Both audit tables are there."""
        rows = self.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('audit', 'audit_head')"
        ).fetchone()
        return int(rows[0]) == 2

    def in_transaction(self) -> bool:
        return bool(self.conn.in_transaction)

    def last(self) -> AuditRecord | None:
        row = self.conn.execute(f"SELECT {AuditRecord.COLUMNS} FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return AuditRecord.from_row(row) if row else None

    def head(self) -> str | None:
        row = self.conn.execute("SELECT value FROM audit_head WHERE id = 1").fetchone()
        return str(row[0]) if row else None

    def insert(self, record: AuditRecord) -> None:
        self.conn.execute(f"INSERT INTO audit({AuditRecord.COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", record.as_row())

    def set_head(self, text: str) -> None:
        self.conn.execute("INSERT INTO audit_head(id, value) VALUES (1, ?)"
                          " ON CONFLICT(id) DO UPDATE SET value = excluded.value", (text,))

    def mac_at(self, seq: int) -> str | None:
        row = self.conn.execute("SELECT mac FROM audit WHERE seq = ?", (seq,)).fetchone()
        return str(row[0]) if row else None

    def last_seqs(self, actions: tuple[str, ...]) -> dict[str, int]:
        marks = ",".join("?" * len(actions))
        rows = self.conn.execute(f"SELECT action, max(seq) FROM audit WHERE action IN ({marks})"  # noqa: S608
                                 " GROUP BY action", actions).fetchall()
        return {str(a): int(seq) for a, seq in rows}

    def records(self) -> Iterator[AuditRecord]:
        cur = self.conn.execute(f"SELECT {AuditRecord.COLUMNS} FROM audit ORDER BY id")
        for rows in iter(lambda: cur.fetchmany(500), []):  # in batches: a long log is never all in memory
            yield from (AuditRecord.from_row(row) for row in rows)


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class AuditLog:
    """The log over any `AuditStore`. `gallery_key` is the 32-byte gallery key; the log's
    own key is derived from it (`audit_key`)."""

    def __init__(self, store: AuditStore, gallery_key: bytes, clock: Callable[[], str] = _utc_now) -> None:
        self.store = store
        self._key = audit_key(gallery_key)
        self._clock = clock

    def create_schema(self) -> None:
        """Create the tables and seal the first ("seq 0") head. Idempotent. Run inside the
        gallery's migration transaction, with the key the gallery is opened with."""
        self._require_transaction("create_schema")
        self.store.create_schema()
        if self.store.head() is None and self.store.last() is None:
            self.store.set_head(seal_head(self._key, AuditHead(0, GENESIS)))

    def append(
        self,
        action: AuditAction | str,
        actor: str,
        subject: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """Add a record. MUST be called inside the caller's open transaction (BEGIN
        IMMEDIATE, the one that makes the change being logged), so the change, the record and
        the head commit together or not at all. RuntimeError outside a transaction;
        AuditError while the head is missing or edited (see the module docstring); ValueError
        for details that could hold biometric data or a name."""
        self._require_transaction("append")
        last = self.store.last()
        prev = AuditHead(last.seq, last.mac) if last else None
        problem = head_problem(self._key, self.store.head(), last)
        if problem is not None:
            if problem[1] != "truncated at the end":
                raise AuditError(f"the audit log's {problem[1]} (seq {problem[0]}); nothing was changed. "
                                 "An admin must check it (audit verify) and recover it")
            # Records cut off the end: continue after the head so the gap stays visible,
            # instead of reusing their seqs and hiding the cut.
            prev, _ = open_head(self._key, self.store.head())
        return self._write(prev, action, actor, subject, details)

    def recover(self, actor: str, problem: str = "") -> AuditRecord:
        """Accept a broken head: append an "audit_recover" record naming what `verify` found (or
        `problem`, what else the caller found: an older copy) and reseal the head after it.
        Edited or missing records stay visible to `verify`. In the caller's transaction."""
        self._require_transaction("recover")
        verdict = self.verify()
        last = self.store.last()
        prev = AuditHead(last.seq, last.mac) if last else None
        pointer, authentic = open_head(self._key, self.store.head())
        if pointer is not None and authentic and pointer.seq > (prev.seq if prev else 0):
            prev = pointer
        if verdict.ok and problem:  # the log is whole, but not what this computer saw (a restored copy)
            verdict = AuditVerdict(False, verdict.count, verdict.count + 1, problem)
        details = {"ok_before": verdict.ok, "reason": verdict.reason, "first_bad_seq": verdict.first_bad_seq}
        return self._write(prev, RECOVER_ACTION, actor, "audit log", details)

    def _write(self, prev: AuditHead | None, action: AuditAction | str, actor: str, subject: str,
               details: Mapping[str, Any] | None) -> AuditRecord:
        record = make_record(self._key, prev, action, actor, subject, details, self._clock())
        self.store.insert(record)
        self.store.set_head(seal_head(self._key, AuditHead(record.seq, record.mac)))
        return record

    def _require_transaction(self, what: str) -> None:
        if not self.store.in_transaction():
            raise RuntimeError(f"AuditLog.{what} must run inside the caller's open transaction")

    def records(self) -> list[AuditRecord]:
        """All records in storage order."""
        return list(self.store.records())

    def tail(self, actions: tuple[str, ...] = ()) -> AuditTail:
        """The end of the log (`AuditTail`); a log without tables has none."""
        if not self.store.exists():
            return AuditTail(0, None, {})
        last = self.store.last()
        head, authentic = open_head(self._key, self.store.head())
        return AuditTail(last.seq if last else 0, head.seq if head is not None and authentic else None,
                         self.store.last_seqs(actions) if actions else {})

    def verify(self) -> AuditVerdict:
        """Check the whole log and its head pointer ("audit log missing" without tables)."""
        if not self.store.exists():
            return AuditVerdict(False, 0, 1, "audit log missing")
        return verify(self.store.records(), self._key, self.store.head(), check_head=True)
