"""The PostgreSQL gallery's schema, its migrations and its audit store.

Numbered like the SQLite schema (kiosk.gallery.schema): version N means the same data model on
both backends (1: people, samples, templates, visits, settings; 2: each sample's loose face
crop; 3: the audit log; 4: site, kiosk and an idempotent event id on visits; 5: photo paths as
keyed hashes and the PIN sealed for this version, done with the site key right after the steps
(kiosk.gallery.pg_migrate, kiosk.gallery.sealing); bigserial ids are never given again
already; 6: the fleet, below; 7: the front desk's person kinds, hosts, sign-outs and
invitations; 8: the language of the accepted agreement). The SQL is
PostgreSQL's own: bigserial ids, bytea, booleans, a pgvector column for templates that may be
searched on the server (only when templates are stored unencrypted, see kiosk.gallery.postgres).

Version 1 also creates what only a shared server needs: `gallery_changes` (which people
changed, by sequence number) filled by statement triggers, and a NOTIFY on every write, so
kiosks learn of an enrolment or an erasure elsewhere without reloading the whole gallery.

Version 6 (the fleet, issue 21): a stable id per person (`uid`, kept by `gallery copy`); a MAC
on every people and visits row (`mac`, written by the app under the site key: a row a DBA
edits shows as edited); `fleet`, one heartbeat row per kiosk; `kiosk_roles`, which database
role is a kiosk of which site, read by row-level security so that a kiosk role sees and
writes only its own site's visits and heartbeats and, of the settings, only the PIN lockout;
the trigger functions run as their owner (SECURITY DEFINER), so a kiosk role needs no write
grant on the change feed. Migrations are run by `face-kiosk gallery migrate` (the gallery's
owner), never implicitly by a kiosk opening an older gallery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kiosk.gallery.schema import V7_TEMPLATE, V8_SQL
from kiosk.security.audit import AuditRecord

SCHEMA_VERSION = 8
CHANNEL = "face_kiosk_changes"
REKEY_PAYLOAD = "rekey"  # NOTIFY payload of a finished `gallery rekey`: kiosks check their key

_V1 = """
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE people (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    company text NOT NULL DEFAULT '',
    host text NOT NULL DEFAULT '',
    notes text NOT NULL DEFAULT '',
    consent_at text,
    consent_text text NOT NULL DEFAULT '',
    retention_until text,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    last_seen text
);
CREATE INDEX people_name ON people (lower(name));
CREATE TABLE samples (
    id bigserial PRIMARY KEY,
    person_id bigint NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    aligned_png bytea NOT NULL,
    source text NOT NULL DEFAULT '',
    quality double precision NOT NULL DEFAULT 0,
    masked boolean NOT NULL DEFAULT false,
    created_at text NOT NULL
);
CREATE INDEX samples_person ON samples (person_id);
CREATE TABLE templates (
    id bigserial PRIMARY KEY,
    person_id bigint NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    sample_id bigint REFERENCES samples(id) ON DELETE CASCADE,
    kind text NOT NULL,
    model_version text NOT NULL,
    dim integer NOT NULL,
    embedding_enc bytea,
    embedding vector,
    quality double precision NOT NULL DEFAULT 0,
    source text NOT NULL DEFAULT '',
    created_at text NOT NULL,
    CHECK (embedding_enc IS NOT NULL OR embedding IS NOT NULL)
);
CREATE INDEX templates_model ON templates (model_version);
CREATE INDEX templates_person ON templates (person_id);
CREATE TABLE visits (
    id bigserial PRIMARY KEY,
    person_id bigint REFERENCES people(id) ON DELETE CASCADE,
    ts text NOT NULL,
    kind text NOT NULL,
    score double precision,
    masked boolean NOT NULL DEFAULT false,
    source text NOT NULL DEFAULT ''
);
CREATE INDEX visits_ts ON visits (ts);
CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL);

