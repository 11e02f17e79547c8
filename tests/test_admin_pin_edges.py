"""Edges of the admin PIN: stored formats that must keep working, damaged or missing rows, the
last moment of a lockout, what the kiosk tells the admin and what the audit log records."""

from __future__ import annotations

import logging
import time

import pytest
from conftest import ManualClock

from kiosk.gallery import Gallery
from kiosk.gallery.admin_pin import HASH_KEY, LOCKOUT_KEY, AdminPin, PinCheck, PinError, PinPolicy
from kiosk.gallery.schema import SCHEMA_VERSION
from kiosk.security.audit import AuditAction
from kiosk.security.pin_policy import (
    RESTRICTIVE_FAILURES,
    LockoutState,
    PinPolicyError,
    _tag,
    seal_pin_hash,
    unseal,
    unseal_legacy,
    validate_pin,
)

# Cheap scrypt for tests; the policy stores its cost with the hash.
FAST = PinPolicy(scrypt_n=2**10)
RIGHT = "735196"
WRONG = "0000"

KEY = bytes(range(32))
GID = "0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0

# RIGHT hashed as a kiosk stores it: scrypt$n$r$p$b64(salt)$b64(32-byte digest), salt bytes(range(16)).
# n=2**15, r=8 needs a little over 32 MiB, more than OpenSSL allows unless maxmem is raised.
EARLIER_HASH = "scrypt$32768$8$1$AAECAwQFBgcICQoLDA0ODw==$lZ6mxybZdUzYnil2EWRLRVuRnDT9bJ5N0sBNnCgr81M="
# seal(LockoutState(3, NOW + 60), KEY, GID) as written by the v1 format.
EARLIER_SEAL = "v1:3:1800000060.0:5f5318b15107859bcddc69c22e845bb93f8371e915af0be5c083ea3f969077e2"


def lock_out(pin: AdminPin) -> None:
    for _ in range(pin.policy.free_tries):
        pin.check(WRONG)


def test_a_pin_hash_stored_by_an_earlier_kiosk_still_opens(tmp_path):
    """Schema 4 stored the hash unsealed: the migration to schema 5 seals it (with the record
    that set it), so the earlier kiosk's PIN still opens; written in afterwards it would not."""
    db = tmp_path / "g.db"
    with Gallery(db) as gallery:
        AdminPin(gallery, FAST).set_pin("482913")
        gallery.set_setting(HASH_KEY, EARLIER_HASH)  # as schema 4 kept it
        assert not AdminPin(gallery, FAST).check(RIGHT).ok  # unsealed, in a schema 5 gallery: edited
        gallery.set_setting(HASH_KEY, EARLIER_HASH)
        with gallery._transaction() as conn:
            conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    with Gallery(db) as gallery:
        assert gallery.schema_version == SCHEMA_VERSION
        assert AdminPin(gallery, FAST).check(RIGHT).ok


def test_a_damaged_or_foreign_hash_lets_nobody_in(gallery):
    pin = AdminPin(gallery, FAST)
    pin.set_pin(RIGHT)
    good = gallery.get_setting(HASH_KEY)
    _, n, r, p, salt, digest = good.split("$")
    for damaged in ("scrypt$broken", f"bcrypt${n}${r}${p}${salt}${digest}", f"scrypt$many${r}${p}${salt}${digest}",
                    f"scrypt${n}${r}${p}$!!!$!!!"):
        gallery.set_setting(HASH_KEY, damaged)
        result = pin.check(RIGHT)
        assert not result.ok and result.locked_for_s == 0, damaged  # tried (not locked out) and refused


def test_the_lockout_holds_to_its_last_second_and_says_how_long(gallery):
    clock = ManualClock()
    pin = AdminPin(gallery, FAST, clock=clock)
    pin.set_pin(RIGHT)
    lock_out(pin)
    clock.t += 10
    locked = pin.check(RIGHT)
    assert not locked.ok and locked.message == "Too many wrong PINs. Try again in 20 s."
    clock.t += 19.5
    last = pin.check(RIGHT)
    assert not last.ok and last.locked_for_s == pytest.approx(0.5)
    clock.t += 0.5
    assert pin.check(RIGHT).ok


def test_a_wrong_pin_says_how_many_tries_are_left(gallery):
    pin = AdminPin(gallery, FAST)
    pin.set_pin(RIGHT)
    assert [pin.check(WRONG).message for _ in range(4)] == [
        "Wrong PIN. 4 tries left before a delay.", "Wrong PIN. 3 tries left before a delay.",
        "Wrong PIN. 2 tries left before a delay.", "Wrong PIN. 1 try left before a delay."]


def test_a_clock_set_back_after_a_free_wrong_pin_does_not_lock_the_kiosk(gallery):
    clock = ManualClock()
    pin = AdminPin(gallery, FAST, clock=clock)
    pin.set_pin(RIGHT)
    pin.check(WRONG)
    clock.t -= 600  # e.g. NTP corrects a clock that ran ahead
    assert pin.locked_for() == 0
    assert pin.check(RIGHT).ok


