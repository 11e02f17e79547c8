"""The possible-duplicate check: samples identified as an enrolled person, at the matcher's thresholds."""

from __future__ import annotations

import numpy as np

from kiosk.config import MatchConfig
from kiosk.enrollment.duplicates import find_duplicates
from kiosk.gallery.api import TemplateSet
from kiosk.recognition.matching import FULL

# Fixed thresholds: the test must not depend on a shipped calibration.
CONFIG = MatchConfig(threshold_unmasked=0.5, threshold_masked=0.45)


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def gallery_of(vectors: np.ndarray) -> TemplateSet:
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    return TemplateSet("test@0", ids, np.array([FULL] * len(ids)), unit(vectors),
                       {int(i): f"person {i}" for i in ids})


def test_samples_of_an_enrolled_person_are_a_duplicate_and_strangers_are_not():
    rng = np.random.default_rng(0)
    people = rng.normal(size=(4, 128))
    templates = gallery_of(people)
    same = unit(people[2] + 0.3 * rng.normal(size=(5, 128)) * np.linalg.norm(people[2]) / np.sqrt(128))
    found = find_duplicates(templates, same, np.zeros(5, bool), CONFIG)
    assert [c.person_id for c in found] == [3]
    assert found[0].name == "person 3" and found[0].matched == 5 and found[0].samples == 5
    assert found[0].score >= found[0].threshold == 0.5
    assert find_duplicates(templates, same, np.zeros(5, bool), CONFIG, exclude=3) == []
    strangers = unit(rng.normal(size=(5, 128)))
    assert find_duplicates(templates, strangers, np.zeros(5, bool), CONFIG) == []


def test_one_stray_sample_in_five_is_not_enough():
    rng = np.random.default_rng(1)
    people = rng.normal(size=(3, 128))
    templates = gallery_of(people)
    probes = unit(np.vstack([people[0], rng.normal(size=(4, 128))]))
    assert find_duplicates(templates, probes, np.zeros(5, bool), CONFIG) == []
    assert [c.person_id for c in find_duplicates(templates, probes[:2], np.zeros(2, bool), CONFIG)] == [1]


def test_an_empty_gallery_has_no_duplicates():
    empty = TemplateSet("test@0", np.zeros(0, np.int64), np.array([], dtype=str), np.zeros((0, 0), np.float32))
    assert find_duplicates(empty, unit(np.ones((1, 128))), np.zeros(1, bool)) == []