CREATE TABLE gallery_changes (
    seq bigserial PRIMARY KEY,
    person_id bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION fk_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('face_kiosk_changes', TG_TABLE_NAME); RETURN NULL; END $$;
CREATE FUNCTION fk_people_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO gallery_changes(person_id) SELECT id FROM new_rows;
      PERFORM pg_notify('face_kiosk_changes', 'people'); RETURN NULL; END $$;
CREATE FUNCTION fk_people_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO gallery_changes(person_id)
        SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n.name IS DISTINCT FROM o.name;
      PERFORM pg_notify('face_kiosk_changes', 'people'); RETURN NULL; END $$;
CREATE FUNCTION fk_people_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO gallery_changes(person_id) SELECT id FROM old_rows;
      PERFORM pg_notify('face_kiosk_changes', 'people'); RETURN NULL; END $$;
CREATE FUNCTION fk_templates_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO gallery_changes(person_id) SELECT DISTINCT person_id FROM new_rows;
      PERFORM pg_notify('face_kiosk_changes', 'templates'); RETURN NULL; END $$;
CREATE FUNCTION fk_templates_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO gallery_changes(person_id) SELECT DISTINCT person_id FROM old_rows;
      PERFORM pg_notify('face_kiosk_changes', 'templates'); RETURN NULL; END $$;
CREATE TRIGGER people_new AFTER INSERT ON people REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fk_people_new();
CREATE TRIGGER people_renamed AFTER UPDATE ON people REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fk_people_renamed();
CREATE TRIGGER people_gone AFTER DELETE ON people REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fk_people_gone();
CREATE TRIGGER templates_new AFTER INSERT ON templates REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fk_templates_new();
CREATE TRIGGER templates_gone AFTER DELETE ON templates REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fk_templates_gone();
CREATE TRIGGER samples_changed AFTER INSERT OR UPDATE OR DELETE ON samples
    FOR EACH STATEMENT EXECUTE FUNCTION fk_notify();
CREATE TRIGGER visits_changed AFTER INSERT OR UPDATE OR DELETE ON visits
    FOR EACH STATEMENT EXECUTE FUNCTION fk_notify();
CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION fk_notify();
"""

_V2 = "ALTER TABLE samples ADD COLUMN face_png bytea"

_V3 = """
CREATE TABLE audit (
    id bigserial PRIMARY KEY,
    seq bigint NOT NULL UNIQUE,
    ts text NOT NULL, actor text NOT NULL, action text NOT NULL, subject text NOT NULL,
    details text NOT NULL, prev_mac text NOT NULL, mac text NOT NULL
);
CREATE TABLE audit_head (id integer PRIMARY KEY CHECK (id = 1), value text NOT NULL);
CREATE FUNCTION fk_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE FUNCTION fk_audit_head_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit head is kept'; END $$;
CREATE TRIGGER audit_no_edit BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION fk_audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION fk_audit_append_only();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head FOR EACH ROW EXECUTE FUNCTION fk_audit_head_kept();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION fk_audit_head_kept();
"""

_V4 = """
ALTER TABLE visits ADD COLUMN site text NOT NULL DEFAULT '';
ALTER TABLE visits ADD COLUMN kiosk text NOT NULL DEFAULT '';
ALTER TABLE visits ADD COLUMN event_id text UNIQUE;
CREATE INDEX visits_site ON visits (site, kiosk)
"""


_SCOPED = "(fk_role_site(current_user) IS NULL OR site = fk_role_site(current_user))"
_KIOSK_ROLE = "fk_role_site(current_user) IS NOT NULL"

_V6 = f"""
ALTER TABLE people ADD COLUMN uid text;
UPDATE people SET uid = md5(random()::text || clock_timestamp()::text || id::text) WHERE uid IS NULL;
ALTER TABLE people ALTER COLUMN uid SET NOT NULL;
ALTER TABLE people ALTER COLUMN uid SET DEFAULT md5(random()::text || clock_timestamp()::text);
CREATE UNIQUE INDEX people_uid ON people (uid);
ALTER TABLE people ADD COLUMN mac text;
ALTER TABLE visits ADD COLUMN mac text;
CREATE TABLE fleet (
    site text NOT NULL,
    kiosk text NOT NULL,
    role text NOT NULL DEFAULT current_user,
    version text NOT NULL,
    schema_version integer NOT NULL,
    online boolean NOT NULL,
    last_sync text,
    spooled integer NOT NULL DEFAULT 0,
    local_copy_at text,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, kiosk)
);
CREATE TABLE kiosk_roles (role text PRIMARY KEY, site text NOT NULL);
CREATE FUNCTION fk_role_site(r name) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT AS $$ SELECT site FROM kiosk_roles WHERE role = r $$;
ALTER FUNCTION fk_notify() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION fk_people_new() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION fk_people_renamed() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION fk_people_gone() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION fk_templates_new() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION fk_templates_gone() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER TABLE visits ENABLE ROW LEVEL SECURITY;
CREATE POLICY visits_by_site ON visits USING {_SCOPED} WITH CHECK {_SCOPED};
ALTER TABLE fleet ENABLE ROW LEVEL SECURITY;
CREATE POLICY fleet_by_site ON fleet USING {_SCOPED} WITH CHECK {_SCOPED};
ALTER TABLE settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY settings_read ON settings FOR SELECT USING (true);
CREATE POLICY settings_add ON settings FOR INSERT WITH CHECK (NOT {_KIOSK_ROLE} OR key = 'admin_pin_lockout');
CREATE POLICY settings_change ON settings FOR UPDATE USING (NOT {_KIOSK_ROLE} OR key = 'admin_pin_lockout')
    WITH CHECK (NOT {_KIOSK_ROLE} OR key = 'admin_pin_lockout');
