"""Keys and the encrypted file together, in the order that never loses a key or a gallery.

The rule behind every function here: a key is stored (keyring or key file) BEFORE any data
is encrypted with it, and the old key is dropped only AFTER the file is verified with the
new one. A crash at any point leaves a gallery that `open_gallery` can open.

API (all take the gallery path; `keys_dir` only moves the key-file folder, for tests):

- ``open_gallery(path, *, create=False) -> (connection, GalleryKey)``: find the key, open
  and verify. The connection is autocommit (``isolation_level=None``) and typed as
  ``sqlite3.Connection`` (it is a ``sqlcipher3`` one: catch ``sqlcipher.DB_ERRORS``).
- ``migrate_to_encrypted(path) -> GalleryKey``: plaintext gallery -> encrypted, in place.
- ``rotate_key(path) -> GalleryKey``: a new random key (keyring/file keys only).
- ``crypto_erase(path) -> list[str]``: the whole gallery: files overwritten and removed,
  keys deleted.

All but `open_gallery` need the gallery to themselves (kiosk stopped); they refuse with
`sqlcipher.GalleryBusyError` otherwise. `crypto_erase` cannot tell: stop the kiosk first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from kiosk.errors import GalleryError
from kiosk.security.keys import (
    GalleryKey,
    Slot,
    candidate_keys,
    delete_key,
    find_moved_key,
    load_key,
    new_key,
    salt_path,
    store_key,
)
from kiosk.security.private_files import gallery_files, shred_file
from kiosk.security.sqlcipher import (
    Connection,
    GalleryBusyError,
    connect_encrypted,
    encrypt_in_place,
    is_plaintext_sqlite,
    rekey,
)


def open_gallery(
    db_path: str | os.PathLike[str], *, create: bool = False, keys_dir: Path | None = None
) -> tuple[Connection, GalleryKey]:
    """Find the gallery's key and open it; returns the connection and the key used.

    A new gallery (`create`, no file or an empty one) gets a new key, stored first. An
    existing one is tried with every stored key (current slot, then next): if only the key
    of an interrupted key change opens it, that key is promoted to current.
    """
    db = Path(db_path)
    if is_plaintext_sqlite(db):
        raise GalleryError(f"{db}: not encrypted (a plaintext SQLite gallery); encrypt it first")
    if not db.exists() or db.stat().st_size == 0:
        if not create:
            raise GalleryError(f"{db}: no gallery there")
        key = load_key(db, create=True, keys_dir=keys_dir)
        return connect_encrypted(db, key.key, create=True), key
    tried: list[str] = []
    for candidate in candidate_keys(db, keys_dir=keys_dir):
        try:
            conn = connect_encrypted(db, candidate.key)
        except GalleryBusyError:
            raise
        except GalleryError:
            tried.append(candidate.location)
            continue
        if candidate.slot == "next":
            # The file was rekeyed but the new key never reached the current slot.
            promoted = store_key(db, candidate.key, where=_backend_of(candidate), keys_dir=keys_dir)
            delete_key(db, keys_dir=keys_dir, slot="next")
            candidate = promoted
        return conn, candidate
    if not tried:
        moved = find_moved_key(db, lambda key: _opens(db, key), keys_dir=keys_dir)
        if moved is not None:
            return connect_encrypted(db, moved.key), moved
        raise GalleryError(f"{db}: no key for this gallery (keyring, key file or environment)")
    raise GalleryError(f"{db}: wrong key, or not an encrypted face-kiosk gallery (tried {', '.join(tried)})")


def _opens(db: Path, key: bytes) -> bool:
    try:
        connect_encrypted(db, key).close()
    except GalleryBusyError:
        raise
    except GalleryError:
        return False
    return True


def migrate_to_encrypted(db_path: str | os.PathLike[str], *, keys_dir: Path | None = None) -> GalleryKey:
    """Encrypt a plaintext gallery in place (kiosk stopped); returns its new key's record.

    1. `load_key(create=True)`: the key is stored before use (re-running after a failure
       reuses it). 2. `encrypt_in_place`: export, verify, replace, overwrite the plaintext.
    3. Open once with the stored key, to prove the whole chain.
    """
    db = Path(db_path)
    if not is_plaintext_sqlite(db):
        raise GalleryError(f"{db}: not a plaintext SQLite gallery (already encrypted?)")
    key = load_key(db, create=True, keys_dir=keys_dir)
    encrypt_in_place(db, key.key)
    conn, used = open_gallery(db, keys_dir=keys_dir)
    conn.close()
    return used


def rotate_key(db_path: str | os.PathLike[str], *, keys_dir: Path | None = None,
               within: Callable[[Connection, bytes, bytes], None] | None = None) -> GalleryKey:
    """Give the gallery a new random key (kiosk stopped); returns the new key's record.

    Order: new key -> `next` slot; PRAGMA rekey + verify; new key -> `current` slot; drop
    `next`. Keys from the environment or a passphrase are the operator's: change those with
    `sqlcipher.rekey` and the new value. `within(conn, old, new)` re-seals what the old key
    sealed, in the rekey's own transaction (`sqlcipher.rekey`).
    """
    db = Path(db_path)
    conn, current = open_gallery(db, keys_dir=keys_dir)
    conn.close()
    if current.source in ("env", "passphrase"):
        raise GalleryError(
            f"{db}: the key comes from {current.location}; change it there (rekey with the new value)"
        )
    where = _backend_of(current)
    fresh = new_key()
    store_key(db, fresh, where=where, keys_dir=keys_dir, slot="next")
    rekey(db, current.key, fresh, within)
    stored = store_key(db, fresh, where=where, keys_dir=keys_dir)
    delete_key(db, keys_dir=keys_dir, slot="next")
    return stored


def crypto_erase(db_path: str | os.PathLike[str], *, keys_dir: Path | None = None) -> list[str]:
    """Erase a whole gallery: overwrite and delete its files, then delete its keys.

    Deleting the key is what really erases: every copy of the encrypted file that survives
    elsewhere (a backup, SSD blocks, a snapshot) becomes unreadable. An env key or a
    passphrase is not ours to forget; the salt file next to the gallery is deleted, which
    makes a passphrase useless for any leftover copy that lacks its own salt file.
    Returns what was removed.
    """
    db = Path(db_path)
    removed: list[str] = []
    for path in (*gallery_files(db), salt_path(db)):
        if path.exists():
            shred_file(path)
            removed.append(str(path))
    slots: tuple[Slot, ...] = ("current", "next")
    for slot in slots:
        removed += delete_key(db, keys_dir=keys_dir, slot=slot)
    return removed


def _backend_of(key: GalleryKey) -> Literal["keyring", "file"]:
    """Where a stored key lives, so its successor goes to the same place."""
    return "keyring" if key.source == "keyring" else "file"
