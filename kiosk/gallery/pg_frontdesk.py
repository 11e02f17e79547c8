"""The shared gallery's front desk (kiosk.gallery.frontdesk_sql's shared SQL on PostgreSQL):
visitors, hosts, invitations, sign-outs. A visitor's crops and templates are encrypted on the
kiosk like everyone's; names, companies and times are readable by the DBA, as visits are."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from kiosk.gallery.api import NewSample
from kiosk.gallery.frontdesk_sql import FrontDeskSql, FrontDeskTx
from kiosk.gallery.pg_people import PgPeople
from kiosk.security.audit import AuditAction


def _pg(sql: str) -> str:
    """The shared SQL's `?` placeholders as psycopg's (the shared SQL has no literal % or ?)."""
    return sql.replace("?", "%s")


class _Tx:
    """One PostgreSQL transaction as the shared SQL uses it."""

    def __init__(self, gallery: PgPeople, conn: psycopg.Connection) -> None:
        self.gallery, self.conn = gallery, conn

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; the people and visits rows it writes are sealed (row MACs,
        kiosk.gallery.pg_integrity) in the same transaction. A people row changed outside
        face-kiosk stays flagged: a front-desk change to it is not a reason to trust it again."""
        words = sql.split()
        head = " ".join(words[:3])
        changes_person = head == "UPDATE people SET" and not words[3].startswith("last_seen=")
        intact = changes_person and self.gallery.person_intact_now(self.conn, int(params[-1]))
        cur = self.conn.execute(_pg(sql), params)
        rows = cur.fetchall() if cur.description else []
        if head.startswith("INSERT INTO people") or (changes_person and intact):
            self.gallery._seal_people(self.conn, [int(r[0]) for r in rows] or [int(params[-1])])
        elif head.startswith("INSERT INTO visits"):
            self.gallery._seal_visits(self.conn, [int(r[0]) for r in rows])
        return rows

    def audit(self, action: AuditAction | str, subject: str, details: dict[str, Any]) -> None:
        self.gallery._audit(self.conn, action, subject, details)

    def insert_samples(self, person_id: int, samples: list[NewSample], model_version: str, stamp: str) -> None:
        self.gallery._insert_samples(self.conn, person_id, samples, model_version, stamp)


class PgFrontDesk(PgPeople, FrontDeskSql):
    """The front desk's part of PgGallery."""

    def _fd_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._rows(_pg(sql), params, "reading the front desk")

    @contextmanager
    def _fd_write(self, what: str) -> Iterator[FrontDeskTx]:
        with self._transaction(what) as conn:
            yield _Tx(self, conn)

    def _fd_changed(self, scrub: bool) -> bool:
        # The template cache follows the change feed (the triggers note every person changed).
        return self._scrub() if scrub else True
