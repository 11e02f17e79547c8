"""Which admin PINs are refused, and the lockout state sealed against edits.

Why a PIN hash does not protect the PIN: a 6-digit PIN has 10**6 values. At ~0.3 s of scrypt
per guess (the cost `kiosk.security.scrypt_cost` picks here) that is ~3.5 days on ONE core for all of
them, about half of that on average, and hours on a few dozen cores; the patterns people pick
(refused below) fall in seconds. Whoever holds a copy of the hash and its salt WILL find the
PIN. What actually protects it:

- the encrypted gallery: without the gallery key nobody reads the hash at all, and
- the lockout: at the kiosk, guesses are online and slowed down (after the free tries every
  wrong PIN doubles the wait, up to an hour), and the failure count survives a restart.

So neither the lockout state nor the PIN hash may be editable by someone who can write the
database but does not have the key (a plaintext gallery, a copied file, the DBA of a shared
gallery): `seal` and `seal_pin_hash` add an HMAC under the gallery's integrity key, bound to
the gallery's own id (kept inside it, so a moved or copied file still verifies) and to the
audit log's sequence number at which the value was written. `unseal` answers an edited,
damaged or missing-but-expected state with the most restrictive state there is (a long run of
failures and the longest wait), never with zero failures; the caller (kiosk.gallery.admin_pin)
also refuses a state older than the newest PIN record of the audit log, so an older sealed
value written back (a replay) does not verify either.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.errors import KioskError

MIN_DIGITS = 6
MAX_DIGITS = 12
# After a tampered state: this many failures (every further wrong PIN waits the maximum)...
RESTRICTIVE_FAILURES = 99
# ...and the longest wait of kiosk.admin_pin.PinPolicy (max_delay_s).
DEFAULT_MAX_DELAY_S = 3600.0
_SEAL_VERSION = "v2"
_LEGACY_VERSION = "v1"  # schema 4: bound to the gallery's path, no sequence number

# The most common 6-digit PINs. Sources:
# - Markert, Bailey, Golla, Dürmuth, Aviv: "This PIN Can Be Easily Guessed: Analyzing the
#   Security of Smartphone Unlock PINs", IEEE S&P 2020: their ten most popular 6-digit PINs
#   are 000000, 111111, 112233, 121212, 123123, 123456, 159753, 654321, 666666, 789456.
# - DataGenetics (Nick Berry), "PIN analysis", 2012 (3.4 M leaked numeric passwords): among
#   its top 6-digit codes 696969, 159753 and 007007.
# - Leaked-PIN studies of Chinese users (Wang et al., "Understanding Human-Chosen PINs",
#   ASIA CCS 2017) report 520520 ("I love you") and mirrored PINs such as 123321 near the top.
# The remaining entries are ours, not from a study: the same kinds of pattern (descending,
# keypad, triples, round numbers). Most are also caught by the rules below; the list keeps
# the cited ones refused by name even if a rule changes.
COMMON_PINS = frozenset({
    "000000", "111111", "112233", "121212", "123123", "123456", "159753", "654321",
    "666666", "789456", "696969", "007007", "520520", "123321", "987654", "147258",
    "123654", "111222", "102030", "100200", "131313",
})

# Lines on a phone keypad (1 2 3 / 4 5 6 / 7 8 9 / _ 0 _); a numeric keypad (7 8 9 on top)
# has the same lines reversed, so both directions are listed: rows, columns, diagonals.
_KEYPAD_LINES = ("123", "456", "789", "147", "258", "369", "2580", "159", "357")
_KEYPAD_TOKENS = frozenset(line for base in _KEYPAD_LINES for line in (base, base[::-1]))


class PinPolicyError(KioskError):
    """A new admin PIN is refused (one line saying why)."""


def validate_pin(pin: str) -> None:
    """Raise PinPolicyError unless `pin` is an acceptable new admin PIN.

    Refused: anything but ASCII digits; fewer than 6 or more than 12 digits; one digit
    repeated; a constant step (123456, 890123 wrapping, 975319, 135791); a repeated or
    mirrored block (121212, 123123, 123321) or digits in equal runs (112233, 111222); a PIN
    made of keypad lines (147258, 258369, 159357, 789456); the common PINs above.
    """
    if not (pin.isascii() and pin.isdigit()):
        raise PinPolicyError("the PIN must be digits only")
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        raise PinPolicyError(f"the PIN must have {MIN_DIGITS} to {MAX_DIGITS} digits")
    reason = _weakness(pin)
    if reason:
        raise PinPolicyError(f"choose another PIN: {reason} is easy to guess")


def _weakness(pin: str) -> str:
    """Why `pin` is weak, or "" (the order only picks the clearest explanation)."""
    if len(set(pin)) == 1:
        return "one digit repeated"
    if pin in COMMON_PINS:
        return "one of the most common PINs"
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    if len(steps) == 1:
        return "a run of digits (like 123456 or 654321)"
    if _is_repeated_block(pin) or pin == pin[::-1]:
        return "a repeated or mirrored pattern (like 121212, 123123 or 123321)"
    if _equal_runs(pin):
        return "digits in pairs or triples (like 112233)"
    if _keypad_lines(pin):
        return "a line pattern on the keypad (like 147258 or 159357)"
    if _counted_run(pin):
        return "numbers counted up or down (like 246810 or 102030)"
    return ""


def _counted_run(pin: str) -> bool:
    """The PIN is three or more numbers written one after another that count up or down by the
    same step (2 4 6 8 10, 10 20 30, 5 10 15 20, 1 3 5 7 9 11, 10 8 6 4 2): the runs of whole
    numbers that the digit-step rule misses once a number has two digits. Steps of 1 to 10
    and multiples of 10; no number starts with a 0 (except 0 itself)."""
    n = len(pin)
    for first in range(1, n // 3 + 1):
        for second in range(1, (n - first) // 2 + 1):
            a, b = pin[:first], pin[first:first + second]
            if (len(a) > 1 and a[0] == "0") or (len(b) > 1 and b[0] == "0"):
                continue
            step = int(b) - int(a)
            if step == 0 or not (abs(step) <= 10 or step % 10 == 0):
                continue
            text, value, terms = a + b, int(b), 2
            while len(text) < n and value + step >= 0:
                value += step
                text += str(value)
                terms += 1
            if terms >= 3 and text == pin:
                return True
    return False


def _is_repeated_block(pin: str) -> bool:
    n = len(pin)
    return any(n % k == 0 and pin[:k] * (n // k) == pin for k in range(1, n // 2 + 1))


def _equal_runs(pin: str) -> bool:
    """112233, 111222: each digit repeated the same number (>= 2) of times in a row."""
    runs: list[int] = []
    for i, ch in enumerate(pin):
        if i and ch == pin[i - 1]:
            runs[-1] += 1
        else:
            runs.append(1)
    return len(set(runs)) == 1 and runs[0] >= 2


def _keypad_lines(pin: str) -> bool:
    """The PIN splits into whole keypad lines (rows, columns, diagonals, either way)."""
    can_end = [True] + [False] * len(pin)  # can_end[i]: pin[:i] splits into lines
    for i in range(len(pin)):
        if can_end[i]:
            for token in _KEYPAD_TOKENS:
                if pin.startswith(token, i):
                    can_end[i + len(token)] = True
    return can_end[-1]


# -- the lockout state -----------------------------------------------------------------------


@dataclass(frozen=True)
class LockoutState:
    """Wrong PINs in a row, and the wall-clock time (epoch s) before which no PIN is tried.
    `seq`: the audit log's sequence number when it was written (what binds it to its time).
    `tampered`: this state was made up by `unseal` because the stored one failed its check."""

    failures: int
    locked_until: float
    tampered: bool = False
    seq: int = 0


def _derived(gallery_key: bytes, info: bytes) -> bytes:
    # One key per purpose (not the gallery key itself, not the audit key).
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(gallery_key)


def _seal_key(gallery_key: bytes) -> bytes:
    return _derived(gallery_key, b"face-kiosk lockout v1")


def _tag(key: bytes, gallery_id: str, failures: int, until: str, seq: int | None = None) -> str:
    # The gallery id is in the MAC: a state copied from another gallery does not verify; the
    # sequence number (v2) ties the state to the point of the audit log it was written at.
    version = _LEGACY_VERSION if seq is None else _SEAL_VERSION
    tail = "" if seq is None else f"|{seq}"
    msg = f"face-kiosk lockout|{version}|{gallery_id}|{failures}|{until}{tail}".encode()
    return hmac.new(_seal_key(key), msg, hashlib.sha256).hexdigest()


def seal(state: LockoutState, key: bytes, gallery_id: str, seq: int = 0) -> str:
    """The text to store: "v2:<failures>:<locked_until>:<seq>:<hmac>". `key` is the gallery's
    integrity key, `gallery_id` its own id (kept inside it), `seq` the audit log's newest
    sequence number (the wrong PIN's own record, when one was written with it)."""
    if state.failures < 0 or not math.isfinite(state.locked_until) or seq < 0:
        raise ValueError("a lockout state needs failures >= 0, a finite time and seq >= 0")
    until = repr(float(state.locked_until))
    return f"{_SEAL_VERSION}:{state.failures}:{until}:{seq}:{_tag(key, gallery_id, state.failures, until, seq)}"


def unseal(
    text: str | None,
    key: bytes,
    gallery_id: str,
    *,
    expected: bool = True,
    now: float | None = None,
    max_delay_s: float = DEFAULT_MAX_DELAY_S,
) -> LockoutState:
    """The stored lockout state, checked (the "v2" form of `seal`).

    `expected`: a state should exist (a PIN is set; the kiosk writes the state with the
    PIN). Missing-but-expected, unparseable, or a failed HMAC give the most restrictive
    state: `RESTRICTIVE_FAILURES` failures, locked for `max_delay_s` from `now`,
    `tampered=True` (log it; a right PIN after the wait clears it). Missing and not expected:
    no failures.
    """
    clock = time.time() if now is None else now
    worst = strictest(clock, max_delay_s)
    if text is None:
        return worst if expected else LockoutState(0, 0.0)
    try:
        version, failures_text, until, seq_text, tag = text.split(":")
        failures, seq = int(failures_text), int(seq_text)
        locked_until = float(until)
        if version != _SEAL_VERSION or failures < 0 or seq < 0 or not math.isfinite(locked_until):
            return worst
    except ValueError:
        return worst
    if not hmac.compare_digest(_tag(key, gallery_id, failures, until, seq), tag):
        return worst
    return LockoutState(failures, locked_until, seq=seq)


def strictest(now: float, max_delay_s: float = DEFAULT_MAX_DELAY_S) -> LockoutState:
    """What an edited, replayed or missing state counts as: a long run of failures and the
    longest wait, from `now`."""
    return LockoutState(RESTRICTIVE_FAILURES, now + max_delay_s, tampered=True)


def unseal_legacy(text: str | None, key: bytes, legacy_id: str) -> LockoutState | None:
    """A lockout state sealed by schema 4 ("v1", bound to the gallery's path), or None when it
    does not verify. Only the migration to schema 5 reads these, to seal them again."""
    if text is None:
        return None
    try:
        version, failures_text, until, tag = text.split(":")
        failures, locked_until = int(failures_text), float(until)
    except ValueError:
        return None
    if version != _LEGACY_VERSION or failures < 0 or not math.isfinite(locked_until):
        return None
    if not hmac.compare_digest(_tag(key, legacy_id, failures, until), tag):
        return None
    return LockoutState(failures, locked_until)


# -- the PIN hash --------------------------------------------------------------------------------


def _pin_tag(key: bytes, gallery_id: str, hash_text: str, seq: int) -> str:
    msg = f"face-kiosk admin pin|{_SEAL_VERSION}|{gallery_id}|{seq}|{hash_text}".encode()
    return hmac.new(_derived(key, b"face-kiosk admin pin v2"), msg, hashlib.sha256).hexdigest()


def seal_pin_hash(hash_text: str, key: bytes, gallery_id: str, seq: int) -> str:
    """The PIN hash as stored: "v2#<seq>#<hash>#<hmac>", `seq` being the audit record that set it
    (pin_set, pin_change, pin_reset): another hash written in (a PIN the editor knows), or an
    older one written back, does not verify."""
    if "#" in hash_text or seq < 0:
        raise ValueError("a PIN hash has no '#', and seq >= 0")
    return f"{_SEAL_VERSION}#{seq}#{hash_text}#{_pin_tag(key, gallery_id, hash_text, seq)}"


def open_pin_hash(text: str, key: bytes, gallery_id: str) -> tuple[str, int] | None:
    """(hash, seq) of a sealed PIN hash, or None when it is edited, damaged or not sealed."""
    try:
        version, seq_text, hash_text, tag = text.split("#")
        seq = int(seq_text)
    except ValueError:
        return None
    if version != _SEAL_VERSION or seq < 0:
        return None
    if not hmac.compare_digest(_pin_tag(key, gallery_id, hash_text, seq), tag):
        return None
    return hash_text, seq
