"""Which language the kiosk speaks now: the visitor's pick, back to the kiosk's own when they leave."""

from __future__ import annotations

from collections.abc import Callable

#: Nobody in view and no touch for this long: the visitor has left.
AWAY_S = 8.0


class LanguageChoice:
    """The kiosk's language: `choose` at a tap; `update` puts the default back once the visitor
    has gone (nobody in view and no touch for `away_s`, or no touch at all for `timeout_s`)."""

    def __init__(self, default: str, *, clock: Callable[[], float], timeout_s: float, away_s: float = AWAY_S) -> None:
        self.default = default
        self.current = default
        self.clock = clock
        self.timeout_s = timeout_s
        self.away_s = away_s
        self._touched_at = clock()

    def choose(self, code: str) -> None:
        """The visitor tapped a language."""
        self.current = code
        self.touched()

    def touched(self) -> None:
        """The visitor touched the screen (or is being served): they are still there."""
        self._touched_at = self.clock()

    def update(self, *, nobody_in_view: bool, busy: bool = False) -> bool:
        """Go back to the default when the visitor has left; True when the language changed.
        `busy`: a visitor's screens are open (they time out by themselves, and then call reset)."""
        if self.current == self.default or busy:
            return False
        idle = self.clock() - self._touched_at
        if idle >= self.timeout_s or (nobody_in_view and idle >= self.away_s):
            return self.reset()
        return False

    def reset(self) -> bool:
        """Back to the kiosk's own language now; True when it changed."""
        changed = self.current != self.default
        self.current = self.default
        return changed
