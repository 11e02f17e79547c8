"""`face-kiosk eval`: the metrics on made-up scores, pair parsing, the table, and a quick run on the data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared

from kiosk.diagnostics.eval_data import read_pairs, split_dev_people
from kiosk.diagnostics.eval_report import (
    TARGETS,
    EvalReport,
    IdentResult,
    MaskResult,
    PairResult,
    format_report,
)
from kiosk.diagnostics.evaluation import tar_at_far, ten_fold_accuracy


def test_ten_fold_accuracy_picks_the_threshold_on_the_other_folds():
    rng = np.random.default_rng(0)
    same = np.repeat([True, False], 100)
    folds = np.tile(np.arange(10), 20)
    separable = np.where(same, 0.8, 0.1) + rng.normal(0, 0.02, 200)
    assert ten_fold_accuracy(separable, same, folds) == 1.0
    overlapping = np.where(same, 0.6, 0.4) + rng.normal(0, 0.2, 200)
    assert 0.5 < ten_fold_accuracy(overlapping, same, folds) < 0.9


def test_tar_at_far_allows_that_many_impostors_above_the_threshold():
    same = np.array([True] * 4 + [False] * 1000)
    scores = np.concatenate([[0.9, 0.7, 0.5, 0.3], np.linspace(0.0, 0.6, 1000)])
    # FAR 1e-3 of 1000 impostors: one may pass, so the threshold sits just above the second highest.
    assert tar_at_far(scores, same, 1e-3) == 0.5
    assert tar_at_far(scores, same, 0.0) == 0.5  # nothing at or above 0.6 (the top impostor) but 0.9, 0.7
    assert tar_at_far(scores, same, 0.5) == 1.0


def test_read_pairs_gives_ten_folds_of_same_and_different(tmp_path):
    lines = ["20"] + [f"A_{i}\t1\t2" for i in range(20)] + [f"A_{i}\t1\tB_{i}\t3" for i in range(20)]
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join(lines) + "\n")
    pairs = read_pairs(path)
    assert len(pairs) == 40 and sum(p.same for p in pairs) == 20
    assert pairs[0].a == "A_0/A_0_0001.jpg" and pairs[0].b == "A_0/A_0_0002.jpg"
    assert pairs[-1].b == "B_19/B_19_0003.jpg" and not pairs[-1].same
    assert sorted({p.fold for p in pairs}) == list(range(10))
    assert all(sum(q.fold == k and q.same for q in pairs) == 2 for k in range(10))


def _report() -> EvalReport:
    pair = PairResult(2200, 0.99, 0.985, 0.97, 3, 30, 1, 2, [0.29])
    ident = IdentResult(298, 0, 1744, 1000, 0.95, 0.004, 0.003, 0.1, 0.05, 0.08, 2, 1, 1700, 0.41, 0.42)
    return EvalReport("sface@x", "mediapipe", "full", 12.0, {"unmasked": pair, "masked": pair},
                      {"1": {"unmasked": ident, "masked": ident}}, MaskResult(625, 25, 580, 4000, 80),
                      dict(TARGETS))


def test_report_table_shows_results_next_to_targets():
    text = format_report(_report())
    assert "accuracy at the app threshold" in text and "98.5%" in text and "99.5%" in text
    assert "rank-1" in text and "FPIR" in text and "asked to lower the mask" in text
    assert "short" in text  # 95% rank-1 misses the 99% target
    assert "no face found" in text and "92.8% of 625 photos" in text


@pytest.mark.data
def test_split_keeps_unknown_visitors_and_nap_people_apart():
    lfw = shared("lfw-dev")
    unknown, nap = split_dev_people(lfw)
    ident = json.loads((lfw / "identification.json").read_text())
    assert len(unknown) == 1000 and len(nap) > 500
    assert not set(unknown) & set(nap) and not (set(unknown) | set(nap)) & set(ident)


def test_the_default_data_folder_is_shared_data_next_to_the_checkout():
    from conftest import ROOT

    from kiosk.diagnostics.eval_data import default_data_dir

    assert default_data_dir() == ROOT.parent / "shared" / "data"
