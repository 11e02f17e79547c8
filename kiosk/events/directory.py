"""Who to tell when a person arrives: the protocol the gallery implements (no apprise here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class HostDirectory(Protocol):
    """Host contacts per enrolled person."""

    def contacts_for(self, person_id: int) -> Sequence[str]:
        """The host contacts of `person_id`: apprise URLs (json://, ntfy://, mailtos://...) or
        bare e-mail addresses; empty when nobody is to be told.

        Called on the notifier's thread, never on the recognition thread; it may query a
        database. An exception fails that one notification (reported, not retried).
        """
        ...
