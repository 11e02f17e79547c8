"""The SQLite gallery's edits and look-ups: adding and removing samples, editing details,
re-embedding, contacts, thumbnails, look-ups by id, name and search, per-person counts, and
the template cache surviving another connection's writes that change no template."""

from __future__ import annotations

import logging
import sqlite3

import numpy as np
import pytest
from conftest import wal_checkpoint_answered

import kiosk.gallery.people_sql as people_sql  # where people's writes stamp their time (both backends)
import kiosk.gallery.sqlite_people as sqlite_people  # and where changed details do (update_person)
from kiosk.errors import GalleryError
from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails

MODEL = "test-model@000"
OLD = "old-model@000"
STAMP = "2030-01-02T03:04:05+00:00"


def _vec(seed: int, dim: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def _sample(seed: int, *, kinds: tuple[str, ...] = ("full",), quality: float = 0.5, masked: bool = False,
            face_crop: np.ndarray | None = None) -> NewSample:
    # Small crops keep the PNG work cheap; the gallery stores any RGB size.
    crop = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), np.uint8)
    return NewSample(crop, [NewTemplate(k, _vec(seed * 10 + i)) for i, k in enumerate(kinds)], f"cam-{seed}",
                     quality, masked, face_crop)


@pytest.fixture
def gallery(tmp_path):
    with Gallery(tmp_path / "g.db", actor="test") as g:
        yield g


def _last_audit(gallery: Gallery) -> tuple[str, str, dict]:
    record = gallery.audit_records()[-1]
    return record.action, record.subject, dict(record.details)


# -- add_samples -------------------------------------------------------------------------


def test_add_samples_stores_them_with_templates_and_marks_the_person_updated(gallery, monkeypatch):
    pid = gallery.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    monkeypatch.setattr(people_sql, "now_iso", lambda: STAMP)
    gallery.add_samples(pid, [_sample(2, kinds=("full", "synthetic-mask")), _sample(3)], MODEL)
    person = gallery.get_person(pid)
    assert (person.n_samples, person.n_templates, person.updated_at) == (3, 4, STAMP)
    assert [s.source for s in gallery.samples(pid)] == ["cam-1", "cam-2", "cam-3"]
    assert list(gallery.templates(MODEL).person_ids) == [pid] * 4
    assert _last_audit(gallery) == ("update", f"person {pid}", {"samples_added": 2})


def test_add_samples_to_a_missing_person_is_refused_and_stores_nothing(gallery):
    pid = gallery.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    before = gallery.counts()
    with pytest.raises(GalleryError, match=f"no person with id {pid + 1}"):
        gallery.add_samples(pid + 1, [_sample(2)], MODEL)
    assert gallery.counts() == before


# -- update_person -----------------------------------------------------------------------


def test_update_person_cleans_typed_details_but_keeps_consent_text_as_given(gallery):
    pid = gallery.add_person(PersonDetails("Ada", retention_until="2031-01-01"), [_sample(1)], MODEL)
    consent = "I agree.\nSigned at the desk."
    gallery.update_person(pid, name=" Ada\x1b[2J  Lovelace\n", company="Acme\tLtd", host="Grace\x00Hopper",
                          notes="  two\r\nlines ", consent_text=consent, consent_at="2030-01-01",
                          retention_until=None)
    person = gallery.get_person(pid)
    assert (person.name, person.company, person.host, person.notes) == (
        "Ada [2J Lovelace", "Acme Ltd", "Grace Hopper", "two lines")
    assert (person.consent_text, person.consent_at, person.retention_until) == (consent, "2030-01-01", None)
    assert gallery.templates(MODEL).names[pid] == "Ada [2J Lovelace"


def test_update_person_changes_only_the_given_fields_and_audits_their_names(gallery):
    pid = gallery.add_person(PersonDetails("Ada", company="Acme", host="Grace"), [_sample(1)], MODEL)
    gallery.update_person(pid, notes="VIP", company="Initech")
    person = gallery.get_person(pid)
    assert (person.name, person.company, person.host, person.notes) == ("Ada", "Initech", "Grace", "VIP")
    assert _last_audit(gallery) == ("update", f"person {pid}", {"fields": ["company", "notes"]})


def test_update_person_refuses_unknown_fields_and_names_them(gallery):
    pid = gallery.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    n_records = len(gallery.audit_records())
    with pytest.raises(GalleryError, match=r"unknown person field\(s\): age, nickname$"):
        gallery.update_person(pid, nickname="Countess", name="Bob", age="36")
    assert gallery.get_person(pid).name == "Ada"
    assert len(gallery.audit_records()) == n_records


