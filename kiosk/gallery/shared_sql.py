"""The three hooks through which SQL written once runs on both backends (the people writes in
kiosk.gallery.people_sql, the front desk in kiosk.gallery.frontdesk_sql).

A backend supplies `_sql_rows` (a read), `_sql_write` (one transaction, handing out an `SqlTx`
that runs statements, appends to the audit log and stores samples in it) and `_sql_changed`
(after faces were added or rows deleted: drop caches; scrub the files when asked). Statements
use `?` placeholders (the PostgreSQL backend turns them into `%s`), `RETURNING` (SQLite 3.35+),
and booleans that read the same on both (`WHERE p.is_host`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from kiosk.gallery.api import NewSample
from kiosk.security.audit import AuditAction


class SqlTx(Protocol):
    """What the shared SQL needs of one backend transaction."""

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Execute one statement (`?` placeholders); its rows (none for a statement without)."""
        ...

    def audit(self, action: AuditAction | str, subject: str, details: dict[str, Any]) -> None:
        """Append to the audit log, in this transaction."""
        ...

    def insert_samples(self, person_id: int, samples: list[NewSample], model_version: str, stamp: str) -> None:
        """Store samples and their templates (encrypted as the backend stores faces)."""
        ...


class SharedSql:
    """The hooks a backend implements for the shared SQL (see the module's doc)."""

    def _sql_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _sql_write(self, what: str) -> AbstractContextManager[SqlTx]:
        raise NotImplementedError

    def _sql_changed(self, scrub: bool) -> bool:
        raise NotImplementedError
