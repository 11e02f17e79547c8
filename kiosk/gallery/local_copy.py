"""A kiosk's local copy of what it needs to recognise when the shared gallery is unreachable.

A kiosk that is already running keeps its in-memory matrix through an outage; one that starts
while the server is down has nothing to load. So every kiosk keeps, next to its visit spool,
a private SQLCipher file (0600, its key found or made like a gallery key and never kept beside
it, kiosk.security.keys) with: the gallery's id, the change-feed position the copy is up to
date with, the verified names, the templates (decrypted: the file itself is encrypted) and
the settings (the admin PIN hash, the lockout). It is rewritten after every sync that changed
something, only for the people that changed (all of them after a full reload), so a person
erased on the server disappears from every copy at the next sync: the erasure promise holds
for copies too. SQLite's `secure_delete` overwrites the deleted rows' bytes in the file.

A kiosk started offline serves `templates()` and the settings from here, says so on the
receptionist view and /health, and spools visits; enrolment and removal stay refused.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from kiosk.gallery.api import TemplateSet, now_iso
from kiosk.security.encrypted_gallery import open_gallery
from kiosk.security.keys import APP_NAME
from kiosk.security.private_files import ensure_private_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS templates (id INTEGER NOT NULL, model_version TEXT NOT NULL, person_id INTEGER NOT NULL,
    kind TEXT NOT NULL, embedding BLOB NOT NULL, PRIMARY KEY (model_version, id));
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)
"""


def default_local_copy_path(ref: str) -> Path:
    """<user data folder>/local/<hash of the gallery's URL>.db (the kiosk's own configuration
    names it; the gallery id inside tells whether it is still the same gallery)."""
    digest = hashlib.sha256(ref.encode("utf-8")).hexdigest()[:24]
    return Path(platformdirs.user_data_dir(APP_NAME)) / "local" / f"{digest}.db"


@dataclass(frozen=True)
class LoadedCopy:
    """One model's templates from the copy, with what the sync needs to continue from it."""

    templates: TemplateSet
    template_ids: np.ndarray
    seq: int  # the change-feed position the copy was saved at
    saved_at: str


class LocalCopy:
    """The copy file. Thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        ensure_private_dir(self.path.parent)
        self._lock = threading.Lock()
        self._conn, _ = open_gallery(self.path, create=True)
        self._conn.execute("PRAGMA secure_delete = ON")
        self._conn.execute("PRAGMA journal_mode = DELETE")  # no WAL file holding old pages
        for statement in _SCHEMA.split(";"):
            self._conn.execute(statement)

    def meta(self) -> dict[str, str]:
        """gallery_id, seq, saved_at (empty for a copy never saved)."""
        with self._lock:
            return dict(self._conn.execute("SELECT key, value FROM meta").fetchall())

    def save(self, gallery_id: str, seq: int, templates: TemplateSet, template_ids: np.ndarray,
             changed: list[int] | None, settings: dict[str, str]) -> None:
        """Bring the copy up to date with `templates` (one transaction): only the people in
        `changed`, or everything when it is None (a full load, or another gallery)."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                old = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                if old.get("gallery_id") not in (None, gallery_id):
                    changed = None
                model = templates.model_version
                if changed is None:
                    conn.execute("DELETE FROM templates")
                    conn.execute("DELETE FROM people")
                    keep = np.ones(len(templates), bool)
                    people = templates.names
                else:
                    marks = ",".join("?" * len(changed))
                    conn.execute(f"DELETE FROM templates WHERE person_id IN ({marks})", changed)  # noqa: S608
                    conn.execute(f"DELETE FROM people WHERE id IN ({marks})", changed)  # noqa: S608
                    keep = np.isin(templates.person_ids, np.asarray(changed, np.int64))
                    people = {pid: name for pid, name in templates.names.items() if pid in set(changed)}
                conn.executemany("INSERT OR REPLACE INTO people(id, name) VALUES (?, ?)",
                                 [(int(pid), name) for pid, name in people.items()])
                matrix = np.asarray(templates.matrix, np.float32)
                conn.executemany(
                    "INSERT OR REPLACE INTO templates(id, model_version, person_id, kind, embedding) VALUES (?,?,?,?,?)",
                    [(int(template_ids[i]), model, int(templates.person_ids[i]), str(templates.kinds[i]),
                      matrix[i].tobytes()) for i in np.flatnonzero(keep)])
                conn.execute("DELETE FROM settings")
                conn.executemany("INSERT INTO settings(key, value) VALUES (?, ?)", sorted(settings.items()))
                for k, v in (("gallery_id", gallery_id), ("seq", str(seq)), ("saved_at", now_iso())):
                    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (k, v))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def load(self, model_version: str) -> LoadedCopy | None:
        """The saved templates of `model_version` (None when the copy holds none)."""
        with self._lock:
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
            if "gallery_id" not in meta:
                return None
            rows = self._conn.execute("SELECT id, person_id, kind, embedding FROM templates WHERE model_version = ?"
                                      " ORDER BY id", (model_version,)).fetchall()
            names = {int(i): str(n) for i, n in self._conn.execute("SELECT id, name FROM people").fetchall()}
        n = len(rows)
        tids = np.fromiter((r[0] for r in rows), np.int64, n)
        pids = np.fromiter((r[1] for r in rows), np.int64, n)
        kinds = np.array([r[2] for r in rows]) if rows else np.array([], dtype=str)
        matrix = (np.frombuffer(b"".join(r[3] for r in rows), np.float32).reshape(n, -1).copy() if rows
                  else np.zeros((0, 0), np.float32))
        return LoadedCopy(TemplateSet(model_version, pids, kinds, matrix, names), tids, int(meta.get("seq", "0")),
                          meta.get("saved_at", ""))

    def settings(self) -> dict[str, str]:
        """The settings as last synced (the admin PIN hash and lockout)."""
        with self._lock:
            return dict(self._conn.execute("SELECT key, value FROM settings").fetchall())

    def close(self) -> None:
        with self._lock:
            self._conn.close()