def test_setting_changing_and_wrong_pins_are_audited_with_the_count(gallery):
    pin = AdminPin(gallery, FAST)
    pin.set_pin(RIGHT)
    pin.set_pin("482913")
    pin.check(WRONG)
    pin.check(WRONG)
    records = [(r.action, r.subject, dict(r.details)) for r in gallery.audit_records()
               if r.action in (AuditAction.PIN_SET, AuditAction.PIN_CHANGE, AuditAction.PIN_FAILED)]
    assert records == [(AuditAction.PIN_SET, "admin PIN", {}), (AuditAction.PIN_CHANGE, "admin PIN", {}),
                       (AuditAction.PIN_FAILED, "admin PIN", {"in_a_row": 1}),
                       (AuditAction.PIN_FAILED, "admin PIN", {"in_a_row": 2})]


def test_a_refused_new_pin_says_why(gallery):
    pin = AdminPin(gallery, FAST)
    with pytest.raises(PinError, match="most common PINs is easy to guess"):
        pin.set_pin("123456")
    # Arabic-Indic digits are digits to str.isdigit: refused for what they are, not for their length.
    with pytest.raises(PinError, match="the PIN must be digits only"):
        pin.set_pin("١٢٣")
    assert not pin.is_set()


def test_a_pin_hash_without_its_lockout_row_is_locked_out(tmp_path, gallery):
    AdminPin(gallery, FAST).set_pin(RIGHT)
    with Gallery(tmp_path / "other.db") as other:
        other.set_setting(HASH_KEY, gallery.get_setting(HASH_KEY))  # copied without the lockout row
        pin = AdminPin(other, FAST, clock=ManualClock())
        assert pin.failures() == RESTRICTIVE_FAILURES and pin.locked_for() == pin.policy.max_delay_s
        assert not pin.check(RIGHT).ok


def test_an_edited_lockout_row_is_timed_on_the_kiosks_clock(gallery):
    clock = ManualClock(4_000_000_000.0)  # well ahead of the host's time.time()
    pin = AdminPin(gallery, PinPolicy(scrypt_n=2**10, max_delay_s=300), clock=clock)
    pin.set_pin(RIGHT)
    gallery.set_setting(LOCKOUT_KEY, "v1:0:0.0:" + "0" * 64)
    assert pin.locked_for() == 300
    assert not pin.check(RIGHT).ok


def test_after_an_edited_lockout_row_the_longest_wait_then_the_right_pin_opens(gallery):
    clock = ManualClock()
    pin = AdminPin(gallery, PinPolicy(scrypt_n=2**10, max_delay_s=300), clock=clock)
    pin.set_pin(RIGHT)
    gallery.set_setting(LOCKOUT_KEY, "garbage")
    assert pin.check(RIGHT).locked_for_s == 300
    clock.t += 150
    assert pin.check(RIGHT).locked_for_s == 150  # the wait runs down; it is not re-armed on every read
    clock.t += 150
    assert pin.check(RIGHT).ok
    assert pin.failures() == 0


def test_an_edited_lockout_row_waits_the_sites_own_longest_delay_even_above_the_default(gallery):
    clock = ManualClock()
    pin = AdminPin(gallery, PinPolicy(scrypt_n=2**10, max_delay_s=7200), clock=clock)  # a stricter site
    pin.set_pin(RIGHT)
    gallery.set_setting(LOCKOUT_KEY, "garbage")
    assert pin.check(RIGHT).locked_for_s == 7200
    clock.t += 7199
    assert pin.check(RIGHT).locked_for_s == 1
    clock.t += 1
    assert pin.check(RIGHT).ok


def test_a_lockout_state_sealed_by_an_earlier_kiosk_still_verifies():
    # Read by the migration to schema 5 only (which seals it again), never by the app itself.
    assert unseal_legacy(EARLIER_SEAL, KEY, GID) == LockoutState(3, NOW + 60)
    assert unseal(EARLIER_SEAL, KEY, GID, now=NOW).tampered


def test_a_correctly_tagged_impossible_state_is_still_refused():
    # Only someone with the key can tag these (seal refuses them); they still give the strictest state.
    for failures, until in ((-1, repr(NOW + 60)), (3, "inf"), (3, "nan")):
        state = unseal(f"v2:{failures}:{until}:0:{_tag(KEY, GID, failures, until, 0)}", KEY, GID, now=NOW)
        assert state.tampered and state.failures == RESTRICTIVE_FAILURES, (failures, until)


def test_unseal_without_now_counts_the_wait_from_the_current_time():
    before = time.time()
    state = unseal("garbage", KEY, GID, max_delay_s=300)
    assert state.tampered and state.locked_until >= before + 300


# -- exactly what the admin is told and what the log keeps ---------------------------------------


