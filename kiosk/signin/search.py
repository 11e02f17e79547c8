"""Type-ahead over names on a public screen: accent- and case-blind word prefixes, and never a
list before enough letters are typed (a kiosk must not show who is expected today)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

#: Letters a visitor types before any expected guest's name is shown.
EXPECTED_MIN_LETTERS = 3
#: Letters typed before hosts are suggested (hosts are staff who receive visitors: less private).
HOST_MIN_LETTERS = 2
MAX_SHOWN = 4  # two rows of two on the kiosk


def fold(text: str) -> str:
    """`text` without accents, case or extra spaces ("Zoë  MÜLLER" -> "zoe muller")."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().replace("ß", "ss").split())


def letters(query: str) -> int:
    """How many letters (and digits) a query has."""
    return sum(1 for c in query if c.isalnum())


def word_prefix_match(query: str, name: str) -> bool:
    """True when every word of `query` starts a word of `name` ("ada lov" finds "Ada Lovelace",
    "love" finds it too, "ace" does not)."""
    words = fold(name).replace("-", " ").split()
    return all(any(w.startswith(q) for w in words) for q in fold(query).replace("-", " ").split())


def search(query: str, items: Iterable[T], name: Callable[[T], str], *, min_letters: int,
           limit: int = MAX_SHOWN) -> list[T]:
    """The items whose name matches `query`, nothing below `min_letters` letters; at most `limit`,
    shortest name first (an exact name beats a longer one that starts the same)."""
    if letters(query) < min_letters:
        return []
    found = [item for item in items if word_prefix_match(query, name(item))]
    found.sort(key=lambda item: (len(name(item)), fold(name(item))))
    return found[:limit]
