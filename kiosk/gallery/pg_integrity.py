"""The row MACs of the shared gallery (kiosk.gallery.row_seal): sealing people and visits as the
app writes them, checking them as it reads them, and the report `audit verify` prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from kiosk.gallery.pg_connection import PgConnection
from kiosk.gallery.row_seal import PERSON_SEALED, VISIT_SEALED, mac_ok, person_mac, visit_mac

#: The people columns a check needs, in the order `person_intact` takes them: id, sealed, mac.
PERSON_CHECK_COLUMNS = "id, " + ", ".join(PERSON_SEALED) + ", mac"
PERSON_CHECK_COLUMNS_P = ", ".join(f"p.{c}" for c in ("id", *PERSON_SEALED, "mac"))  # `p` is people
VISIT_CHECK_COLUMNS = ", ".join(VISIT_SEALED) + ", mac"
_BATCH = 500


@dataclass(frozen=True)
class IntegrityReport:
    """Rows whose MAC fails: changed outside face-kiosk (ids of people, ids of visits)."""

    people: list[int]
    visits: list[int]

    @property
    def ok(self) -> bool:
        """No row was changed outside the app."""
        return not self.people and not self.visits


class PgIntegrity(PgConnection):
    """Seals and checks the rows a DBA can write."""

    def _person_mac(self, person_id: int, values: tuple[Any, ...]) -> str:
        return person_mac(self._row_key, self._gallery_id, person_id, values)

    def person_intact(self, row: tuple[Any, ...]) -> bool:
        """Whether a row of PERSON_CHECK_COLUMNS carries the app's MAC."""
        return mac_ok(self._person_mac(int(row[0]), tuple(row[1:-1])), row[-1])

    def visit_intact(self, row: tuple[Any, ...]) -> bool:
        """Whether a row of VISIT_CHECK_COLUMNS carries the app's MAC."""
        return mac_ok(visit_mac(self._row_key, self._gallery_id, tuple(row[:-1])), row[-1])

    def _visit_seal(self, values: tuple[Any, ...]) -> str:
        return visit_mac(self._row_key, self._gallery_id, values)

    def _seal_people(self, conn: psycopg.Connection, ids: list[int]) -> None:
        """Write the MAC of these people rows as they are now (inside the writing transaction)."""
        rows = conn.execute(f"SELECT {PERSON_CHECK_COLUMNS} FROM people WHERE id = ANY(%s)", (ids,)).fetchall()  # noqa: S608
        for row in rows:
            conn.execute("UPDATE people SET mac = %s WHERE id = %s", (self._person_mac(int(row[0]), tuple(row[1:-1])),
                                                                      row[0]))

    def person_intact_now(self, conn: psycopg.Connection, person_id: int) -> bool:
        """Whether the person's row, as `conn` sees it now, carries the app's MAC."""
        row = conn.execute(f"SELECT {PERSON_CHECK_COLUMNS} FROM people WHERE id = %s", (person_id,)).fetchone()  # noqa: S608
        return row is not None and self.person_intact(row)

    def _seal_visits(self, conn: psycopg.Connection, ids: list[int]) -> None:
        """Write the MAC of these visits rows as they are now (inside the writing transaction)."""
        for row in conn.execute(f"SELECT id, {VISIT_CHECK_COLUMNS} FROM visits WHERE id = ANY(%s)",  # noqa: S608
                                (ids,)).fetchall():
            conn.execute("UPDATE visits SET mac = %s WHERE id = %s", (self._visit_seal(tuple(row[1:-1])), row[0]))

    def seal_unsealed(self, conn: psycopg.Connection) -> tuple[int, int]:
        """Seal the rows written before schema 6 (no MAC yet): run by `gallery migrate`, which
        trusts the rows as they are then. Returns (people, visits) sealed."""
        ids = [int(r[0]) for r in conn.execute("SELECT id FROM people WHERE mac IS NULL").fetchall()]
        for start in range(0, len(ids), _BATCH):
            self._seal_people(conn, ids[start:start + _BATCH])
        rows = conn.execute(f"SELECT id, {VISIT_CHECK_COLUMNS} FROM visits WHERE mac IS NULL").fetchall()  # noqa: S608
        for row in rows:
            conn.execute("UPDATE visits SET mac = %s WHERE id = %s", (self._visit_seal(tuple(row[1:-1])), row[0]))
        return len(ids), len(rows)

    def integrity_report(self) -> IntegrityReport:
        """Every people and visits row whose MAC fails (what `audit verify` reports)."""
        people = [int(r[0]) for r in self._rows(f"SELECT {PERSON_CHECK_COLUMNS} FROM people ORDER BY id")  # noqa: S608
                  if not self.person_intact(r)]
        visits = [int(r[0]) for r in self._rows(f"SELECT id, {VISIT_CHECK_COLUMNS} FROM visits ORDER BY id")  # noqa: S608
                  if not self.visit_intact(r[1:])]
        return IntegrityReport(people, visits)
