"""The SQLite gallery's own edges: what opening a file decides, what each write puts in the audit
log, how samples come back, how another process's change reaches the template cache, and which
templates are refused. Real galleries in tmp_path (SQLCipher by default, plaintext where said)."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import wal_checkpoint_answered

from kiosk.errors import GalleryError, ModelMismatchError
from kiosk.gallery import Gallery
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from kiosk.gallery.schema import SCHEMA_VERSION
from kiosk.gallery.stored_faces import decode_png, encode_png, photo_provenance, unit_vector
from kiosk.recognition.matching import Matcher
from kiosk.security.sqlcipher import GalleryBusyError, connect_encrypted, is_plaintext_sqlite

MODEL = "emb@1/align2"


def _sample(seed: int, *, kinds: tuple[str, ...] = ("full",), crop: bool = False, masked: bool = False,
            source: str = "test", quality: float = 0.5) -> NewSample:
    rng = np.random.default_rng(seed)
    aligned = rng.integers(0, 255, (112, 112, 3), np.uint8)
    face = rng.integers(0, 255, (256, 256, 3), np.uint8) if crop else None
    templates = [NewTemplate(k, rng.standard_normal(8).astype(np.float32), 0.25) for k in kinds]
    return NewSample(aligned, templates, source, quality, masked, face)


def _reason(exc: pytest.ExceptionInfo[GalleryError], path: Path) -> str:
    """The message after the path: tmp_path holds the test's name, which must not match for it."""
    text = str(exc.value)
    assert text.count(str(path)) == 1, text
    return text.replace(str(path), "<path>")


# -- opening ---------------------------------------------------------------------------------------


def test_a_new_gallery_is_encrypted_unless_asked_not_to(tmp_path):
    with Gallery(tmp_path / "enc.db") as g:
        assert g.encrypted is True
    assert not is_plaintext_sqlite(tmp_path / "enc.db")
    with Gallery(tmp_path / "plain.db", encrypt=False) as g:
        assert g.encrypted is False
    assert is_plaintext_sqlite(tmp_path / "plain.db")
    with Gallery(tmp_path / "plain.db") as g:  # an existing plaintext file stays what it is
        assert g.encrypted is False


def test_only_a_plaintext_gallery_warns_that_it_is_not_encrypted(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="kiosk.gallery.sqlite"):
        Gallery(tmp_path / "enc.db").close()
        assert not caplog.records
        Gallery(tmp_path / "plain.db", encrypt=False).close()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and str(tmp_path / "plain.db") in messages[0] and "not encrypted" in messages[0], messages


def test_create_false_opens_an_existing_gallery_and_refuses_a_missing_one(tmp_path):
    path = tmp_path / "g.db"
    Gallery(path).close()
    with Gallery(path, create=False) as g:
        assert g.counts()["people"] == 0
    missing = tmp_path / "none.db"
    with pytest.raises(GalleryError) as exc:
        Gallery(missing, create=False)
    assert _reason(exc, missing).startswith("<path>: no gallery here")
    assert not missing.exists()


def test_a_folder_is_refused_by_its_path(tmp_path):
    folder = tmp_path / "dir.db"
    folder.mkdir()
    with pytest.raises(GalleryError) as exc:
        Gallery(folder)
    assert _reason(exc, folder) == "<path>: is a folder, not a gallery"


def test_a_foreign_file_names_the_path_once_and_why_it_could_not_open(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GalleryError) as exc:
        Gallery(junk)
    assert _reason(exc, junk) == ("<path>: not a face-kiosk gallery, or the file is damaged, or its key is missing "
                                  "(no key for this gallery (keyring, key file or environment))")


def test_a_broken_sqlite_file_is_refused_with_its_path(tmp_path):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 20)
    with pytest.raises(GalleryError) as exc:
        Gallery(broken)
    assert _reason(exc, broken).startswith("<path>: not a face-kiosk gallery, or the file is damaged (")


