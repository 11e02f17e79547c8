"""Native start-up chatter is kept off stderr, but replayed when loading fails."""

from __future__ import annotations

import os

import pytest

from kiosk.vision.native_logs import native_stderr_quiet


def test_fd2_output_is_swallowed(capfd):
    with native_stderr_quiet():
        os.write(2, b"INFO: noisy native line\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_fd2_output_is_replayed_when_the_block_fails(capfd):
    with pytest.raises(RuntimeError), native_stderr_quiet():
        os.write(2, b"why it failed\n")
        raise RuntimeError("load failed")
    assert "why it failed" in capfd.readouterr().err
