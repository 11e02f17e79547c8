"""The gallery manager's controller without Qt: list and search, edit, rename, remove people and
samples, export, import (skipping people already there, re-embedding another model's export),
re-embed; one operation at a time; every write on the writer thread, outcomes on the caller's.
"""

from __future__ import annotations

import json
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from controller_helpers import ImmediateRunner, ImmediateWriter, Loop, ManualWriter, ThreadRunner

from kiosk.enrollment.gallery_admin import AdminChange, GalleryManagerController, listed_names
from kiosk.enrollment.samples import make_sample
from kiosk.enrollment.session_state import DetailsForm
from kiosk.gallery import Gallery
from kiosk.gallery.api import PersonDetails

WRITES = ("add_person", "add_people", "add_samples", "update_person", "remove_person", "remove_sample",
          "replace_templates")


class RecordingGallery(Gallery):
    """A gallery that notes which thread each write came from."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.write_threads: list[tuple[str, str]] = []

    def __getattribute__(self, name: str):
        if name in WRITES:
            self_threads = object.__getattribute__(self, "write_threads")
            self_threads.append((name, threading.current_thread().name))
        return object.__getattribute__(self, name)


def yes(title: str, text: str) -> bool:
    return True


def no(title: str, text: str) -> bool:
    return False


@pytest.fixture
def gallery(tmp_path):
    with RecordingGallery(tmp_path / "gallery.db") as g:
        yield g


@pytest.fixture
def people(gallery, pipeline, astronaut_rgb):
    face = pipeline.analyze(astronaut_rgb)[0]
    mirrored = pipeline.analyze(astronaut_rgb[:, ::-1].copy())[0]
    version = pipeline.model_version
    ids = {
        "Ada Lovelace": gallery.add_person(PersonDetails("Ada Lovelace", company="Acme"),
                                           [make_sample(pipeline, face), make_sample(pipeline, mirrored)], version),
        "Bob Builder": gallery.add_person(PersonDetails("Bob Builder", company="Initech"),
                                          [make_sample(pipeline, face)], version),
        "Carol Danvers": gallery.add_person(PersonDetails("Carol Danvers", host="Acme"),
                                            [make_sample(pipeline, mirrored)], version),
    }
    gallery.write_threads.clear()
    return ids


def manager(gallery, pipeline, writer=None, runner=None, **kwargs) -> GalleryManagerController:
    c = GalleryManagerController(gallery, runner or ImmediateRunner(pipeline), writer or ImmediateWriter(), **kwargs)
    c.refresh()
    return c


def test_list_search_and_counts(gallery, pipeline, people):
    c = manager(gallery, pipeline)
    assert [p.name for p in c.people] == ["Ada Lovelace", "Bob Builder", "Carol Danvers"]
    assert c.count_text == "3 people"
    c.refresh("acme")
    assert [p.name for p in c.people] == ["Ada Lovelace", "Carol Danvers"] and c.count_text == "2 of 3 people"
    c.select([people["Bob Builder"]])  # not in the list any more after the next refresh
    c.refresh("initech")
    assert c.current_id == people["Bob Builder"]
    c.refresh("nobody")
    assert c.people == [] and c.current_id is None and c.selected == []


def test_edit_and_rename_through_the_writer(gallery, pipeline, people):
    writer = ManualWriter()
    c = manager(gallery, pipeline, writer)
    heard: list[AdminChange] = []
    c.listeners.append(heard.append)
    bob = people["Bob Builder"]
    c.select([bob])
    assert c.update_details(bob, DetailsForm(name=" Bob Builder ", company="Globex", retention_until="2030-01-01"))
    assert c.busy and c.notice.text == "Saving the details of Bob Builder…"
    assert gallery.get_person(bob).company == "Initech"  # not written yet
    assert not c.rename(bob, "Robert")  # one operation at a time
    writer.run_all()
    assert not c.busy and c.notice.text == "Saved the details of Bob Builder."
    person = gallery.get_person(bob)
    assert person.company == "Globex" and person.retention_until == "2030-01-01"
    assert AdminChange.GALLERY in heard[-2] and AdminChange.DETAILS in heard[-2]
    assert c.update_details(bob, DetailsForm(name="   "))
    writer.run_all()
    assert c.notice.text == "Not saved: a person needs a name" and c.notice.error
    assert c.rename(bob, "Robert ")
    writer.run_all()
    assert gallery.get_person(bob).name == "Robert" and c.notice.text == "Renamed to Robert."


def test_remove_people_asks_first(gallery, pipeline, people):
    c = manager(gallery, pipeline)
    ada, bob = people["Ada Lovelace"], people["Bob Builder"]
    c.select([ada, bob])
    asked: list[str] = []
    assert not c.remove_people([ada, bob], lambda title, text: asked.append(text) or False)
    assert gallery.counts()["people"] == 3
    assert asked[0].startswith("Delete Ada Lovelace, Bob Builder?") and "cannot be undone" in asked[0]
    assert c.remove_people([ada, bob], yes)
    assert gallery.counts(ada)["people"] == 0 and gallery.counts()["people"] == 1
    assert c.notice.text == "Deleted Ada Lovelace, Bob Builder." and c.selected == [] and c.current_id is None
    assert [p.name for p in c.people] == ["Carol Danvers"]


def test_a_deletion_while_another_program_reads_the_gallery_says_old_copies_stay(gallery, pipeline, people):
    from kiosk.security.sqlcipher import connect_encrypted

    c = manager(gallery, pipeline)
    ada, bob = people["Ada Lovelace"], people["Bob Builder"]
    reader = connect_encrypted(gallery.path, gallery.key.key)  # e.g. the kiosk, mid-read
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM people").fetchone()
        assert c.remove_people([ada], yes)
        assert gallery.counts(ada)["people"] == 0
        assert c.notice.text == ("Deleted Ada Lovelace. Old copies stay in the gallery's files until the next "
                                 "erase or purge (another program is reading it).")
        assert not c.notice.error
    finally:
        reader.close()
    assert c.remove_people([bob], yes)  # nobody reads now: this erase takes the old copies too
    assert c.notice.text == "Deleted Bob Builder."


def test_a_sample_is_removed_but_never_the_last(gallery, pipeline, people):
    c = manager(gallery, pipeline)
    ada = people["Ada Lovelace"]
    first, second = (s.id for s in c.samples(ada))
    assert not c.remove_sample(ada, first, no) and gallery.counts(ada)["samples"] == 2
    assert c.remove_sample(ada, first, yes)
    assert gallery.counts(ada)["samples"] == 1 and c.notice.text == "Removed a sample of Ada Lovelace."
    assert not c.remove_sample(ada, second, yes)
    assert c.notice.text == "This is the person's only sample; delete the person instead." and c.notice.error
    assert gallery.counts(ada)["samples"] == 1


def test_export_then_import_skips_people_already_enrolled(tmp_path, gallery, pipeline, people):
    c = manager(gallery, pipeline)
    path = tmp_path / "two.zip"
    secret = "correct horse battery staple"
    assert c.export([people["Ada Lovelace"], people["Carol Danvers"]], path, secret)
    assert c.notice.text == f"Exported 2 people to {path} (encrypted)." and path.is_file()
    assert path.read_bytes()[:4] == b"FKX1"
    with Gallery(tmp_path / "other.db") as other:
        target = manager(other, pipeline)
        assert target.import_people(path, "a wrong passphrase")
        assert target.notice.text.startswith("Import failed, nothing was added") and target.notice.error
        assert target.import_people(path, secret)
        assert target.notice.text == "Imported 2 people from two.zip."
        assert [p.name for p in target.people] == ["Ada Lovelace", "Carol Danvers"]
    assert c.import_people(path, secret)  # into the gallery they came from: both are there already
    assert c.notice.text.startswith("Imported 0 people from two.zip; 2 skipped (Ada Lovelace: already enrolled as")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    assert c.import_people(broken)
    assert c.notice.text.startswith("Import failed, nothing was added") and c.notice.error
    assert gallery.counts()["people"] == 3


def _as_other_model(src, dst) -> None:
    """A copy of an export whose templates a different model made."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "people.json":
                records = json.loads(data)
                for rec in records:
                    for sample in rec["samples"]:
                        for t in sample["templates"]:
                            t["model_version"] = "another-model/1"
                data = json.dumps(records).encode()
            zout.writestr(info, data)


