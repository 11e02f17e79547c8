"""Gallery schema and its migrations. Version 1 is the first release; version 2 keeps each
sample's loose face crop, so templates can be re-made after a landmark or embedder change;
version 3 adds the audit log; version 4 adds the site and kiosk that saw a visit, and an event id
that makes writing a visit twice (a spool flushed again) a no-op; version 5 (the security audit,
issue 20) gives the gallery an id of its own (not derived from its path) and never reuses the
id of a removed person, sample or visit (AUTOINCREMENT). The connection then also rewrites
photo paths into keyed hashes of their file names and seals the admin PIN again
(kiosk.gallery.sealing), which needs the gallery's key. Version 6 (the fleet, issue 21) gives
each person a stable id (`uid`, random, kept by `gallery copy`, so a copy merged into a
gallery that has the person never doubles them); version 7 is the front desk's
(kiosk.gallery.frontdesk_api): person kinds, hosts, visitors' hosts and accepted agreement,
visit sign-out, invitations; version 8 (the front desk too) adds the language the
visitor read the accepted agreement in."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable

SCHEMA_VERSION = 8


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it COMMITs first, which would break the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            company TEXT NOT NULL DEFAULT '',
            host TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            consent_at TEXT,
            consent_text TEXT NOT NULL DEFAULT '',
            retention_until TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_seen TEXT
        );
        CREATE INDEX IF NOT EXISTS people_name ON people(name);
        CREATE TABLE IF NOT EXISTS samples (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            aligned_png BLOB NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            quality REAL NOT NULL DEFAULT 0,
            masked INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS samples_person ON samples(person_id);
        CREATE TABLE IF NOT EXISTS templates (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            sample_id INTEGER REFERENCES samples(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            model_version TEXT NOT NULL,
            dim INTEGER NOT NULL,
            embedding BLOB NOT NULL,
            quality REAL NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS templates_model ON templates(model_version);
        CREATE INDEX IF NOT EXISTS templates_person ON templates(person_id);
        CREATE TABLE IF NOT EXISTS visits (
            id INTEGER PRIMARY KEY,
            person_id INTEGER REFERENCES people(id) ON DELETE CASCADE,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            score REAL,
            masked INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX IF NOT EXISTS visits_ts ON visits(ts);
        CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """
    )


def _v2(conn: sqlite3.Connection) -> None:
    # The upright loose crop the face mesh ran on (256x256 PNG); NULL for samples enrolled
    # before version 2, which only kept their aligned 112x112 crop.
    conn.execute("ALTER TABLE samples ADD COLUMN face_png BLOB")


def _v3(conn: sqlite3.Connection) -> None:
    # The append-only, HMAC-chained audit log (kiosk.security.audit); its first head is sealed
    # by the gallery right after, with the gallery's key (the migration has no key).
    from kiosk.security.audit import SqliteAuditStore

    SqliteAuditStore(conn).create_schema()


def _v4(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        ALTER TABLE visits ADD COLUMN site TEXT NOT NULL DEFAULT '';
        ALTER TABLE visits ADD COLUMN kiosk TEXT NOT NULL DEFAULT '';
        ALTER TABLE visits ADD COLUMN event_id TEXT;
        CREATE UNIQUE INDEX IF NOT EXISTS visits_event ON visits(event_id);
        CREATE INDEX IF NOT EXISTS visits_site ON visits(site, kiosk)
        """,
    )


# Version 5's tables: as before, with AUTOINCREMENT ids (a removed row's id is never given again,
# so "person 7" in the audit log, a webhook or a visit always means one person).
_V5_TABLES = {
    "people": """CREATE TABLE people_v5 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            company TEXT NOT NULL DEFAULT '',
            host TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            consent_at TEXT,
            consent_text TEXT NOT NULL DEFAULT '',
            retention_until TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_seen TEXT)""",
    "samples": """CREATE TABLE samples_v5 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            aligned_png BLOB NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            quality REAL NOT NULL DEFAULT 0,
            masked INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            face_png BLOB)""",
    "visits": """CREATE TABLE visits_v5 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            person_id INTEGER REFERENCES people(id) ON DELETE CASCADE,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            score REAL,
            masked INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT '',
            site TEXT NOT NULL DEFAULT '',
            kiosk TEXT NOT NULL DEFAULT '',
            event_id TEXT)""",
}
_V5_INDEXES = """
    CREATE INDEX IF NOT EXISTS people_name ON people(name);
    CREATE INDEX IF NOT EXISTS samples_person ON samples(person_id);
    CREATE INDEX IF NOT EXISTS visits_ts ON visits(ts);
    CREATE UNIQUE INDEX IF NOT EXISTS visits_event ON visits(event_id);
    CREATE INDEX IF NOT EXISTS visits_site ON visits(site, kiosk)
