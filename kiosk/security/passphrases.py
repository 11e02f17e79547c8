"""What a passphrase must be: 10 characters or more (NFC-normalised, so every OS types the same
bytes), and for one being chosen (a new export, a new gallery) not obviously guessable. Used by
kiosk.security.keys (gallery passphrases) and kiosk.security.export_crypto (exports)."""

from __future__ import annotations

import unicodedata

from kiosk.errors import KioskError

MIN_PASSPHRASE_CHARS = 10
def validate_passphrase(passphrase: str) -> str:
    """The passphrase in Unicode NFC form (the same bytes whichever OS typed it), or a
    one-line KioskError when it is shorter than 10 characters."""
    normal = unicodedata.normalize("NFC", passphrase)
    if len(normal) < MIN_PASSPHRASE_CHARS:
        raise KioskError(f"the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")
    return normal


MIN_DISTINCT_CHARS = 5
# Runs a guesser walks along (wrapping: "7890123456"): digits, the alphabet, keyboard rows.
_CHARACTER_RUNS = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "qwertzuiopasdfghjklyxcvbnm",
                   "azertyuiopqsdfghjklmwxcvbn")


def validate_new_passphrase(passphrase: str) -> str:
    """`validate_passphrase`, and for a passphrase being chosen (a new export, a new gallery)
    also refused when it is obviously guessable: fewer than 5 different characters
    ("aaaaaaaaaa", "abababab12"), one block repeated ("passpasspass") or a run of characters
    ("1234567890", "abcdefghij"). No strength meter: only what any guesser tries first."""
    normal = validate_passphrase(passphrase)
    folded = normal.casefold()
    if len(set(folded)) < MIN_DISTINCT_CHARS:
        raise KioskError(f"choose another passphrase: it needs at least {MIN_DISTINCT_CHARS} different characters")
    n = len(folded)
    if any(n % k == 0 and folded[:k] * (n // k) == folded for k in range(1, n // 2 + 1)):
        raise KioskError("choose another passphrase: one block repeated is easy to guess")
    if len({ord(b) - ord(a) for a, b in zip(folded, folded[1:])}) == 1 or any(
            folded in line * 2 or folded[::-1] in line * 2 for line in _CHARACTER_RUNS):
        raise KioskError("choose another passphrase: a run of characters (like 1234567890) is easy to guess")
    return normal
