"""Helpers of the fleet tests (issue 21): synthetic samples, least-privilege roles made with the
SQL `face-kiosk gallery grants` prints, and URLs that log in as them."""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
from pg_server import PgTestServer

from kiosk.gallery.api import NewSample, NewTemplate
from kiosk.gallery.pg_roles import admin_grants, kiosk_grants

MODEL = "test-model@000"


def sample(seed: int, dim: int = 8) -> NewSample:
    """A sample with random crops and one random template (seeded)."""
    rng = np.random.default_rng(seed)
    crop = rng.integers(0, 255, (112, 112, 3), np.uint8)
    face = rng.integers(0, 255, (256, 256, 3), np.uint8)
    return NewSample(crop, [NewTemplate("full", rng.standard_normal(dim).astype(np.float32), 0.5)], "t", 0.7,
                     False, face)


def run_sql(server: PgTestServer, script: str, dbname: str = "postgres") -> None:
    """Run a psql-style script as the superuser, as psql would (`\\connect DB` switches database,
    `--` starts a comment)."""
    batches: list[tuple[str, list[str]]] = [(dbname, [])]
    for line in script.splitlines():
        if line.startswith("\\connect "):
            batches.append((line.split()[1], []))
        else:
            batches[-1][1].append(line.split("--")[0])
    for db, lines in batches:
        with psycopg.connect(server.url(db), autocommit=True) as conn:
            for statement in "\n".join(lines).split(";"):
                if statement.strip():
                    conn.execute(statement)


def new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def make_admin(server: PgTestServer) -> tuple[str, str]:
    """A new admin role owning a new database with pgvector (as `gallery grants --admin` says);
    (role, database)."""
    role, db = new_name("fk_admin"), new_name("gallery")
    run_sql(server, admin_grants(role, db))
    server.admin(f"ALTER ROLE {role} PASSWORD 'pw-{role}'")
    return role, db


def make_kiosk(server: PgTestServer, db: str, site: str) -> str:
    """A new kiosk role of `site` (as `gallery grants --role --site` says), after migrate; its name."""
    role = new_name(f"fk_kiosk_{site}")
    run_sql(server, kiosk_grants(role, site, db), dbname=db)
    server.admin(f"ALTER ROLE {role} PASSWORD 'pw-{role}'")
    return role


def url_as(server: PgTestServer, db: str, role: str, host: str = "127.0.0.1") -> str:
    """The URL of `db` logged in as `role` (password pw-<role>) through `host`."""
    return f"postgresql://{role}:pw-{role}@{host}:{server.port}/{db}?sslmode=disable"