def test_threads_writes_on_the_writer_model_work_on_the_runner_outcomes_here(tmp_path, gallery, pipeline, people):
    """An import of another model's export: re-embedded on the model thread, written by the writer."""
    exported = tmp_path / "ada.zip"
    manager(gallery, pipeline).export([people["Ada Lovelace"]], exported, None)  # plain: edited below
    other_model = tmp_path / "ada-other-model.zip"
    _as_other_model(exported, other_model)
    loop, runner = Loop(), ThreadRunner(pipeline)
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-writer")
    with RecordingGallery(tmp_path / "other.db") as other:
        c = manager(other, pipeline, writer, runner, post=loop.post)
        try:
            assert c.import_people(other_model)
            assert loop.run_until(lambda: not c.busy)
            assert c.notice.text == "Imported 1 people from ada-other-model.zip.", c.notice
            assert runner.calls == 3  # the model version, then each of Ada's two samples
            assert runner.threads == {"test-models_0"}
            assert other.write_threads == [("add_people", "test-writer_0")]
            ada = other.people()[0]
            assert ada.name == "Ada Lovelace" and ada.n_templates >= 2
            assert c.update_details(ada.id, DetailsForm(name="Ada King"))
            assert loop.run_until(lambda: not c.busy)
            assert c.remove_sample(ada.id, other.samples(ada.id)[0].id, yes)
            assert loop.run_until(lambda: not c.busy)
            assert c.reembed()
            assert loop.run_until(lambda: not c.busy)
            assert c.notice.text == f"Re-embedded 1 samples with {pipeline.model_version}."
            assert {thread for _, thread in other.write_threads} == {"test-writer_0"}
            assert [name for name, _ in other.write_threads] == ["add_people", "update_person", "remove_sample",
                                                                "replace_templates"]
        finally:
            c.close()
            writer.shutdown(wait=True)
            runner.close()


def test_reembed_remakes_every_template(gallery, pipeline, people):
    c = manager(gallery, pipeline)
    before = gallery.counts()["templates"]
    assert c.reembed()
    assert c.notice.text == f"Re-embedded 4 samples with {pipeline.model_version}."
    assert gallery.counts()["templates"] == before and gallery.model_versions() == {pipeline.model_version: before}


def test_closing_drops_the_outcome_of_a_running_write(gallery, pipeline, people):
    writer = ManualWriter()
    c = manager(gallery, pipeline, writer)
    heard: list[AdminChange] = []
    c.listeners.append(heard.append)
    assert c.rename(people["Bob Builder"], "Robert")
    c.close()
    n = len(heard)
    writer.run_all()  # the write completes...
    assert gallery.get_person(people["Bob Builder"]).name == "Robert"
    assert len(heard) == n and c.closed and not c.rename(people["Bob Builder"], "Bob")  # ...unheard


def test_listed_names():
    assert listed_names(["A", "B"]) == "A, B"
    assert listed_names([str(i) for i in range(8)]) == "0, 1, 2, 3, 4 and 3 more"
