"""The multi-visit measurement (kiosk.diagnostics.multivisit): its statistics, and one small run."""

from __future__ import annotations

import pytest

from kiosk.diagnostics.multivisit import Share, as_dict, format_report, run_multivisit
from tests.conftest import shared


@pytest.mark.parametrize(("k", "n", "upper"), [
    (0, 150, 0.0250),  # nothing seen in 150: still up to 2.5% (about 3.7 / n)
    (1, 300, 0.0187),
    (5, 10, 0.7634),
    (10, 10, 1.0),
])
def test_shares_carry_the_wilson_upper_bound(k, n, upper):
    share = Share(k, n)
    assert share.rate == pytest.approx(k / n)
    assert share.upper95 == pytest.approx(upper, abs=1e-4)
    assert Share(0, 0).upper95 == 1.0 and Share(0, 0).rate == 0.0


@pytest.mark.data
def test_a_small_run_fills_every_row_for_both_columns():
    data = shared("lfw-dev").parent
    from kiosk.config import Config

    report = run_multivisit(Config(liveness={"mode": "off"}), data, people=2, strangers=2, still_strangers=6)
    assert report.people == 2 and report.strangers == 2
    assert set(report.visit2) == set(report.strangers_walk) == set(report.strangers_photo) == {
        "without learning", "with learning"}
    assert all(s.n == 2 for rows in report.visit2.values() for s in rows.values())
    assert report.learned_right.n == 2 and report.learned_wrong == 0
    assert report.strangers_photo["with learning"].n == report.strangers_photo["without learning"].n > 0
    table = format_report(report)
    assert "visit 2, masked right (not asked)" in table and "strangers, still masked photos, FPIR" in table
    assert as_dict(report)["visit2"]["with learning"]["asked to unmask"]["n"] == 2
