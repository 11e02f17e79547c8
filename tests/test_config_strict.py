"""Strict config (issue 11, table row 16): one-line errors naming the key, JSON's own types
only, a BOM accepted, thresholds that would name strangers refused, special files refused."""

from __future__ import annotations

import json
import os
import sys

import pytest

from kiosk.config import THRESHOLD_MAX, THRESHOLD_MIN, Config, load_config, save_config
from kiosk.errors import KioskError


def _write(tmp_path, data, *, encoding="utf-8", raw: bytes | None = None):
    path = tmp_path / "config.json"
    path.write_bytes(raw if raw is not None else json.dumps(data).encode(encoding))
    return path


def _error(path) -> str:
    with pytest.raises(KioskError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_utf8_bom_is_accepted(tmp_path):
    path = _write(tmp_path, None, raw="\ufeff".encode() + json.dumps({"kiosk": {"greeting_text": "Grüß {name}"}}).encode())
    assert load_config(path).kiosk.greeting_text == "Grüß {name}"


@pytest.mark.parametrize(("data", "key"), [
    ({"kiosk": {"cooldown_s": "600"}}, "kiosk.cooldown_s"),
    ({"match": {"target_fpir": "0.005"}}, "match.target_fpir"),
    ({"kiosk": {"show_photo": 1}}, "kiosk.show_photo"),
    ({"kiosk": {"show_photo": "yes"}}, "kiosk.show_photo"),
    ({"privacy": {"encrypt": 0}}, "privacy.encrypt"),
    ({"kiosk": {"cooldown_s": 600.5}}, "kiosk.cooldown_s"),
    ({"kiosk": {"language": 3}}, "kiosk.language"),
    ({"camera": {"source": 0}}, "camera.source"),
    ({"kiosk": {"cooldown_s": None}}, "kiosk.cooldown_s"),
    ({"kiosk": {"cooldwn_s": 60}}, "kiosk.cooldwn_s"),
])
def test_strict_types_and_typos_are_one_line_naming_the_key(tmp_path, data, key):
    assert key in _error(_write(tmp_path, data))


@pytest.mark.parametrize("value", [-1, -0.2, 0, 0.01, 0.99, 1, 1.5])
@pytest.mark.parametrize("field", ["threshold_unmasked", "threshold_masked", "verify_threshold",
                                   "threshold_mask_vs_mask"])
def test_thresholds_out_of_range_are_refused(tmp_path, field, value):
    message = _error(_write(tmp_path, {"match": {field: value}}))
    assert f"match.{field}" in message


def test_thresholds_in_range_and_an_int_for_a_float_are_fine(tmp_path):
    cfg = load_config(_write(tmp_path, {"match": {"threshold_unmasked": 0.4, "threshold_masked": THRESHOLD_MIN,
                                                  "verify_threshold": THRESHOLD_MAX},
                                        "kiosk": {"greeting_s": 5}}))
    assert cfg.match.threshold_unmasked == 0.4 and cfg.kiosk.greeting_s == 5.0


@pytest.mark.parametrize(("data", "raw", "words"), [
    ({"version": "2"}, None, "version"),
    ({"version": True}, None, "version"),
    ({"version": 99}, None, "newer"),
    (None, "{\"kiosk\": {\"greeting_text\": \"Gr\xfc\xdf\"}}".encode("latin-1"), "not UTF-8"),
    (None, b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (None, b"{\"kiosk\": ", "not valid JSON"),
    ([1, 2], None, "JSON object"),
    ("text", None, "JSON object"),
])
def test_odd_files_are_one_line(tmp_path, data, raw, words):
    assert words in _error(_write(tmp_path, data, raw=raw))


def test_a_deep_but_parsable_nesting_names_the_key(tmp_path):
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    assert "x" in _error(_write(tmp_path, {"kiosk": deep}))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_as_the_config_or_the_logo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "not a regular file" in _error(fifo)
    message = _error(_write(tmp_path, {"kiosk": {"logo": str(fifo)}}))
    assert "kiosk.logo" in message and "not a regular file" in message
    message = _error(_write(tmp_path, {"kiosk": {"logo": str(tmp_path)}}))
    assert "kiosk.logo" in message
    missing = load_config(_write(tmp_path, {"kiosk": {"logo": str(tmp_path / "later.png")}}))
    assert missing.kiosk.logo.endswith("later.png")  # not there yet: no logo shown, not an error


def test_what_save_config_writes_loads_back_strictly(tmp_path):
    cfg = Config()
    cfg.kiosk.cooldown_s = 900
    cfg.match.threshold_unmasked = 0.42
    save_config(cfg, tmp_path / "c" / "config.json")
    assert load_config(tmp_path / "c" / "config.json") == cfg
    if sys.platform != "win32":
        assert (tmp_path / "c" / "config.json").stat().st_mode & 0o777 == 0o600