def test_update_person_refuses_a_name_that_cleans_to_nothing(gallery):
    pid = gallery.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    with pytest.raises(GalleryError):
        gallery.update_person(pid, name=" \x00\n ", company="Acme")
    assert (gallery.get_person(pid).name, gallery.get_person(pid).company) == ("Ada", "")


def test_update_person_of_a_missing_person_is_refused(gallery):
    pid = gallery.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    with pytest.raises(GalleryError, match=f"no person with id {pid + 1}"):
        gallery.update_person(pid + 1, company="Acme")


def test_update_person_with_no_fields_writes_nothing(gallery, monkeypatch):
    monkeypatch.setattr(people_sql, "now_iso", lambda: STAMP)
    pid = gallery.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    n_records = len(gallery.audit_records())
    monkeypatch.setattr(sqlite_people, "now_iso", lambda: "2031-01-01T00:00:00+00:00")
    gallery.update_person(pid)
    assert gallery.get_person(pid).updated_at == STAMP
    assert len(gallery.audit_records()) == n_records


# -- remove_sample -----------------------------------------------------------------------


def test_remove_sample_deletes_it_with_its_templates_and_is_audited(gallery):
    pid = gallery.add_person(PersonDetails("Ada"), [_sample(1, kinds=("full", "synthetic-mask")), _sample(2)],
                             MODEL)
    first, second = (s.id for s in gallery.samples(pid))
    gallery.remove_sample(first)
    assert [s.id for s in gallery.samples(pid)] == [second]
    assert gallery.counts(pid)["templates"] == 1
    assert len(gallery.templates(MODEL)) == 1
    assert _last_audit(gallery) == ("update", f"person {pid}", {"sample_removed": first})
    n_records = len(gallery.audit_records())
    gallery.remove_sample(first)  # already gone: nothing to record
    assert len(gallery.audit_records()) == n_records


# -- remove_person while the WAL cannot be cut yet ---------------------------------------


def test_an_erase_held_up_by_the_wal_returns_false_for_the_caller_to_report_and_the_next_one_completes(
        gallery, caplog):
    ada = gallery.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    bob = gallery.add_person(PersonDetails("Bob"), [_sample(2)], MODEL)

    # The WAL stays uncut, as when another connection is mid-read.
    with wal_checkpoint_answered(gallery, sqlite3.SQLITE_IGNORE), \
            caplog.at_level(logging.WARNING, logger="kiosk.gallery.sqlite"):
        assert gallery.remove_person(ada) is False
    assert [p.id for p in gallery.people()] == [bob]  # the deletion itself is committed
    # An expected state, not a failure: the caller says it (the CLI prints a note), nothing is logged.
    assert caplog.records == []
    assert gallery.remove_person(bob) is True  # once the WAL can be cut, old copies go


# -- replace_templates (re-embedding) ------------------------------------------------------


def test_replace_templates_swaps_in_the_new_model_and_stores_remade_crops(gallery):
    pid = gallery.add_person(PersonDetails("Ada"), [_sample(1, kinds=("full", "synthetic-mask")), _sample(2)], OLD)
    s1, s2 = (s.id for s in gallery.samples(pid))
    crop = np.full((24, 24, 3), 77, np.uint8)
    new = {s1: [NewTemplate("full", _vec(100)), NewTemplate("synthetic-mask", _vec(101))],
           s2: [NewTemplate("full", _vec(102), 0.8)]}
    gallery.replace_templates(MODEL, new, crops={s2: crop})
    assert gallery.model_versions() == {MODEL: 3}
    templates = gallery.templates(MODEL)
    assert list(templates.person_ids) == [pid] * 3
    np.testing.assert_allclose(templates.matrix[2], _vec(102) / np.linalg.norm(_vec(102)), rtol=1e-6)
    stored = gallery.samples(pid, with_templates=True)
    assert [[(t.kind, t.model_version) for t in s.templates] for s in stored] == [
        [("full", MODEL), ("synthetic-mask", MODEL)], [("full", MODEL)]]
    assert stored[0].face_crop is None
    assert stored[1].face_crop is not None and np.array_equal(stored[1].face_crop, crop)
    # Again for one sample: its templates are replaced, not added to.
    gallery.replace_templates(MODEL, {s1: [NewTemplate("full", _vec(103))]})
    assert gallery.counts(pid)["templates"] == 2


# -- contacts, thumbnails, look-ups ------------------------------------------------------


