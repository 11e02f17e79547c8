"""The admin PIN: a salted scrypt hash in the gallery's settings, and a persisted lockout.

Enrollment, the gallery manager, leaving kiosk mode and the destructive, exporting or revealing
CLI commands ask for it. A 6-digit PIN has a million values, so its hash (scrypt, ~0.3 s a try)
only slows reading it off a stolen copy; what protects it is the encrypted gallery and the
lockout: after `free_tries` wrong PINs every further wrong PIN waits a delay that doubles each
time. Weak PINs (runs, repeats, keypad lines, counted numbers, the most common ones) are
refused. Setting, changing, resetting, entering a wrong PIN and unlocking the kiosk are recorded
in the audit log. Wall-clock time is used because a monotonic clock does not survive a restart.

Against whoever can write the database without the gallery's key (a plaintext gallery, the DBA
of a shared one), both the hash and the lockout state are sealed (kiosk.security.pin_policy)
with the gallery's integrity key, bound to the gallery's own id and to the audit record
written with them, in one transaction:

- a hash that was edited (another PIN's hash written in), written back from earlier (its
  record is not the newest pin_set / pin_change / pin_reset), or removed although the audit
  log says a PIN was set, is "tampered": no PIN is accepted, the admin commands are refused,
  and only `face-kiosk admin reset-pin` (audited as pin_reset, with why) sets a new one;
- a lockout state that was edited, removed, or written back from before a later wrong PIN
  counts as the strictest state (the longest wait, from now), never as a reset;
- when the whole gallery is older than this computer last saw it (a restored copy,
  kiosk.security.audit_anchor), the failures counted here still count.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.errors import KioskError
from kiosk.gallery.api import GalleryStore
from kiosk.security.audit import AuditAction
from kiosk.security.pin_policy import (
    LockoutState,
    PinPolicyError,
    open_pin_hash,
    seal,
    seal_pin_hash,
    strictest,
    unseal,
    validate_pin,
)

log = logging.getLogger(__name__)

HASH_KEY = "admin_pin"
LOCKOUT_KEY = "admin_pin_lockout"
#: The audit records that (re)set the PIN hash; a lockout state is also as new as the newest
#: wrong PIN (`LOCKOUT_RECORDS`).
PIN_RECORDS = ("pin_set", "pin_change", "pin_reset")
LOCKOUT_RECORDS = (*PIN_RECORDS, "pin_failed")


class PinError(KioskError):
    """A new PIN is not acceptable (too short, not digits, confirmation differs...)."""


@dataclass(frozen=True)
class PinPolicy:
    """How long a PIN is, how many wrong tries are free and how the delay grows."""

    min_length: int = 6
    max_length: int = 12
    free_tries: int = 5
    base_delay_s: float = 30.0  # after the 5th wrong PIN; doubles with every further one
    max_delay_s: float = 3600.0
    # scrypt cost: n=2**17, r=8 takes 0.30-0.34 s and 128 MiB on the 2-core target
    # (kiosk.security.scrypt_cost.recommend_scrypt); stored with each hash.
    scrypt_n: int = 2**17
    scrypt_r: int = 8
    scrypt_p: int = 1


@dataclass(frozen=True)
class PinCheck:
    """The outcome of one PIN entry."""

    ok: bool
    locked_for_s: float = 0.0  # > 0: no PIN is accepted for this long (the entry was not tried)
    tries_left: int = 0  # wrong PINs still allowed before the delay starts
    message: str = ""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hash(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024)


def format_wait(seconds: float) -> str:
    """'45 s', '2 min 5 s', '1 h' - for the lockout message (rounded up: never "0 s" while locked)."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class AdminPin:
    """The admin PIN of one gallery. Cheap to create; all state lives in the gallery."""

    def __init__(self, gallery: GalleryStore, policy: PinPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.gallery = gallery
        self.policy = policy or PinPolicy()
        self._clock = clock

    # -- setting ------------------------------------------------------------------------

    def is_set(self) -> bool:
        """True once a PIN has been chosen (first run: False), also while it is tampered."""
        if self.gallery.get_setting(HASH_KEY):
            return True
        return self.gallery.audit_tail(PIN_RECORDS).newest(PIN_RECORDS) is not None

    def problem(self) -> str:
        """Why the stored PIN cannot be trusted (edited, written back, removed), or ""."""
        text = self.gallery.get_setting(HASH_KEY)
        setter = self.gallery.audit_tail(PIN_RECORDS).newest(PIN_RECORDS)
        if not text:
            if setter is None:
                return ""
            return f"the admin PIN was removed outside face-kiosk (audit record {setter[1]} set it)"
        opened = open_pin_hash(text, self.gallery.integrity_key, self.gallery.gallery_id)
        if opened is None:
            return "the stored admin PIN was edited outside face-kiosk"
        if opened[1] != (setter[1] if setter else 0):
            return "the stored admin PIN is not the one the audit log set last (an older one written back?)"
        return ""

    def validate_new(self, pin: str, confirm: str | None = None) -> None:
        """Raise PinError when `pin` cannot be a PIN (or differs from `confirm`)."""
        policy = self.policy
        if not pin.isdigit() or not pin.isascii():
            raise PinError("the PIN must be digits only")
        if not policy.min_length <= len(pin) <= policy.max_length:
            raise PinError(f"the PIN must have {policy.min_length} to {policy.max_length} digits")
        try:
            validate_pin(pin)
        except PinPolicyError as exc:
            raise PinError(str(exc)) from None
        # compare_digest raises TypeError on a non-ASCII str; `pin` is ASCII by now, so such a
        # `confirm` (a slip at the terminal) simply differs.
        if confirm is not None and not (confirm.isascii() and hmac.compare_digest(pin, confirm)):
            raise PinError("the two PINs differ; enter the same PIN twice")

    def set_pin(self, pin: str, confirm: str | None = None) -> None:
        """Store a new PIN (salted scrypt) and clear the lockout. The caller must already
        have checked the old PIN (or there was none: first run)."""
        self.validate_new(pin, confirm)
        if self.problem():
            raise PinError(f"{self.problem()}; reset it with `face-kiosk admin reset-pin`")
        action = AuditAction.PIN_CHANGE if self.is_set() else AuditAction.PIN_SET
        self._store_hash(self._new_hash(pin), action, {})
        log.info("admin PIN set")

    def reset_pin(self, pin: str, confirm: str | None = None) -> str:
        """Set a new PIN when the stored one is tampered (`problem`): nobody can enter the old
        one, so whoever holds the gallery's key (who runs this) sets a new one. Audited as
        pin_reset with the reason; returns it. PinError while the stored PIN is sound."""
        self.validate_new(pin, confirm)
        reason = self.problem()
        if not reason:
            raise PinError("the admin PIN is intact; change it with `face-kiosk admin set-pin` (the current PIN "
                           "is asked)")
        self._store_hash(self._new_hash(pin), "pin_reset", {"reason": reason})
        log.warning("admin PIN reset (%s)", reason)
        return reason

    def stored_hash(self) -> str | None:
        """The PIN's hash as `adopt_hash` takes it (to copy a gallery), or None when there is
        no PIN or it is tampered."""
        text = self.gallery.get_setting(HASH_KEY)
        if not text or self.problem():
            return None
        opened = open_pin_hash(text, self.gallery.integrity_key, self.gallery.gallery_id)
        return opened[0] if opened else None

    def adopt_hash(self, hash_text: str) -> None:
        """Take another gallery's PIN (`stored_hash`) as this one's: sealed for this gallery,
        audited as pin_set (copied), the lockout starting afresh."""
        self._store_hash(hash_text, AuditAction.PIN_SET, {"adopted": True})

    def _new_hash(self, pin: str) -> str:
        p = self.policy
        salt = os.urandom(16)
        digest = _hash(pin, salt, p.scrypt_n, p.scrypt_r, p.scrypt_p)
        return f"scrypt${p.scrypt_n}${p.scrypt_r}${p.scrypt_p}${_b64(salt)}${_b64(digest)}"

    def _store_hash(self, hash_text: str, action: AuditAction | str, details: dict[str, object]) -> None:
        key, gid = self.gallery.integrity_key, self.gallery.gallery_id
        self.gallery.seal_settings(lambda seq: {HASH_KEY: seal_pin_hash(hash_text, key, gid, seq),
                                                LOCKOUT_KEY: seal(LockoutState(0, 0.0), key, gid, seq)},
                                   action, "admin PIN", details)
        self.gallery.guard.set_lockout(0, 0.0)

    # -- checking -----------------------------------------------------------------------

    def locked_for(self) -> float:
        """Seconds until a PIN may be entered again (0 when it may be entered now)."""
        failures, until = self._load_lockout()
        now = self._clock()
        longest = self.policy.max_delay_s
        if until > now + longest:
            # No wait is ever set longer than the longest delay: the clock was set back since it
            # began. Capping only the answer would answer the longest delay until the clock caught
            # up (set back a day: locked out for a day); the longest delay counts from now, once.
            until = now + longest
            self._save_lockout(failures, until)
        return max(0.0, until - now)

    def failures(self) -> int:
        """Wrong PINs since the last right one."""
        return self._load_lockout()[0]

    def check(self, pin: str) -> PinCheck:
        """Try a PIN. While locked out the PIN is not even compared (and not counted)."""
        wait = self.locked_for()
        if wait > 0:
            return PinCheck(False, locked_for_s=wait, message=f"Too many wrong PINs. Try again in {format_wait(wait)}.")
        problem = self.problem()
        if problem:
            return PinCheck(False, message=f"No PIN can be accepted: {problem}. Whoever holds the gallery's key "
                                           "can set a new one: face-kiosk admin reset-pin (audited).")
        stored = self.gallery.get_setting(HASH_KEY)
        if not stored:
            return PinCheck(False, message="No admin PIN has been set yet.")
        opened = open_pin_hash(stored, self.gallery.integrity_key, self.gallery.gallery_id)
        if opened is not None and self._matches(pin, opened[0]):
            self._save_lockout(0, 0.0)
            return PinCheck(True, tries_left=self.policy.free_tries, message="PIN accepted.")
        failures = self.failures() + 1
        delay = self.delay_after(failures)
        # The count and its audit record in one transaction; a log that refuses records (its
        # head broken) still gets the count, or breaking the log would switch the lockout off.
        self._save_lockout(failures, self._clock() + delay if delay else 0.0,
                           audit=(AuditAction.PIN_FAILED, {"in_a_row": failures}))
        log.warning("admin PIN: wrong PIN (%d in a row)", failures)
        if delay:
            return PinCheck(False, locked_for_s=delay,
                            message=f"Wrong PIN. Too many wrong PINs: try again in {format_wait(delay)}.")
        left = self.policy.free_tries - failures
        return PinCheck(False, tries_left=left,
                        message=f"Wrong PIN. {left} {'try' if left == 1 else 'tries'} left before a delay.")

    def delay_after(self, failures: int) -> float:
        """The wait imposed after `failures` wrong PINs in a row (0 while tries are free)."""
        p = self.policy
        extra = failures - p.free_tries
        if extra < 0:
            return 0.0
        return float(min(p.max_delay_s, p.base_delay_s * 2 ** min(extra, 30)))

    def _matches(self, pin: str, stored: str) -> bool:
        try:
            scheme, n, r, p, salt, digest = stored.split("$")
            if scheme != "scrypt":
                raise ValueError(scheme)
            expected = base64.b64decode(digest)
            actual = _hash(pin, base64.b64decode(salt), int(n), int(r), int(p))
        except (ValueError, TypeError) as exc:
            # A damaged hash must not let anyone in; the PIN can be reset by setting a new one
            # with the database tools (whoever can edit the database is an admin anyway).
            log.error("admin PIN: the stored hash is damaged (%s)", exc)
            return False
        return hmac.compare_digest(actual, expected)

    # -- lockout state --------------------------------------------------------------------

    def _load_lockout(self) -> tuple[int, float]:
        gallery = self.gallery
        now = self._clock()
        text = gallery.get_setting(LOCKOUT_KEY)
        state = unseal(text, gallery.integrity_key, gallery.gallery_id, expected=self.is_set(), now=now,
                       max_delay_s=self.policy.max_delay_s)
        if not state.tampered and text is not None:
            tail = gallery.audit_tail(LOCKOUT_RECORDS)
            newest = tail.newest(LOCKOUT_RECORDS)
            if (newest is not None and state.seq < newest[1]) or state.seq > tail.last_seq:
                # A sealed state from before a later wrong PIN (written back), or from a log
                # that is no longer there.
                state = strictest(now, self.policy.max_delay_s)
        if state.tampered:
            log.warning("admin PIN: the lockout state was edited, written back or removed; treating it as the "
                        "strictest")
            # Stored once, so the longest wait counts from now: rebuilt on every read it would
            # start again each time, and no PIN would ever be tried again.
            self._save_lockout(state.failures, state.locked_until)
            return state.failures, state.locked_until
        if gallery.guard.problem:
            # An older copy of the gallery: the failures this computer counted still count.
            seen_failures, seen_until = gallery.guard.lockout()
            return max(state.failures, seen_failures), max(state.locked_until, seen_until)
        return state.failures, state.locked_until

    def _save_lockout(self, failures: int, locked_until: float,
                      audit: tuple[AuditAction, dict[str, object]] | None = None) -> None:
        key, gid = self.gallery.integrity_key, self.gallery.gallery_id
        action, details = audit if audit is not None else (None, {})
        self.gallery.seal_settings(lambda seq: {LOCKOUT_KEY: seal(LockoutState(failures, locked_until), key, gid, seq)},
                                   action, "admin PIN", details, audit_required=False)
        self.gallery.guard.set_lockout(failures, locked_until)
