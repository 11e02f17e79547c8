"""Least-privilege database roles for a shared gallery: the SQL `face-kiosk gallery grants` prints.

Two kinds of role (docs/shared-gallery.md, "Roles"):

- the **admin** role owns the database and its tables: it runs `gallery migrate`, enrols,
  edits and removes people, runs retention, rekeys, reads every site's visits (a table's owner
  is not held by row-level security);
- a **kiosk** role per site: reads people, samples, templates and settings; inserts visits and
  reads them back, for its own site only; marks `last_seen`; writes its fleet heartbeat and the
  PIN lockout (row-level security on `site` and on the settings' key, schema 6); appends to the
  audit log (a kiosk unlock, a wrong PIN). It cannot delete or change people, samples,
  templates or visits, nor read or write another site's visits. `kiosk_roles` says which site
  a kiosk role is bound to: the server decides a kiosk's site, not the kiosk.

pgvector is not a trusted extension: a superuser (or a managed service's extension switch)
adds it once per database. Passwords are never printed: set them with psql's `\\password`.
"""

from __future__ import annotations

import re

from kiosk.errors import KioskError

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SITE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
KIOSK_READS = ("meta", "people", "samples", "templates", "gallery_changes", "settings", "audit", "audit_head",
               "fleet", "visits", "invitations")


def _check_name(role: str, what: str) -> str:
    if not _NAME.match(role):
        raise KioskError(f"{what} {role!r}: use lower-case letters, digits and _ (a plain PostgreSQL name)")
    return role


def admin_grants(role: str, database: str) -> str:
    """SQL (for a superuser) that makes `role` the gallery's admin: it owns the database."""
    role, database = _check_name(role, "role"), _check_name(database, "database")
    return "\n".join([
        "-- as a superuser, once per server and database (pgvector is not a trusted extension):",
        f"CREATE ROLE {role} LOGIN;  -- then: \\password {role}",
        f"CREATE DATABASE {database} OWNER {role};  -- or: ALTER DATABASE {database} OWNER TO {role};",
        f"\\connect {database}",
        "CREATE EXTENSION IF NOT EXISTS vector;",
        f"-- then, as {role}: face-kiosk gallery migrate --db postgresql://{role}@HOST/{database}",
    ])


def kiosk_grants(role: str, site: str, database: str, *, front_desk: bool = False) -> str:
    """SQL (a superuser's, after `gallery migrate`) that makes `role` a kiosk of `site`; with
    `front_desk`, one that also signs visitors in and out (docs/front-desk.md): it then adds
    visitors (people, their photos with consent, templates), stores their accepted agreement
    and host, and marks sign-outs and invitations; it still cannot delete anything."""
    role, database = _check_name(role, "role"), _check_name(database, "database")
    if not _SITE.match(site):
        raise KioskError(f"site {site!r}: letters, digits and . _ : - only (at most 64)")
    return "\n".join([
        f"-- as the gallery's admin role (the owner), after `face-kiosk gallery migrate`; {role} is a kiosk of {site}:",
        f"CREATE ROLE {role} LOGIN;  -- then: \\password {role}  (CREATE ROLE needs CREATEROLE or a superuser)",
        f"GRANT CONNECT ON DATABASE {database} TO {role};",
        f"GRANT USAGE ON SCHEMA public TO {role};",
        f"GRANT SELECT ON {', '.join(KIOSK_READS)} TO {role};",
        f"GRANT INSERT ON visits, audit TO {role};",
        f"GRANT UPDATE (last_seen) ON people TO {role};",
        f"GRANT INSERT, UPDATE ON settings, fleet TO {role};",
        f"GRANT INSERT, UPDATE ON audit_head TO {role};",
        f"GRANT USAGE ON SEQUENCE visits_id_seq, audit_id_seq TO {role};",
        f"INSERT INTO kiosk_roles(role, site) VALUES ('{role}', '{site}')"
        " ON CONFLICT (role) DO UPDATE SET site = excluded.site;",
        *([
            "-- the front desk at this kiosk (visitor sign-in and sign-out):",
            f"GRANT INSERT ON people, samples, templates, invitations TO {role};",
            f"GRANT UPDATE (agreement_version, agreement_at, agreement_language, host_id, updated_at, mac) ON people TO {role};",
            f"GRANT UPDATE (signed_out_at, signed_out_how, mac) ON visits TO {role};",
            f"GRANT UPDATE (status, visit_id, updated_at) ON invitations TO {role};",
            f"GRANT USAGE ON SEQUENCE people_id_seq, samples_id_seq, templates_id_seq, invitations_id_seq TO {role};",
        ] if front_desk else []),
    ])
