"""Accuracy floors on real data: a change that costs recognition accuracy fails the suite.

One `face-kiosk eval --profile ci` run (through `main_eval`, as the CLI runs it): 120 people
of lfw-dev's identification.json enrolled from one photo each, their second photo as probe
(bare, and with a painted mask re-detected), 120 unknown visitors, 60 LFW pairs and 64
masked-real photos, all at the app's own thresholds (~35 s on 2 cores).

Each floor sits a few probes below what the shipped pipeline measured on this subset (the
numbers are deterministic for a given pipeline; the margin absorbs floating-point differences
between CPUs). Measured values are in the comments; raise a floor when the pipeline improves.
"""

from __future__ import annotations

import argparse
import json

import pytest
from conftest import SHARED_DATA, shared

# The eval run is the suite's longest test: ~35 s idle, 311-730 s measured on this 2-core PC
# while other heavy jobs ran. Its own limit keeps a hang a traceback without failing a slow run.
pytestmark = [pytest.mark.data, pytest.mark.timeout(2400)]

# Measured with the pipeline of 2026-12-02 (SFace, face-mesh alignment, the calibration made by
# tools/calibrate.py with it); the pipeline before (YuNet landmarks) measured 97.5% / 65.0% /
# 80.8% / 60 / 57 / 87.5% on the same subset. See the comment after each floor.
FLOORS = {
    "rank1_unmasked": 0.97,  # 119/120 = 99.2%
    "rank1_masked": 0.81,  # 103/120 = 85.8%
    "rank1_masked_after_unmask": 0.90,  # 113/120 = 94.2% once asked visitors lower the mask
    "pairs_unmasked": 0.97,  # 60/60 at the app threshold
    "pairs_masked": 0.95,  # 59/60 = 98.3%
    "mask_recall": 0.80,  # 54/64 = 84.4% of masked-real photos flagged (9 with no usable face)
}
CEILINGS = {
    # FPIR target 0.5%; 120 unknown visitors resolve only gross errors: at most 2 accepted.
    "fpir": 2 / 120,  # 0/120 bare, 0/120 masked
    "wrong_person": 2 / 120,  # 0/120 bare, 0/120 masked
    "false_mask_flags": 0.02,  # 1/468 = 0.2% of unmasked LFW faces
}


@pytest.fixture(scope="module")
def numbers(tmp_path_factory):
    from kiosk.config import Config
    from kiosk.diagnostics.evaluation import main_eval

    shared("lfw-dev", "identification.json")
    shared("masked-real")
    out = tmp_path_factory.mktemp("eval") / "eval.json"
    args = argparse.Namespace(data=str(SHARED_DATA), profile="ci", quick=False, json=str(out))
    assert main_eval(args, Config()) == 0
    return json.loads(out.read_text())


def test_the_ci_profile_ran_what_it_says(numbers):
    assert numbers["profile"] == "ci"
    ident = numbers["identification"]["1"]["unmasked"]
    assert (ident["probes"], ident["unknowns"]) == (120, 120)
    assert ident["enrolled"] + ident["enroll_failed"] == 120 and ident["enroll_failed"] <= 2
    assert numbers["pairs"]["unmasked"]["pairs"] == 60
    assert numbers["masks"]["masked_real_photos"] == 64


def test_bare_and_masked_identification_stay_above_their_floors(numbers):
    bare, masked = numbers["identification"]["1"]["unmasked"], numbers["identification"]["1"]["masked"]
    assert bare["rank1"] >= FLOORS["rank1_unmasked"]
    assert masked["rank1"] >= FLOORS["rank1_masked"]
    assert masked["rank1"] + masked["rescued_by_unmask"] >= FLOORS["rank1_masked_after_unmask"]
    # Masked probes are masked: the thresholds a masked probe gets depend on it.
    assert masked["probe_flagged_masked"] >= 0.95 * masked["probes"]
    assert bare["probe_flagged_masked"] <= 0.02 * bare["probes"]


def test_strangers_and_wrong_people_stay_below_their_ceilings(numbers):
    for cond in ("unmasked", "masked"):
        res = numbers["identification"]["1"][cond]
        assert res["fpir"] <= CEILINGS["fpir"], cond
        assert res["wrong_person"] <= CEILINGS["wrong_person"], cond


def test_pairs_at_the_app_threshold_stay_above_their_floors(numbers):
    assert numbers["pairs"]["unmasked"]["accuracy_at_app_threshold"] >= FLOORS["pairs_unmasked"]
    assert numbers["pairs"]["masked"]["accuracy_at_app_threshold"] >= FLOORS["pairs_masked"]


def test_mask_flag_recall_and_false_flags(numbers):
    assert numbers["masks"]["recall"] >= FLOORS["mask_recall"]
    assert numbers["masks"]["false_flag_rate"] <= CEILINGS["false_mask_flags"]
