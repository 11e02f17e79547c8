"""A gallery made by the previous version (schema 1, YuNet-aligned crops) opens, says why nobody
is recognised, and `people reembed` makes it work with the face-mesh pipeline."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ASTRONAUT

from kiosk.errors import ModelMismatchError
from kiosk.gallery import Gallery
from kiosk.gallery.schema import MIGRATIONS, SCHEMA_VERSION
from kiosk.gallery.stored_faces import encode_png
from kiosk.models import MODELS
from kiosk.vision.align import align_face
from kiosk.vision.detectors import create_detector

OLD_VERSION = MODELS["sface"].version  # templates of schema 1 carried the embedder's version alone


@pytest.fixture
def old_gallery(tmp_path, pipeline, astronaut_rgb):
    """Schema 1, as the previous release wrote it: one person, a YuNet-aligned sample crop."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    MIGRATIONS[0](conn)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    found = create_detector("mediapipe", still=True).detect(astronaut_rgb)
    aligned = align_face(astronaut_rgb, found.keypoints[0])  # the old pipeline's 5-point alignment
    vec = pipeline.embed_aligned(aligned[None])[0]
    stamp = "2026-01-05T10:00:00+01:00"
    conn.execute("INSERT INTO people(id, name, created_at, updated_at) VALUES (1, 'Eileen', ?, ?)", (stamp, stamp))
    conn.execute("INSERT INTO samples(id, person_id, aligned_png, created_at) VALUES (1, 1, ?, ?)",
                 (encode_png(aligned), stamp))
    conn.execute("INSERT INTO templates(person_id, sample_id, kind, model_version, dim, embedding, created_at)"
                 " VALUES (1, 1, 'full', ?, ?, ?, ?)", (OLD_VERSION, len(vec), vec.astype(np.float32).tobytes(), stamp))
    conn.execute("COMMIT")
    conn.close()
    return path


def test_an_old_gallery_is_migrated_and_never_compared_silently(old_gallery, pipeline, astronaut_rgb):
    from kiosk.enrollment.samples import reembed_gallery
    from kiosk.recognition.recognizer import Recognizer

    with Gallery(old_gallery) as gallery:
        assert gallery.schema_version == SCHEMA_VERSION
        assert gallery.people_without(pipeline.model_version) == 1
        with pytest.raises(ModelMismatchError, match="earlier face-kiosk.*people reembed"):
            gallery.templates(pipeline.model_version)
        report = reembed_gallery(pipeline, gallery)
        assert (report.samples, report.from_old_crops, report.failed) == (1, 1, [])
        assert gallery.model_versions() == {pipeline.model_version: 1}
        assert gallery.people_without(pipeline.model_version) == 0
        (stored,) = gallery.samples()
        assert stored.face_crop is not None and stored.face_crop.shape == (256, 256, 3)
        # Another view of her (shifted, smaller) is named.
        from kiosk.config import Config

        moved = cv2.resize(np.roll(astronaut_rgb, (30, -20), axis=(0, 1)), None, fx=0.8, fy=0.8)
        (result,) = Recognizer(Config(), gallery, pipeline).recognize(moved)
        assert result.name == "Eileen"


def test_reembed_from_the_command_line(old_gallery, tmp_path):
    env_cmd = [sys.executable, "-m", "kiosk", "people", "reembed", "--db", str(old_gallery)]
    out = subprocess.run(env_cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "re-embedded 1 samples" in out.stdout and "1 from an earlier version's crops" in out.stdout
    out = subprocess.run([sys.executable, "-m", "kiosk", "identify", "--db", str(old_gallery), str(ASTRONAUT)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "Eileen" in out.stdout, out.stdout + out.stderr
