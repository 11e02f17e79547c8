"""What SQLCipher costs the gallery: open, 10k-row write and read, plaintext vs encrypted.

    .venv/bin/python tools/bench_sqlcipher.py [--rows 10000] [--repeat 5]

Rows look like the gallery's templates (a 512-byte float32 embedding, a few text columns),
in WAL mode with synchronous=NORMAL, as kiosk.gallery.store opens it. Each figure is the
median of `--repeat` runs on a fresh file in a temporary folder:

- open: connect + (SQLCipher: PRAGMA key, verify by reading sqlite_master) + first query;
- write: all rows in one BEGIN IMMEDIATE transaction;
- read: SELECT every row (what building the template matrix does), cold connection.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.security.sqlcipher import connect_encrypted  # noqa: E402

KEY = os.urandom(32)


def plain_connect(path: Path, create: bool) -> Any:
    return sqlite3.connect(path, isolation_level=None)


def cipher_connect(path: Path, create: bool) -> Any:
    return connect_encrypted(path, KEY, create=create)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def one_run(connect: Callable[[Path, bool], Any], folder: Path, rows: int) -> dict[str, float]:
    db = folder / f"bench-{time.monotonic_ns()}.db"
    conn = connect(db, True)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE templates (id INTEGER PRIMARY KEY, person_id INTEGER, kind TEXT,"
                 " model_version TEXT, embedding BLOB, quality REAL, created_at TEXT)")
    payload = [(i // 5, "face", "sface-2021dec", os.urandom(512), 0.9, "2026-01-01T00:00:00") for i in range(rows)]

    def write() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO templates(person_id, kind, model_version, embedding, quality,"
                         " created_at) VALUES (?,?,?,?,?,?)", payload)
        conn.execute("COMMIT")

    t_write = timed(write)
    conn.close()

    holder: dict[str, Any] = {}

    def open_() -> None:
        holder["conn"] = connect(db, False)
        holder["conn"].execute("SELECT count(*) FROM sqlite_master").fetchone()

    t_open = timed(open_)
    reader = holder["conn"]
    t_read = timed(lambda: reader.execute("SELECT person_id, kind, embedding FROM templates").fetchall())
    reader.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return {"open": t_open, "write": t_write, "read": t_read}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, connect in (("plaintext sqlite3", plain_connect), ("SQLCipher 4", cipher_connect)):
            runs = [one_run(connect, Path(tmp), args.rows) for _ in range(args.repeat)]
            results[label] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"{args.rows} rows of ~560 bytes, median of {args.repeat} runs, WAL, synchronous=NORMAL")
    print(f"{'':20} {'open (ms)':>10} {'write (ms)':>11} {'read (ms)':>10}")
    for label, r in results.items():
        print(f"{label:20} {r['open'] * 1e3:10.2f} {r['write'] * 1e3:11.1f} {r['read'] * 1e3:10.1f}")
    plain, cipher = results["plaintext sqlite3"], results["SQLCipher 4"]
    print(f"{'ratio':20} {cipher['open'] / plain['open']:10.1f}x {cipher['write'] / plain['write']:10.1f}x"
          f" {cipher['read'] / plain['read']:9.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