@pytest.mark.parametrize("new, confirm, message", [
    ("73a196", None, "the PIN must be digits only"),
    ("735196", "735197", "the two PINs differ; enter the same PIN twice"),
    ("777777", None, "choose another PIN: one digit repeated is easy to guess"),
    ("123123", None, "choose another PIN: one of the most common PINs is easy to guess"),
    ("234567", None, "choose another PIN: a run of digits (like 123456 or 654321) is easy to guess"),
    ("858585", None, "choose another PIN: a repeated or mirrored pattern (like 121212, 123123 or 123321) is easy "
                     "to guess"),
    ("223344", None, "choose another PIN: digits in pairs or triples (like 112233) is easy to guess"),
    ("147369", None, "choose another PIN: a line pattern on the keypad (like 147258 or 159357) is easy to guess"),
])
def test_a_refused_new_pin_is_told_in_exactly_one_sentence(gallery, new, confirm, message):
    with pytest.raises(PinError) as err:
        AdminPin(gallery, FAST).set_pin(new, confirm)
    assert str(err.value) == message


def test_the_policy_on_its_own_says_a_pin_must_be_digits():
    with pytest.raises(PinPolicyError) as err:
        validate_pin("73a196")
    assert str(err.value) == "the PIN must be digits only"


def test_a_confirmation_with_a_non_ascii_character_differs_instead_of_crashing(gallery):
    # At the terminal (admin set-pin) anything can be typed; hmac.compare_digest raised TypeError on it.
    pin = AdminPin(gallery, FAST)
    for confirm in ("73519é", "735١96"):
        with pytest.raises(PinError, match="the two PINs differ"):
            pin.set_pin(RIGHT, confirm)
    assert not pin.is_set()


def test_each_outcome_of_a_pin_entry_is_complete(gallery):
    clock = ManualClock()
    pin = AdminPin(gallery, FAST, clock=clock)
    assert pin.check(RIGHT) == PinCheck(False, message="No admin PIN has been set yet.")
    pin.set_pin(RIGHT)
    assert pin.check(WRONG) == PinCheck(False, tries_left=4, message="Wrong PIN. 4 tries left before a delay.")
    for _ in range(3):
        pin.check(WRONG)
    assert pin.check(WRONG) == PinCheck(False, locked_for_s=30.0,
                                        message="Wrong PIN. Too many wrong PINs: try again in 30 s.")
    clock.t += 10
    assert pin.check(RIGHT) == PinCheck(False, locked_for_s=20.0, message="Too many wrong PINs. Try again in 20 s.")
    clock.t += 20
    assert pin.check(RIGHT) == PinCheck(True, tries_left=5, message="PIN accepted.")


def pin_log(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "kiosk.gallery.admin_pin"]


def test_wrong_pins_are_logged_with_their_count(gallery, caplog):
    pin = AdminPin(gallery, FAST)
    pin.set_pin(RIGHT)
    caplog.set_level(logging.WARNING, logger="kiosk.gallery.admin_pin")
    pin.check(WRONG)
    pin.check(WRONG)
    assert pin_log(caplog) == [("WARNING", "admin PIN: wrong PIN (1 in a row)"),
                               ("WARNING", "admin PIN: wrong PIN (2 in a row)")]


def test_a_damaged_hash_is_logged_with_what_is_wrong_with_it(gallery, caplog):
    pin = AdminPin(gallery, FAST)
    pin.set_pin(RIGHT)
    # Damaged inside a valid seal (only the key's holder can write that): the hash itself is refused.
    _, seq, hash_text, _ = gallery.get_setting(HASH_KEY).split("#")
    _, n, r, p, salt, digest = hash_text.split("$")
    gallery.set_setting(HASH_KEY, seal_pin_hash(f"bcrypt${n}${r}${p}${salt}${digest}", gallery.integrity_key,
                                                gallery.gallery_id, int(seq)))
    caplog.set_level(logging.ERROR, logger="kiosk.gallery.admin_pin")
    assert not pin.check(RIGHT).ok
    assert pin_log(caplog) == [("ERROR", "admin PIN: the stored hash is damaged (bcrypt)")]


def test_an_edited_lockout_row_is_logged_once(gallery, caplog):
    pin = AdminPin(gallery, FAST, clock=ManualClock())
    pin.set_pin(RIGHT)
    gallery.set_setting(LOCKOUT_KEY, "v1:0:0.0:" + "0" * 64)
    caplog.set_level(logging.WARNING, logger="kiosk.gallery.admin_pin")
    pin.locked_for()
    pin.locked_for()  # the strictest state was stored: it verifies now
    assert pin_log(caplog) == [
        ("WARNING", "admin PIN: the lockout state was edited, written back or removed; treating it as the strictest")]


def test_a_clock_set_back_during_a_lockout_holds_it_no_longer_than_the_longest_wait(gallery):
    clock = ManualClock()
    pin = AdminPin(gallery, PinPolicy(scrypt_n=2**10, max_delay_s=300), clock=clock)
    pin.set_pin(RIGHT)
    lock_out(pin)  # a 30 s wait
    clock.t -= 86_400  # e.g. NTP corrects a clock that ran a day ahead
    assert pin.locked_for() == 300
    clock.t += 150
    assert pin.check(RIGHT).locked_for_s == 150  # it runs down (it used to say 300 s for a whole day)
    clock.t += 150
    assert pin.check(RIGHT).ok