CREATE POLICY settings_drop ON settings FOR DELETE USING (NOT {_KIOSK_ROLE});
UPDATE visits SET event_id = 'v' || id WHERE event_id IS NULL;
"""

#: What each version adds, for `gallery migrate --dry-run` (index i: the step to version i + 1).
DESCRIPTIONS = [
    "people, samples, templates, visits, settings and the change feed",
    "each sample's loose face crop",
    "the audit log",
    "site, kiosk and event id on visits",
    "the security audit: photo paths as keyed hashes, the admin PIN and lockout sealed to the audit log "
    "(done by the app with the site key right after)",
    "stable person ids, row MACs on people and visits, the fleet heartbeat table, kiosk roles "
    "with row-level security by site (the existing rows are sealed right after, by the app)",
    "the front desk: person kinds, hosts, visitors' hosts and agreements, visit sign-out, invitations",
    "the language of a visitor's accepted agreement",
]
#: The oldest face-kiosk schema that can use a gallery of this schema (`meta.min_schema`): a
#: later additive migration keeps it, so older kiosks keep running through a rolling upgrade.
MIN_SCHEMA = 7


# The front desk (issue 22): SQLite's columns and table in PostgreSQL's types, and the change trigger.
_V7 = V7_TEMPLATE.format(id="bigserial PRIMARY KEY", ref="bigint",
                         flag="boolean NOT NULL DEFAULT false").rstrip() + """;
CREATE TRIGGER invitations_changed AFTER INSERT OR UPDATE OR DELETE ON invitations
    FOR EACH STATEMENT EXECUTE FUNCTION fk_notify();
"""


def _script(sql: str) -> Callable[[Any], None]:
    def run(conn: Any) -> None:
        conn.execute(sql)  # psycopg sends a parameterless script in one go (simple query)
    return run


def _v5(conn: Any) -> None:
    """Nothing in SQL: ids are bigserial (never given again unless a DBA resets the sequence);
    the rest of version 5 needs the site key (kiosk.gallery.pg_migrate.seal_for_schema_5)."""


# MIGRATIONS[i] takes a database from version i to version i + 1, like kiosk.gallery.schema's.
MIGRATIONS: list[Callable[[Any], None]] = [_script(_V1), _script(_V2), _script(_V3), _script(_V4), _v5,
                                           _script(_V6), _script(_V7), _script(V8_SQL)]
assert len(MIGRATIONS) == SCHEMA_VERSION == len(DESCRIPTIONS)


class PgAuditStore:
    """kiosk.security.audit's AuditStore on a psycopg 3 connection (inside its transaction).

    The head row is read FOR UPDATE, so two kiosks appending at once take turns instead of
    forking the chain. Triggers refuse UPDATE, DELETE and TRUNCATE of the log (the macs are
    what shows an edit by someone who drops them). `details` is TEXT, not jsonb: jsonb would
    reformat the JSON and break the macs.
    """

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def create_schema(self) -> None:
        """The tables exist from migration 3 on; nothing to do."""

    def exists(self) -> bool:
        row = self.conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
                                " AND tablename IN ('audit', 'audit_head')").fetchone()
        return int(row[0]) == 2

    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self.conn.info.transaction_status == TransactionStatus.INTRANS)

    def last(self) -> AuditRecord | None:
        row = self.conn.execute(f"SELECT {AuditRecord.COLUMNS} FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return AuditRecord.from_row(row) if row else None

    def head(self) -> str | None:
        row = self.conn.execute("SELECT value FROM audit_head WHERE id = 1 FOR UPDATE").fetchone()
        return str(row[0]) if row else None

    def insert(self, record: AuditRecord) -> None:
        self.conn.execute(f"INSERT INTO audit({AuditRecord.COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                          record.as_row())

    def set_head(self, text: str) -> None:
        self.conn.execute("INSERT INTO audit_head(id, value) VALUES (1, %s)"
                          " ON CONFLICT (id) DO UPDATE SET value = excluded.value", (text,))

    def mac_at(self, seq: int) -> str | None:
        row = self.conn.execute("SELECT mac FROM audit WHERE seq = %s", (seq,)).fetchone()
        return str(row[0]) if row else None

    def last_seqs(self, actions: tuple[str, ...]) -> dict[str, int]:
        rows = self.conn.execute("SELECT action, max(seq) FROM audit WHERE action = ANY(%s) GROUP BY action",
                                 (list(actions),)).fetchall()
        return {str(a): int(seq) for a, seq in rows}

    def records(self) -> Iterator[AuditRecord]:
        for row in self.conn.execute(f"SELECT {AuditRecord.COLUMNS} FROM audit ORDER BY id").fetchall():
            yield AuditRecord.from_row(row)
