"""The admin PIN: salted hash in the gallery, right/wrong PINs, lockout that survives a restart."""

from __future__ import annotations

import pytest
from conftest import ManualClock

from kiosk.gallery import Gallery
from kiosk.gallery.admin_pin import (
    HASH_KEY,
    LOCKOUT_KEY,
    AdminPin,
    PinError,
    PinPolicy,
    format_wait,
)

# Cheap scrypt for tests; the policy stores its cost with the hash.
FAST = PinPolicy(scrypt_n=2**10)


def test_first_run_has_no_pin_and_new_pins_are_validated(gallery):
    pin = AdminPin(gallery, FAST)
    assert not pin.is_set()
    assert not pin.check("1234").ok
    for bad, confirm in (("12a4", None), ("123", None), ("1234", None), ("1" * 13, None), ("111111", None),
                         ("123456", None), ("121212", None), ("147258", None), ("294751", "294752"),
                         ("١٢٣٤٥٦", None)):
        with pytest.raises(PinError):
            pin.set_pin(bad, confirm)
    assert not pin.is_set()
    pin.set_pin("294751", "294751")
    assert pin.is_set()


def test_the_pin_is_stored_as_a_salted_hash(tmp_path, gallery):
    AdminPin(gallery, FAST).set_pin("482913")
    stored = gallery.get_setting(HASH_KEY)
    assert "482913" not in stored and stored.startswith("v2#") and "#scrypt$1024$8$1$" in stored
    with Gallery(tmp_path / "other.db") as other:
        AdminPin(other, FAST).set_pin("482913")
        assert other.get_setting(HASH_KEY) != stored  # a fresh salt each time
    pin = AdminPin(gallery, FAST)
    assert pin.check("482913").ok
    assert not pin.check("482914").ok
    assert not pin.check("").ok


def test_five_wrong_pins_then_a_growing_delay(gallery):
    clock = ManualClock()
    pin = AdminPin(gallery, FAST, clock=clock)
    pin.set_pin("735196")
    for left in (4, 3, 2, 1):
        result = pin.check("0000")
        assert not result.ok and result.locked_for_s == 0 and result.tries_left == left
    fifth = pin.check("0000")
    assert not fifth.ok and fifth.locked_for_s == 30 and "try again in 30 s" in fifth.message
    # While locked even the right PIN is not tried (and not counted).
    clock.t += 10
    locked = pin.check("735196")
    assert not locked.ok and locked.locked_for_s == pytest.approx(20)
    assert pin.failures() == 5
    clock.t += 20
    sixth = pin.check("1111")
    assert sixth.locked_for_s == 60
    clock.t += 60
    assert pin.check("1111").locked_for_s == 120
    clock.t += 120
    assert pin.check("735196").ok
    assert pin.failures() == 0 and pin.locked_for() == 0
    assert pin.check("0000").tries_left == 4  # a right PIN resets the count


def test_the_lockout_survives_a_restart(tmp_path):
    clock = ManualClock()
    path = tmp_path / "gallery.db"
    with Gallery(path) as g:
        pin = AdminPin(g, FAST, clock=clock)
        pin.set_pin("735196")
        for _ in range(5):
            pin.check("0000")
    with Gallery(path) as g:  # the app was restarted
        again = AdminPin(g, FAST, clock=clock)
        assert again.failures() == 5
        assert again.locked_for() == 30
        assert not again.check("735196").ok
        clock.t += 30
        assert again.check("735196").ok


def test_delay_is_capped_and_a_clock_set_back_does_not_stretch_it(gallery):
    clock = ManualClock()
    policy = PinPolicy(scrypt_n=2**10, base_delay_s=30, max_delay_s=300)
    pin = AdminPin(gallery, policy, clock=clock)
    assert [pin.delay_after(n) for n in (4, 5, 6, 7, 8, 9, 40)] == [0, 30, 60, 120, 240, 300, 300]
    pin.set_pin("735196")
    for _ in range(5):
        pin.check("0000")
    clock.t -= 10_000  # someone set the clock back
    assert pin.locked_for() == 300


def test_damaged_state_never_lets_anyone_in(gallery):
    pin = AdminPin(gallery, FAST)
    pin.set_pin("735196")
    gallery.set_setting(LOCKOUT_KEY, "{not json")  # edited to reset the count: the strictest state instead
    assert pin.failures() >= pin.policy.free_tries and pin.locked_for() > 0
    gallery.set_setting(HASH_KEY, "scrypt$broken")
    assert not pin.check("735196").ok


def test_format_wait():
    assert [format_wait(s) for s in (0, 30, 60, 125, 3600, 5400)] == ["0 s", "30 s", "1 min", "2 min 5 s", "1 h",
                                                                       "1 h 30 min"]
    # Rounded up: half a second still to wait is not "0 s", and 59.5 s is a minute.
    assert [format_wait(s) for s in (0.5, 0.01, 59.5)] == ["1 s", "1 s", "1 min"]


def test_the_longest_pin_is_allowed_and_the_outcomes_say_what_happened(gallery):
    from kiosk.security.audit import AuditAction

    pin = AdminPin(gallery, FAST)
    unset = pin.check("735196")
    assert not unset.ok and unset.message == "No admin PIN has been set yet."
    pin.set_pin("739164285017")  # 12 digits: the policy's maximum
    right = pin.check("739164285017")
    assert (right.ok, right.tries_left, right.message) == (True, 5, "PIN accepted.")
    with pytest.raises(PinError, match="the PIN must have 6 to 12 digits"):
        pin.set_pin("7391642850173")
    with pytest.raises(PinError, match="the two PINs differ"):
        pin.set_pin("735196", "735197")
    pin.set_pin("735196")
    actions = [r.action for r in gallery.audit_records() if r.action in (AuditAction.PIN_SET, AuditAction.PIN_CHANGE)]
    assert actions == [AuditAction.PIN_SET, AuditAction.PIN_CHANGE]  # the second one is a change