def test_contacts_for_reads_the_contacts_in_the_host_field(gallery):
    with_host = gallery.add_person(PersonDetails("Ada", host="Grace Hopper <grace@example.com>"), [_sample(1)],
                                   MODEL)
    without = gallery.add_person(PersonDetails("Bob"), [_sample(2)], MODEL)
    assert gallery.contacts_for(with_host) == ["grace@example.com"]
    assert gallery.contacts_for(without) == []
    assert gallery.contacts_for(without + 1) == []


def test_thumbnail_is_the_best_unmasked_sample(gallery):
    pid = gallery.add_person(PersonDetails("Ada"), [_sample(1, quality=0.2), _sample(2, quality=0.9, masked=True),
                                                    _sample(3, quality=0.7)], MODEL)
    best = gallery.samples(pid)[2].aligned
    thumb = gallery.thumbnail(pid)
    assert thumb is not None and np.array_equal(thumb, best)
    assert gallery.thumbnail(pid + 1) is None


def test_resolve_name_finds_the_one_person_whatever_the_case(gallery):
    gallery.add_person(PersonDetails("Bob"), [_sample(1)], MODEL)
    ada = gallery.add_person(PersonDetails("Ada Lovelace"), [_sample(2)], MODEL)
    assert gallery.resolve_name("  ada lovelace ").id == ada
    with pytest.raises(GalleryError, match="no person named 'Grace'"):
        gallery.resolve_name("Grace")


@pytest.mark.parametrize("bad", [0, -1, 2**63, 2**64])
def test_get_person_refuses_ids_sqlite_cannot_hold_naming_the_id(gallery, bad):
    with pytest.raises(GalleryError, match=f"^no person with id {bad}$"):
        gallery.get_person(bad)


def test_get_person_finds_large_ids(gallery):
    sample = _sample(1)
    ids = gallery.add_people([(PersonDetails(f"P{i}"), [sample]) for i in range(130)], MODEL)
    assert gallery.get_person(ids[-1]).name == "P129"


def test_people_search_matches_name_company_or_host(gallery):
    ada = gallery.add_person(PersonDetails("Ada", company="Acme"), [_sample(1)], MODEL)
    bob = gallery.add_person(PersonDetails("Bob", host="Grace Hopper"), [_sample(2)], MODEL)
    cy = gallery.add_person(PersonDetails("Cy"), [_sample(3)], MODEL)
    assert [p.id for p in gallery.people(" acme ")] == [ada]
    assert [p.id for p in gallery.people("hopper")] == [bob]
    assert [p.id for p in gallery.people("cy")] == [cy]
    assert [p.id for p in gallery.people()] == [ada, bob, cy]


def test_counts_of_one_person_count_only_their_rows(gallery):
    first = gallery.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    second = gallery.add_person(PersonDetails("Bob"), [_sample(2), _sample(3, kinds=("full", "synthetic-mask"))],
                                MODEL)
    gallery.record_visit(second, "checkin", 0.9)
    assert gallery.counts(second) == {"people": 1, "samples": 2, "templates": 3, "visits": 1}
    assert gallery.counts(first) == {"people": 1, "samples": 1, "templates": 1, "visits": 0}


# -- the template cache and other connections' writes -----------------------------------


@pytest.fixture
def two(tmp_path):
    """Two connections to one gallery, as two kiosks (or a kiosk and the CLI) have."""
    with Gallery(tmp_path / "g.db") as first, Gallery(tmp_path / "g.db") as second:
        yield first, second


def test_templates_keep_their_object_when_another_write_changed_none(two):
    kiosk, other = two
    pid = kiosk.add_person(PersonDetails("Ada"), [_sample(1, kinds=("full", "synthetic-mask"))], MODEL)
    before = kiosk.templates(MODEL)
    other.record_visit(pid, "checkin", 0.9)
    kiosk.data_version()  # notices the other connection's commit
    assert kiosk.templates(MODEL) is before


def test_a_rename_elsewhere_gives_new_templates(two):
    kiosk, other = two
    pid = kiosk.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    before = kiosk.templates(MODEL)
    other.update_person(pid, name="Ada Lovelace")
    kiosk.data_version()
    after = kiosk.templates(MODEL)
    assert after is not before and after.names[pid] == "Ada Lovelace"


def test_new_samples_elsewhere_give_new_templates(two):
    kiosk, other = two
    pid = kiosk.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    before = kiosk.templates(MODEL)
    other.add_samples(pid, [_sample(2)], MODEL)
    kiosk.data_version()
    assert len(kiosk.templates(MODEL)) == 2 and len(before) == 1
