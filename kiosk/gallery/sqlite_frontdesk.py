"""The SQLite gallery's front desk (kiosk.gallery.frontdesk_sql's shared SQL on this file's
connection): visitors, hosts, invitations, sign-outs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kiosk.gallery.api import NewSample
from kiosk.gallery.frontdesk_sql import FrontDeskSql, FrontDeskTx
from kiosk.gallery.sqlite_people import SqlitePeople
from kiosk.security.audit import AuditAction


class _Tx:
    """One SQLite transaction as the shared SQL uses it."""

    def __init__(self, gallery: SqlitePeople, conn: sqlite3.Connection) -> None:
        self.gallery, self.conn = gallery, conn

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(sql, params)
        return cur.fetchall() if cur.description else []

    def audit(self, action: AuditAction | str, subject: str, details: dict[str, Any]) -> None:
        self.gallery._audit(action, subject, details)

    def insert_samples(self, person_id: int, samples: list[NewSample], model_version: str, stamp: str) -> None:
        self.gallery._insert_samples(self.conn, person_id, samples, model_version, stamp)


class SqliteFrontDesk(SqlitePeople, FrontDeskSql):
    """The front desk's part of the SQLite Gallery."""

    def _fd_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._rows(sql, params)

    @contextmanager
    def _fd_write(self, what: str) -> Iterator[FrontDeskTx]:
        with self._transaction() as conn:
            yield _Tx(self, conn)

    def _fd_changed(self, scrub: bool) -> bool:
        self._cache.clear()
        return self._scrub() if scrub else True
