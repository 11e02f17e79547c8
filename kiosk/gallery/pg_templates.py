"""The shared gallery's templates: the in-memory matrix each kiosk keeps, brought up to date
with only the people that changed (the change feed), re-embedding, and the search on the
server when templates are stored unencrypted (pgvector, exact or HNSW)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from kiosk.errors import GalleryError, ModelMismatchError
from kiosk.gallery.api import NewTemplate, TemplateSet, now_iso
from kiosk.gallery.pg_connection import GalleryOfflineError, one_row
from kiosk.gallery.pg_integrity import PERSON_CHECK_COLUMNS, PgIntegrity
from kiosk.gallery.stored_faces import mismatch_message, unit_vector

log = logging.getLogger("kiosk.gallery.postgres")  # one logger for the whole backend

_INCREMENTAL_MAX = 2000  # more changed people than this: reload the whole matrix


class _RawBinary(psycopg.adapt.Loader):
    """Loads a value as its raw binary bytes (pgvector rows, joined into one matrix after)."""

    format = psycopg.pq.Format.BINARY

    def load(self, data: Any) -> bytes:
        return bytes(data)


@dataclass
class _Cached:
    templates: TemplateSet
    version: int  # data_version() when loaded
    seq: int  # gallery_changes seq the matrix is up to date with
    template_ids: np.ndarray


def _without(edited: set[int], tids: np.ndarray, pids: np.ndarray, kinds: np.ndarray, matrix: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows of people not in `edited` (their rows were changed outside face-kiosk)."""
    if not edited or not len(pids):
        return tids, pids, kinds, matrix
    keep = ~np.isin(pids, np.fromiter(edited, np.int64, len(edited)))
    return tids[keep], pids[keep], kinds[keep], matrix[keep] if matrix.size else matrix


