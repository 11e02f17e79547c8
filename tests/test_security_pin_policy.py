"""Refused admin PINs, the sealed lockout state, and the scrypt cost helper."""

from __future__ import annotations

import pytest

from kiosk.errors import KioskError
from kiosk.security.pin_policy import (
    RESTRICTIVE_FAILURES,
    LockoutState,
    PinPolicyError,
    seal,
    unseal,
    validate_pin,
)
from kiosk.security.scrypt_cost import ScryptCost, recommend_scrypt

KEY = bytes(range(32))
GID = "0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0


# 918273645 (9 18 27 36 45, the nine times table) was here; it counts up by 9 and is refused now.
@pytest.mark.parametrize("pin", ["583920", "27051938", "604417", "918273654", "293847561029"])
def test_ordinary_pins_are_accepted(pin):
    validate_pin(pin)


@pytest.mark.parametrize("pin, why", [
    ("12a456", "digits only"), ("１２３４５６", "digits only"), (" 583920", "digits only"), ("", "digits only"),
    ("58392", "6 to 12"), ("5839205839201", "6 to 12"),
    ("777777", "one digit"), ("000000000", "one digit"),
    ("234567", "run"), ("876543", "run"), ("890123", "run"), ("098765", "run"), ("135791", "run"),
    ("1234567890", "run"),
    ("858585", "repeated"), ("583583", "repeated"), ("583385", "mirrored"), ("27052705", "repeated"),
    ("223344", "pairs"), ("555666", "pairs"), ("998877", "pairs"),
    ("147369", "keypad"), ("258369", "keypad"), ("159357", "keypad"), ("147852", "keypad"), ("741852", "run"),
    ("456789123", "keypad"), ("2580147", "keypad"), ("25800852", "mirrored"), ("357951", "keypad"),
    ("123456", "common"), ("654321", "common"), ("112233", "common"), ("520520", "common"),
    ("696969", "common"), ("007007", "common"), ("159753", "common"), ("789456", "common"),
])
def test_weak_pins_are_refused_in_one_line(pin, why):
    with pytest.raises(PinPolicyError) as err:
        validate_pin(pin)
    message = str(err.value)
    assert "\n" not in message and isinstance(err.value, KioskError)
    expected = {"common": "most common", "pairs": "pairs", "keypad": "keypad", "mirrored": "mirrored",
                "repeated": "repeated", "run": "run of digits", "one digit": "one digit"}.get(why, why)
    assert expected in message, message


def test_seal_round_trip():
    state = LockoutState(7, NOW + 120.5, seq=12)
    text = seal(state, KEY, GID, seq=12)
    assert text.startswith("v2:7:")
    assert unseal(text, KEY, GID, now=NOW) == state


def worst(state: LockoutState) -> bool:
    return state.tampered and state.failures == RESTRICTIVE_FAILURES and state.locked_until == NOW + 3600.0


def test_an_edited_lockout_row_gives_the_most_restrictive_state():
    text = seal(LockoutState(9, NOW + 600), KEY, GID, seq=5)
    _, failures, until, seq, tag = text.split(":")
    for edited in (f"v2:0:{until}:{seq}:{tag}", f"v2:{failures}:0.0:{seq}:{tag}", f"v2:{failures}:{until}:9:{tag}",
                   f"v2:{failures}:{until}:{seq}:{'0' * 64}", "v2:0:0.0:0", "", "garbage",
                   f"v1:{failures}:{until}:{seq}:{tag}", f"v2:-1:{until}:{seq}:{tag}", f"v2:{failures}:nan:{seq}:{tag}",
                   f"v1:{failures}:{until}:{tag}"):
        assert worst(unseal(edited, KEY, GID, now=NOW)), edited
    # Copied from another gallery, or checked with another key:
    assert worst(unseal(text, KEY, "another-gallery", now=NOW))
    assert worst(unseal(text, bytes(32), GID, now=NOW))


def test_a_schema_4_lockout_is_read_only_by_the_migration_and_only_when_it_verifies():
    from kiosk.security.pin_policy import _tag, unseal_legacy

    until = repr(NOW + 60)
    legacy = f"v1:6:{until}:{_tag(KEY, 'path-id', 6, until)}"
    assert unseal_legacy(legacy, KEY, "path-id") == LockoutState(6, NOW + 60)
    assert unseal_legacy(legacy, KEY, "other-path") is None
    assert unseal_legacy(legacy.replace("v1:6:", "v1:0:"), KEY, "path-id") is None
    assert worst(unseal(legacy, KEY, "path-id", now=NOW))  # the app itself never accepts it


def test_a_sealed_pin_hash_shows_an_edit_a_swap_and_another_gallery():
    from kiosk.security.pin_policy import open_pin_hash, seal_pin_hash

    text = seal_pin_hash("scrypt$1$2$3$c2FsdA==$ZGlnZXN0", KEY, GID, 4)
    assert open_pin_hash(text, KEY, GID) == ("scrypt$1$2$3$c2FsdA==$ZGlnZXN0", 4)
    version, seq, hash_text, tag = text.split("#")
    for edited in (f"{version}#5#{hash_text}#{tag}", f"{version}#{seq}#{hash_text[:-1]}#{tag}",
                   "scrypt$1$2$3$c2FsdA==$ZGlnZXN0", f"v1#{seq}#{hash_text}#{tag}", ""):
        assert open_pin_hash(edited, KEY, GID) is None, edited
    assert open_pin_hash(text, KEY, "another-gallery") is None
    assert open_pin_hash(text, bytes(32), GID) is None


def test_missing_state_is_zero_only_when_none_is_expected():
    assert worst(unseal(None, KEY, GID, now=NOW))
    assert unseal(None, KEY, GID, expected=False, now=NOW) == LockoutState(0, 0.0)


def test_seal_refuses_nonsense():
    with pytest.raises(ValueError):
        seal(LockoutState(-1, NOW), KEY, GID)
    with pytest.raises(ValueError):
        seal(LockoutState(1, float("inf")), KEY, GID)


def test_recommend_scrypt_doubles_n_then_raises_r():
    """A deterministic fake machine as fast as the 2-core box: 0.29 s at n=2**17, r=8."""

    def fake(n: int, r: int) -> float:
        return n * r / (2**17 * 8) * 0.29

    cost = recommend_scrypt((0.3, 0.5), timer=fake)
    assert 0.3 <= cost.seconds <= 0.5 and cost.p == 1
    assert (cost.n, cost.r) == (2**17, 9)  # 2**18 would take 0.58 s: r grows instead
    assert cost.n & (cost.n - 1) == 0 and cost.memory_bytes <= 256 << 20
    # A memory cap wins over the time target:
    capped = recommend_scrypt((0.3, 0.5), max_memory=16 << 20, timer=fake)
    assert capped.memory_bytes <= 16 << 20 and capped.seconds < 0.3


def test_recommend_scrypt_measures_for_real():
    cost = recommend_scrypt((0.0, 1.0))  # the first measurement already meets the target
    assert isinstance(cost, ScryptCost) and cost.n == 2**14 and cost.seconds > 0