def test_a_gallery_held_by_another_program_is_reported_in_use_not_damaged(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        key = g.key.key
    holder = connect_encrypted(path, key)  # e.g. `gallery rekey` running: it has the file alone
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("SELECT count(*) FROM people").fetchone()
        holder.execute("COMMIT")
        with pytest.raises(GalleryBusyError) as exc:
            Gallery(path)
        assert _reason(exc, path) == ("<path>: the gallery is in use by another program (is the kiosk running?); "
                                      "stop it and retry")
    finally:
        holder.close()
    with Gallery(path, create=False) as g:  # once it is free, everything is still there
        assert [p.name for p in g.people()] == ["Ada"]


def test_a_damaged_index_page_is_refused_naming_what_quick_check_found(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path, encrypt=False) as g:
        g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='people_name'").fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page: root * page] = b"\xab" * page  # an index, not a table the open reads
    path.write_bytes(bytes(data))
    with pytest.raises(GalleryError) as exc:
        Gallery(path)
    reason = _reason(exc, path)
    assert reason.startswith("<path>: the gallery file is damaged (*** in database main ***")
    assert f"page {root}" in reason
    assert reason.endswith("; restore it from a backup (face-kiosk export)"), reason


def test_a_meta_table_without_a_version_is_migrated_from_the_start(tmp_path):
    path = tmp_path / "half.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.commit()
    conn.close()
    with Gallery(path) as g:
        assert g.schema_version == SCHEMA_VERSION
        pid = g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        assert g.get_person(pid).n_templates == 1


def test_a_new_gallery_records_its_schema_version_and_when_it_was_made(tmp_path):
    path = tmp_path / "plain.db"
    Gallery(path, encrypt=False).close()
    conn = sqlite3.connect(path)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    conn.close()
    assert set(meta) == {"schema_version", "created_at", "gallery_id"}, meta
    assert len(meta["gallery_id"]) == 32  # its own random id (schema 5), not derived from its path
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert dt.datetime.fromisoformat(meta["created_at"]).tzinfo is not None


def test_a_plaintext_gallery_can_be_used_from_another_thread(tmp_path):
    with Gallery(tmp_path / "plain.db", encrypt=False) as g:
        g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        seen: list[object] = []
        worker = threading.Thread(target=lambda: seen.append(_safely(g.counts)))
        worker.start()
        worker.join()
        assert seen == [{"people": 1, "samples": 1, "templates": 1, "visits": 0}]


def _safely(call):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - handed back to the test thread
        return exc


# -- defaults of what is written ------------------------------------------------------------------


def test_the_default_actor_and_visit_fields(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        pid = g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        g.record_visit(pid, "checkin", 0.9)
        [visit] = g.visits()
        assert (visit.masked, visit.source, visit.site, visit.kiosk) == (False, "", "", "")
        assert {r.actor for r in g.audit_records()} == {"app"}
    with Gallery(tmp_path / "g.db", kiosk="desk-2") as g:
        g.record_visit(pid, "checkin", 0.9, source="")
        assert g.visits()[0].kiosk == "desk-2"


def test_a_visit_for_someone_removed_names_them(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        pid = g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        g.remove_person(pid)
        with pytest.raises(GalleryError, match=rf"^person {pid} is no longer in the gallery"):
            g.record_visit(pid, "checkin", 0.9)
        assert g.visits() == []


# -- the audit log ---------------------------------------------------------------------------------


def test_each_write_audits_its_facts(tmp_path):
    with Gallery(tmp_path / "g.db", actor="cli") as g:
        ada = g.add_person(PersonDetails("Ada", consent_at="2026-01-01", consent_text="ok"),
                           [_sample(1), _sample(2)], MODEL)
        bob = g.add_person(PersonDetails("Bob"), [_sample(3)], MODEL)
        g.record_event("export", details={"people": 2})
        g.record_event("kiosk_unlock")
        g.remove_person(ada)
        records = [(r.actor, r.action, r.subject, dict(r.details)) for r in g.audit_records()]
    assert records == [
        ("cli", "enroll", f"person {ada}", {"samples": 2, "consent": True}),
        ("cli", "enroll", f"person {bob}", {"samples": 1, "consent": False}),
        ("cli", "export", "", {"people": 2}),
        ("cli", "kiosk_unlock", "", {}),
        ("cli", "remove", f"person {ada}", {"samples": 2}),
    ]


def test_purging_only_expired_people_audits_it_and_stops_matching_them(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        ann = g.add_person(PersonDetails("Ann", retention_until="2026-05-04"), [_sample(1)], MODEL)
        bob = g.add_person(PersonDetails("Bob"), [_sample(2)], MODEL)
        assert set(g.templates(MODEL).person_ids) == {ann, bob}  # cached
        assert g.purge_expired(dt.date(2026, 5, 5), 30) == (1, 0)  # no visits at all
        assert set(g.templates(MODEL).person_ids) == {bob}
        purges = [(r.subject, dict(r.details)) for r in g.audit_records() if r.action == "purge"]
        assert purges == [("retention", {"people": [ann], "visits": 0})]


def test_purging_only_old_visits_audits_it(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        bob = g.add_person(PersonDetails("Bob"), [_sample(2)], MODEL)
        g.record_visit(bob, "checkin", 0.8, ts="2026-01-01T09:00:00+00:00")
        assert g.purge_expired(dt.date(2026, 5, 5), 30) == (0, 1)
        purges = [(r.subject, dict(r.details)) for r in g.audit_records() if r.action == "purge"]
        assert purges == [("retention", {"people": [], "visits": 1})]


def test_an_erase_whose_files_cannot_be_compacted_says_so_and_stays_committed(tmp_path, caplog):
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        pid = g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)

        # SQLite refuses the WAL cut, as a failing disk would.
        with wal_checkpoint_answered(g, sqlite3.SQLITE_DENY), \
                caplog.at_level(logging.WARNING, logger="kiosk.gallery.sqlite"):
            assert g.remove_person(pid) is False
        assert g.counts()["people"] == 0
    [message] = [r.getMessage() for r in caplog.records]
    assert str(path) in message and "not authorized" in message, message  # which file, and why


# -- samples ---------------------------------------------------------------------------------------


def test_png_keeps_every_pixel_and_its_colour_order():
    rgb = np.random.default_rng(7).integers(0, 255, (20, 30, 3), np.uint8)
    back = decode_png(encode_png(rgb))
    np.testing.assert_array_equal(back, rgb)


def test_samples_come_back_as_stored(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        first = _sample(1, kinds=("full", "synthetic-mask"), crop=True, source="camera", quality=0.75)
        second = _sample(2, masked=True, source="photo.jpg", quality=0.25)
        ada = g.add_person(PersonDetails("Ada"), [first], MODEL)
        bob = g.add_person(PersonDetails("Bob"), [second], MODEL)
        everyone = g.samples()
        # A label is kept; a file name only as a keyed hash of it (issue 20: never the photo's path).
        assert [(s.person_id, s.source, s.quality, s.masked, s.templates) for s in everyone] == [
            (ada, "camera", 0.75, False, ()), (bob, photo_provenance("photo.jpg", g.integrity_key), 0.25, True, ())]
        assert everyone[1].source.startswith("photo:") and "photo.jpg" not in everyone[1].source
        np.testing.assert_array_equal(everyone[0].aligned, first.aligned)
        assert first.face_crop is not None and everyone[0].face_crop is not None
        np.testing.assert_array_equal(everyone[0].face_crop, first.face_crop)
        assert everyone[1].face_crop is None
        with_templates = g.samples(with_templates=True)
        assert [[(t.kind, t.model_version) for t in s.templates] for s in with_templates] == [
            [("full", MODEL), ("synthetic-mask", MODEL)], [("full", MODEL)]]
        vec = first.templates[0].embedding
        np.testing.assert_allclose(with_templates[0].templates[0].embedding, vec / np.linalg.norm(vec), rtol=1e-6)
        assert [s.person_id for s in g.samples(bob, with_templates=True)] == [bob]


def test_a_damaged_stored_image_is_reported_as_such(tmp_path):
    path = tmp_path / "plain.db"
    with Gallery(path, encrypt=False) as g:
        pid = g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE samples SET aligned_png = ?", (b"\x89PNG not really",))
    conn.commit()
    conn.close()
    with Gallery(path) as g:
        for read in (lambda: g.thumbnail(pid), g.samples):
            with pytest.raises(GalleryError) as exc:
                read()
            assert str(exc.value) == "a stored sample image is damaged"


# -- templates -------------------------------------------------------------------------------------


def test_a_template_of_any_float_type_is_stored_as_a_unit_float32_vector(tmp_path):
    as_float64 = np.array([3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    sample = NewSample(np.zeros((112, 112, 3), np.uint8), [NewTemplate("full", as_float64)])
    with Gallery(tmp_path / "g.db") as g:
        pid = g.add_person(PersonDetails("Ada"), [sample], MODEL)
        ts = g.templates(MODEL)
    assert ts.matrix.dtype == np.float32 and ts.person_ids.dtype == np.int64
    np.testing.assert_allclose(ts.matrix, [[0.6, 0.8, 0, 0, 0, 0, 0, 0]], rtol=1e-6)
    assert (ts.model_version, list(ts.person_ids), list(ts.kinds)) == (MODEL, [pid], ["full"])
    assert unit_vector([0.0, 2.0]).dtype == np.float32  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [[np.nan] * 8, [np.inf] + [0.0] * 7, [0.0] * 8, [np.nan, 1.0, 1.0]])
def test_non_finite_or_zero_templates_are_refused_and_nothing_is_saved(tmp_path, bad):
    sample = NewSample(np.zeros((112, 112, 3), np.uint8), [NewTemplate("full", np.array(bad, np.float32))])
    with Gallery(tmp_path / "g.db") as g:
        with pytest.raises(GalleryError, match="refusing an empty or invalid template"):
            g.add_person(PersonDetails("Ada"), [sample], MODEL)
        assert g.counts()["templates"] == 0


def test_an_empty_gallery_serves_an_empty_set_that_matches_nobody(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        ts = g.templates(MODEL)
    assert (len(ts), ts.n_people, ts.model_version) == (0, 0, MODEL)
    # the same types as a full set, no rows anywhere, and no dimension (there is no template to have one)
    assert ts.matrix.shape == (0, 0) and ts.matrix.dtype == np.float32
    assert ts.person_ids.shape == (0,) and ts.person_ids.dtype == np.int64
    assert ts.kinds.shape == (0,) and ts.kinds.dtype.kind == "U"
    assert len(ts.without(1)) == 0
    [verdict] = Matcher(ts).identify(np.ones((1, 8), np.float32), np.array([False]))
    assert verdict.person_id is None


def test_templates_of_the_asked_model_are_served_beside_other_models(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        ada = g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        g.add_person(PersonDetails("Bob"), [_sample(2)], "other@9/align2")
        assert list(g.templates(MODEL).person_ids) == [ada]


def test_a_new_alignment_asks_for_a_reembed_naming_the_gallery(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        g.add_person(PersonDetails("Ada"), [_sample(1)], "emb@1/align1")
        with pytest.raises(ModelMismatchError) as exc:
            g.templates(MODEL)
    reason = _reason(exc, path)
    assert reason.startswith("<path>: the gallery's templates were made by an earlier face-kiosk"), reason
    assert "face-kiosk people reembed" in reason


def test_another_embedder_names_every_model_in_the_gallery(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        g.add_person(PersonDetails("Ada"), [_sample(1)], "a@1/align2")
        g.add_person(PersonDetails("Bob"), [_sample(2)], "b@1/align2")
        with pytest.raises(ModelMismatchError) as exc:
            g.templates(MODEL)
    assert _reason(exc, path) == (f"<path>: the gallery's templates were made by a@1/align2, b@1/align2, "
                                  f"not by {MODEL}; re-embed them (face-kiosk people reembed) or switch model")


# -- two processes ----------------------------------------------------------------------------------


def test_another_connections_enrollment_changes_the_version_and_reaches_the_cache(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path) as kiosk, Gallery(path) as desk:
        ada = desk.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        before = kiosk.data_version()
        assert list(kiosk.templates(MODEL).person_ids) == [ada]
        assert kiosk.data_version() == before  # nothing changed
        assert list(kiosk.templates(MODEL).person_ids) == [ada]  # cached again
        bob = desk.add_person(PersonDetails("Bob"), [_sample(2)], MODEL)
        assert kiosk.data_version() != before
        assert list(kiosk.templates(MODEL).person_ids) == [ada, bob]


def test_another_connections_visit_keeps_the_same_template_set(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path) as kiosk, Gallery(path) as desk:
        ada = desk.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        kiosk.data_version()
        first = kiosk.templates(MODEL)
        desk.record_visit(ada, "checkin", 0.9)
        kiosk.data_version()  # sees the change and drops the cache
        assert kiosk.templates(MODEL) is first  # re-read, found equal: the live view does not re-vote


def test_a_poll_that_finds_no_change_serves_the_templates_from_memory(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        g.add_person(PersonDetails("Ada"), [_sample(1)], MODEL)
        first = g.templates(MODEL)
        statements: list[str] = []
        g._conn.set_trace_callback(statements.append)
        g.data_version()  # the live view asks this every second
        assert g.templates(MODEL) is first
        g._conn.set_trace_callback(None)
    assert statements and not [s for s in statements if "templates" in s.lower()], statements  # not read again