"""


def _v5(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('gallery_id', ?)", (uuid.uuid4().hex,))
    # Each table is made again (SQLite cannot add AUTOINCREMENT to a table). Dropping a parent
    # table with foreign keys enforced would cascade to its children: this runs, as every
    # migration, before the connection turns them on; make sure.
    if conn.execute("PRAGMA foreign_keys").fetchone()[0]:
        raise RuntimeError("schema 5 rebuilds tables: run it with foreign keys off")
    for table, ddl in _V5_TABLES.items():
        columns = ddl[ddl.index("(") + 1:].split(",\n")
        names = ", ".join(line.split()[0] for line in columns)
        conn.execute(ddl)
        conn.execute(f"INSERT INTO {table}_v5({names}) SELECT {names} FROM {table}")  # noqa: S608 - fixed names
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE {table}_v5 RENAME TO {table}")
    _run_script(conn, _V5_INDEXES)
    # Ids removed before this version may have been given again already; at least the ones the
    # audit log still names are never given again from now on.
    named = _ids_in_audit_log(conn)
    if named:
        conn.execute("INSERT OR IGNORE INTO sqlite_sequence(name, seq) VALUES ('people', 0)")
        conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'people'", (max(named),))


def _ids_in_audit_log(conn: sqlite3.Connection) -> list[int]:
    """Person ids the audit log names ("person 12" subjects, purges' lists of people)."""
    ids = []
    for subject, details in conn.execute("SELECT subject, details FROM audit"
                                         " WHERE subject LIKE 'person %' OR action = 'purge'"):
        if subject.startswith("person ") and subject[7:].isdigit():
            ids.append(int(subject[7:]))
        try:
            people = json.loads(details).get("people", [])
        except (ValueError, AttributeError):
            continue
        if isinstance(people, list):
            ids.extend(i for i in people if isinstance(i, int))
    return ids


def _v6(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        ALTER TABLE people ADD COLUMN uid TEXT;
        UPDATE people SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
        CREATE UNIQUE INDEX IF NOT EXISTS people_uid ON people(uid)
        """,
    )
    # Every way in gets a uid (ADD COLUMN cannot take a random default in SQLite).
    conn.execute("CREATE TRIGGER IF NOT EXISTS people_uid_made AFTER INSERT ON people WHEN NEW.uid IS NULL"
                 " BEGIN UPDATE people SET uid = lower(hex(randomblob(16))) WHERE id = NEW.id; END")


# The front desk (issue 22), written once for both backends: `{id}`, `{ref}` and `{flag}` are
# each one's id, reference and boolean types (pg_schema._V7 fills in PostgreSQL's and adds its
# change trigger), so the two cannot describe different front desks.
V7_TEMPLATE = """
ALTER TABLE people ADD COLUMN kind TEXT NOT NULL DEFAULT 'staff' CHECK (kind IN ('staff', 'visitor'));
ALTER TABLE people ADD COLUMN is_host {flag};
ALTER TABLE people ADD COLUMN contact TEXT NOT NULL DEFAULT '';
ALTER TABLE people ADD COLUMN host_id {ref} REFERENCES people(id) ON DELETE SET NULL;
ALTER TABLE people ADD COLUMN agreement_version TEXT NOT NULL DEFAULT '';
ALTER TABLE people ADD COLUMN agreement_at TEXT;
ALTER TABLE visits ADD COLUMN signed_out_at TEXT;
ALTER TABLE visits ADD COLUMN signed_out_how TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS visits_person ON visits(person_id);
CREATE INDEX IF NOT EXISTS people_host ON people(host_id);
CREATE TABLE IF NOT EXISTS invitations (
    id {id},
    person_id {ref} NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    host_id {ref} REFERENCES people(id) ON DELETE SET NULL,
    day TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'expected' CHECK (status IN ('expected', 'arrived', 'cancelled')),
    visit_id {ref} REFERENCES visits(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invitations_day ON invitations(day);
CREATE INDEX IF NOT EXISTS invitations_person ON invitations(person_id);
CREATE INDEX IF NOT EXISTS invitations_host ON invitations(host_id);
CREATE INDEX IF NOT EXISTS invitations_visit ON invitations(visit_id)
"""
V7_SQL = V7_TEMPLATE.format(id="INTEGER PRIMARY KEY AUTOINCREMENT", ref="INTEGER", flag="INTEGER NOT NULL DEFAULT 0")


def _v7(conn: sqlite3.Connection) -> None:
    _run_script(conn, V7_SQL)


# The front desk: which translation of the agreement was accepted (its version alone does not
# say what the visitor read). The same statement on PostgreSQL (pg_schema).
V8_SQL = "ALTER TABLE people ADD COLUMN agreement_language TEXT NOT NULL DEFAULT ''"


def _v8(conn: sqlite3.Connection) -> None:
    _run_script(conn, V8_SQL)


# MIGRATIONS[i] takes a database from version i to version i + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8]
assert len(MIGRATIONS) == SCHEMA_VERSION