class PgTemplates(PgIntegrity):
    """The templates of PgGallery: loaded, kept up to date, replaced, searched."""

    _cache: dict[str, _Cached]  # per model version; made empty by PgGallery
    _saved_settings: dict[str, str] | None = None  # what the local copy holds
    last_sync = ""  # when the matrix was last brought up to date from the server

    def _insert_templates(self, conn: psycopg.Connection, person_id: int, sample_id: int, source: str,
                          templates: list[NewTemplate], model_version: str, stamp: str) -> None:
        from pgvector import Vector

        for tpl in templates:
            vec = unit_vector(tpl.embedding)
            enc = plain = None
            if self.templates_encrypted:
                enc = self.seal_template(vec, person_id, model_version, tpl.kind)
            else:
                plain = Vector(vec)
            conn.execute(
                "INSERT INTO templates(person_id, sample_id, kind, model_version, dim, embedding_enc, embedding,"
                " quality, source, created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (person_id, sample_id, tpl.kind, model_version, len(vec), enc, plain, float(tpl.quality), source,
                 stamp))

    def model_versions(self) -> dict[str, int]:
        """Template counts per model version."""
        return {v: int(n) for v, n in self._rows("SELECT model_version, count(*) FROM templates GROUP BY 1")}

    def people_without(self, model_version: str) -> int:
        """People who have templates, but none of `model_version` (0 while offline: unknown, and
        nothing to warn about on a kiosk running from its local copy)."""
        if not self._online:
            return 0
        row = self._rows("SELECT count(DISTINCT person_id) FROM templates WHERE person_id NOT IN"
                         " (SELECT person_id FROM templates WHERE model_version=%s)", (model_version,))
        return int(row[0][0])

    def _fetch(self, conn: psycopg.Connection, model_version: str, person_ids: list[int] | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(template ids, person ids, kinds, matrix) of `model_version`, of some people or all.

        Built in one piece: decrypted templates (or pgvector's binary rows, read as raw bytes)
        are joined and viewed as one matrix, not made into a numpy array per row."""
        sql = ("SELECT id, person_id, kind, dim, embedding_enc, embedding FROM templates WHERE model_version=%s"
               + ("" if person_ids is None else " AND person_id = ANY(%s)") + " ORDER BY id")
        params: tuple[Any, ...] = (model_version,) if person_ids is None else (model_version, person_ids)
        with conn.cursor(binary=True) as cur:
            vector = conn.adapters.types.get("vector")
            if vector is not None:
                cur.adapters.register_loader(vector.oid, _RawBinary)
            rows = cur.execute(sql, params).fetchall()
        n = len(rows)
        tids = np.fromiter((r[0] for r in rows), np.int64, n)
        pids = np.fromiter((r[1] for r in rows), np.int64, n)
        kinds = np.array([r[2] for r in rows]) if rows else np.array([], dtype=str)
        if not rows:
            return tids, pids, kinds, np.zeros((0, 0), np.float32)
        dims = {r[3] for r in rows}
        if len(dims) != 1:
            raise GalleryError(f"{self.where}: templates of {model_version} have several lengths ({sorted(dims)})")
        dim = dims.pop()
        if all(r[4] is not None for r in rows):
            raw = b"".join(self._blobs.decrypt(r[4], self._aad("template", r[1], f"{model_version}|{r[2]}"))
                           for r in rows)
            matrix = np.frombuffer(raw, np.float32).reshape(n, dim).copy()
        elif all(r[4] is None for r in rows) and vector is not None:
            # pgvector's binary form: uint16 dim, uint16 unused, then dim big-endian float32.
            packed = np.frombuffer(b"".join(r[5] for r in rows), np.uint8).reshape(n, 4 + 4 * dim)
            matrix = packed[:, 4:].copy().view(">f4").astype(np.float32)
        else:
            matrix = np.vstack([self._open_template(r[4], r[5], r[1], model_version, r[2]) for r in rows])
        return tids, pids, kinds, matrix

    def templates(self, model_version: str) -> TemplateSet:
        """All templates made by `model_version`, kept in memory and brought up to date with
        only the people that changed since (any kiosk's writes, via the change feed). People
        whose row was changed outside face-kiosk (their MAC fails) are left out: never greeted.

        Refuses templates of other models only (ModelMismatchError). While the server is
        offline, the loaded matrix is returned as it is; a kiosk that started offline loads
        its local copy (kiosk.gallery.local_copy). Every sync that changed something is saved
        to that copy.
        """
        with self._lock:
            cached = self._cache.get(model_version)
            version = self._version
            if cached is not None and cached.version == version:
                return cached.templates
            if cached is not None and not self._online:
                return cached.templates
            try:
                with self._conn("loading the gallery") as conn, conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    fresh, changed = self._refresh(conn, model_version, cached)
                    settings = dict(conn.execute("SELECT key, value FROM settings").fetchall())
            except GalleryOfflineError:
                if cached is not None:
                    return cached.templates
                return self._from_local_copy(model_version, version)
            fresh.version = version
            self._cache[model_version] = fresh
            self.last_sync = now_iso()
            self._from_copy = ""
            self._save_local_copy(fresh, changed, settings)
            return fresh.templates

    def _from_local_copy(self, model_version: str, version: int) -> TemplateSet:
        loaded = self._local.load(model_version) if self._local is not None else None
        if loaded is None:
            raise self._offline_error("loading the gallery")
        self._cache[model_version] = _Cached(loaded.templates, version, loaded.seq, loaded.template_ids)
        return loaded.templates

    def _save_local_copy(self, fresh: _Cached, changed: list[int] | None, settings: dict[str, str]) -> None:
        """Bring the local copy up to date, on its own thread: a sync never waits for the file."""
        if self._local is None or (changed == [] and settings == self._saved_settings):
            return
        self._saved_settings = settings
        if self._copy_writer is None:
            self._copy_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gallery-local-copy")
        self._copy_writer.submit(self._write_local_copy, self._gallery_id, fresh, changed, settings)

    def _write_local_copy(self, gallery_id: str, fresh: _Cached, changed: list[int] | None,
                          settings: dict[str, str]) -> None:
        local = self._local
        if local is None:
            return
        try:
            local.save(gallery_id, fresh.seq, fresh.templates, fresh.template_ids, changed, settings)
        except Exception as exc:  # the kiosk still runs; it only could not keep its offline copy
            self._saved_settings = None  # write the settings again next time
            log.warning("%s: the local copy could not be saved (%s)", self.where, exc)

    def _names(self, conn: psycopg.Connection, ids: list[int] | None) -> tuple[dict[int, str], set[int]]:
        """(names of the people whose rows are intact, ids of those changed outside the app)."""
        where = "" if ids is None else " WHERE id = ANY(%s)"
        rows = conn.execute(f"SELECT {PERSON_CHECK_COLUMNS} FROM people{where}",  # noqa: S608 - fixed clause
                            () if ids is None else (ids,)).fetchall()
        names, edited = {}, set()
        for row in rows:
            if self.person_intact(row):
                names[int(row[0])] = str(row[2])
            else:
                edited.add(int(row[0]))
        if edited:
            log.warning("%s: %d people rows were changed outside face-kiosk; they are not recognised until an "
                        "admin checks and saves them (audit verify lists them)", self.where, len(edited))
        return names, edited

    def _refresh(self, conn: psycopg.Connection, model_version: str, cached: _Cached | None
                 ) -> tuple[_Cached, list[int] | None]:
        """The matrix brought up to date, and who changed ([]: nobody; None: everything)."""
        seq = int(one_row(conn.execute("SELECT coalesce(max(seq), 0) FROM gallery_changes"))[0])
        changed: list[int] | None = None
        if cached is not None:
            if seq == cached.seq:  # a visit or a setting: no face or name changed
                return _Cached(cached.templates, 0, seq, cached.template_ids), []
            low = one_row(conn.execute("SELECT min(seq) FROM gallery_changes"))[0]
            if low is not None and low <= cached.seq + 1:
                rows = conn.execute("SELECT DISTINCT person_id FROM gallery_changes WHERE seq > %s", (cached.seq,))
                changed = [int(r[0]) for r in rows.fetchall()]
                if len(changed) > _INCREMENTAL_MAX:
                    changed = None
        if changed is None:
            others = {v: int(n) for v, n in conn.execute(
                "SELECT model_version, count(*) FROM templates WHERE model_version != %s GROUP BY 1",
                (model_version,)).fetchall()}
            tids, pids, kinds, matrix = self._fetch(conn, model_version, None)
            if not len(tids) and others:
                raise ModelMismatchError(mismatch_message(self.where, others, model_version))
            names, edited = self._names(conn, None)
            tids, pids, kinds, matrix = _without(edited, tids, pids, kinds, matrix)
            return _Cached(TemplateSet(model_version, pids, kinds, matrix, names), 0, seq, tids), None
        assert cached is not None
        old = cached.templates
        gone = set(changed)
        names = {pid: name for pid, name in old.names.items() if pid not in gone}
        fresh_names, edited = self._names(conn, changed)
        names.update(fresh_names)
        keep = ~np.isin(old.person_ids, np.asarray(changed, np.int64))
        tids, pids, kinds, matrix = _without(edited, *self._fetch(conn, model_version, changed))
        if old.matrix.size and matrix.size:
            matrix = np.vstack([old.matrix[keep], matrix])
        elif old.matrix.size:
            matrix = old.matrix[keep]
        all_tids = np.concatenate([cached.template_ids[keep], tids])
        person_ids = np.concatenate([old.person_ids[keep], pids])
        all_kinds = np.concatenate([old.kinds[keep].astype(str), kinds.astype(str)])
        if not matrix.size:
            matrix = np.zeros((0, 0), np.float32)
        if len(all_tids) > 1 and not bool((all_tids[1:] > all_tids[:-1]).all()):  # not simply appended
            order = np.argsort(all_tids, kind="stable")  # the same row order as a full load
            person_ids, all_kinds, all_tids = person_ids[order], all_kinds[order], all_tids[order]
            matrix = matrix[order] if matrix.size else matrix
        return _Cached(TemplateSet(model_version, person_ids, all_kinds, matrix, names), 0, seq, all_tids), changed

    def changes_since(self, seq: int) -> tuple[int, list[int] | None]:
        """(the newest change number, the people changed after `seq`); None instead of the list
        when `seq` is too old to tell (the feed keeps 7 days): reload everything then."""
        rows = self._rows("SELECT coalesce(max(seq), 0), min(seq) FROM gallery_changes")
        newest, low = int(rows[0][0]), rows[0][1]
        if low is not None and low > seq + 1:
            return newest, None
        people = self._rows("SELECT DISTINCT person_id FROM gallery_changes WHERE seq > %s ORDER BY 1", (seq,))
        return newest, [int(r[0]) for r in people]

    def replace_templates(self, model_version: str, per_sample: dict[int, list[NewTemplate]],
                          crops: dict[int, np.ndarray] | None = None) -> None:
        """Swap in templates of `model_version` for the given samples (re-embedding), atomically."""
        stamp = now_iso()
        with self._transaction("re-embedding") as conn:
            for sample_id, crop in (crops or {}).items():
                pid = one_row(conn.execute("SELECT person_id FROM samples WHERE id=%s", (sample_id,)))[0]
                conn.execute("UPDATE samples SET face_png=%s WHERE id=%s", (self._seal_png(crop, "face", pid), sample_id))
            conn.execute("DELETE FROM templates WHERE model_version != %s", (model_version,))
            for sample_id, templates in per_sample.items():
                person_id, source = one_row(conn.execute("SELECT person_id, source FROM samples WHERE id=%s",
                                                      (sample_id,)))
                conn.execute("DELETE FROM templates WHERE sample_id=%s AND model_version=%s", (sample_id, model_version))
                self._insert_templates(conn, person_id, sample_id, source, templates, model_version, stamp)

    # -- search on the server (plaintext templates only) ----------------------------------

    def build_index(self, dim: int, *, m: int = 16, ef_construction: int = 64) -> None:
        """An HNSW index (cosine) over the `dim`-wide templates (only without template encryption)."""
        self._require_plain("an HNSW index")
        with self._conn("building the index") as conn:
            conn.execute(f"CREATE INDEX IF NOT EXISTS templates_hnsw_{int(dim)} ON templates USING hnsw"
                         f" ((embedding::vector({int(dim)})) vector_cosine_ops) WITH (m = {int(m)},"
                         f" ef_construction = {int(ef_construction)}) WHERE dim = {int(dim)}")

    def search(self, model_version: str, probe: np.ndarray, k: int = 5, *, exact: bool = False,
               ef_search: int = 40) -> list[tuple[int, float]]:
        """The `k` nearest templates as (person_id, cosine similarity), searched by pgvector.

        `exact` scans every row; otherwise the HNSW index is used when there is one."""
        self._require_plain("a search on the server")
        from pgvector import Vector

        vec = unit_vector(probe)
        dim = len(vec)
        with self._conn("searching") as conn, conn.transaction():
            if exact:
                conn.execute("SET LOCAL enable_indexscan = off")
            conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
            rows = conn.execute(
                f"SELECT person_id, 1 - (embedding::vector({dim}) <=> %s) FROM templates"
                f" WHERE dim = {dim} AND model_version = %s ORDER BY embedding::vector({dim}) <=> %s LIMIT %s",
                (Vector(vec), model_version, Vector(vec), int(k))).fetchall()
        return [(int(p), float(s)) for p, s in rows]

    def _require_plain(self, what: str) -> None:
        if self.templates_encrypted:
            raise GalleryError(f"{self.where}: templates are encrypted here, so {what} is not possible "
                               "(the in-memory matrix is used instead; see encrypt_templates)")
