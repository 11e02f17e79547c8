"""The gallery key: env, passphrase, keyring and key file, and the encrypted-gallery glue.

Every test runs against an isolated keyring chosen through PYTHON_KEYRING_BACKEND (the
classes below), never the machine's real one, and with its config folder in tmp_path.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import ClassVar

import keyring
import keyring.backend
import keyring.core
import keyring.errors
import pytest
from keyring.backends import chainer

from kiosk.errors import GalleryError, KioskError
from kiosk.security import keys
from kiosk.security.encrypted_gallery import (
    crypto_erase,
    migrate_to_encrypted,
    open_gallery,
    rotate_key,
)
from kiosk.security.keys import ENV_KEY, ENV_PASSPHRASE, GalleryKey, delete_key, load_key, store_key
from kiosk.security.sqlcipher import connect_encrypted, is_plaintext_sqlite, rekey

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX modes")


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring in a dict: what the tests use instead of the OS's."""

    priority = 1  # type: ignore[assignment]
    entries: ClassVar[dict[tuple[str, str], str]] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class LockedKeyring(MemoryKeyring):
    """A keyring that exists but cannot be read (a locked collection, D-Bus gone)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("the collection is locked")


class ForgetfulKeyring(MemoryKeyring):
    """Accepts writes it does not keep."""

    def set_password(self, service: str, username: str, password: str) -> None:
        pass


class EmptyChainer(chainer.ChainerBackend):
    """keyring's chainer when no backend is available."""

    priority = 1  # type: ignore[assignment]

    @property
    def backends(self) -> list[keyring.backend.KeyringBackend]:  # type: ignore[override]
        return []


def use_keyring(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Select a keyring backend the documented way (PYTHON_KEYRING_BACKEND)."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", name)
    # monkeypatch restores keyring's process-wide choice after the test.
    monkeypatch.setattr(keyring.core, "_keyring_backend", None, raising=False)
    keyring.core.init_backend()


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Memory keyring, no key in the environment, config dir inside tmp_path."""
    MemoryKeyring.entries = {}
    use_keyring(monkeypatch, f"{__name__}.MemoryKeyring")
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_PASSPHRASE, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert isinstance(keyring.get_keyring(), MemoryKeyring)


@pytest.fixture
def gallery(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder / "gallery.db"


@pytest.fixture
def keys_dir(tmp_path) -> Path:
    return tmp_path / "config" / "face-kiosk" / "keys"


def make_plain_gallery(path: Path, names=("Zephyrine Quackenbush", "Bob")) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    conn.execute("CREATE TABLE templates (id INTEGER PRIMARY KEY, person_id INTEGER, embedding BLOB)")
    for name in names:
        pid = conn.execute("INSERT INTO people(name) VALUES (?)", (name,)).lastrowid
        conn.execute("INSERT INTO templates(person_id, embedding) VALUES (?, ?)", (pid, b"\x01" * 2048))
    conn.close()


def test_the_key_never_shows_in_repr(gallery, keys_dir):
    found = load_key(gallery, create=True, keys_dir=keys_dir)
    assert found.key.hex() not in repr(found) and found.key.hex() not in str(found)
    with pytest.raises(KioskError, match="32 bytes"):
        GalleryKey(b"short", "env", "test")


# -- environment ---------------------------------------------------------------------------------


def test_env_key_wins_and_is_never_written(gallery, keys_dir, monkeypatch):
    monkeypatch.setenv(ENV_KEY, "ab" * 32)
    found = load_key(gallery, create=True, keys_dir=keys_dir)
    assert (found.key, found.source) == (bytes.fromhex("ab" * 32), "env")
    assert not keys_dir.exists() and MemoryKeyring.entries == {}


@pytest.mark.parametrize("value", ["abc", "zz" * 32, "ab" * 31])
def test_env_key_must_be_64_hex(gallery, monkeypatch, value):
    monkeypatch.setenv(ENV_KEY, value)
    with pytest.raises(KioskError, match="64 hex"):
        load_key(gallery, create=False)


def test_env_key_and_passphrase_together_are_refused(gallery, monkeypatch):
    monkeypatch.setenv(ENV_KEY, "ab" * 32)
    monkeypatch.setenv(ENV_PASSPHRASE, "correct horse battery")
    with pytest.raises(KioskError, match="only one"):
        load_key(gallery, create=True)


def test_passphrase_salt_lives_next_to_the_gallery(gallery, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_PASSPHRASE, "correct horse battery")
    salt = keys.salt_path(gallery)
    with pytest.raises(KioskError, match="missing"):
        load_key(gallery, create=False)
    assert not salt.exists()  # a lookup writes nothing
    first = load_key(gallery, create=True)
    assert first.source == "passphrase" and salt.exists()
    assert load_key(gallery, create=False).key == first.key  # same salt, same key
    other = tmp_path / "data" / "other.db"
    assert load_key(other, create=True).key != first.key  # a salt per gallery
    monkeypatch.setenv(ENV_PASSPHRASE, "correct horse battery!")
    assert load_key(gallery, create=False).key != first.key


def test_passphrase_needs_10_characters(gallery, monkeypatch):
    monkeypatch.setenv(ENV_PASSPHRASE, "123456789")
    with pytest.raises(KioskError, match="at least 10"):
        load_key(gallery, create=True)


def test_no_new_salt_for_an_encrypted_gallery(gallery, monkeypatch):
    conn = connect_encrypted(gallery, os.urandom(32), create=True)
    conn.execute("CREATE TABLE t (a)")
    conn.close()
    monkeypatch.setenv(ENV_PASSPHRASE, "correct horse battery")
    with pytest.raises(KioskError, match="restore it"):
        load_key(gallery, create=True)
    assert not keys.salt_path(gallery).exists()


def test_a_doctored_salt_file_cannot_ask_for_gigabytes(gallery, monkeypatch):
    keys.salt_path(gallery).write_text(
        '{"format": "face-kiosk-key-salt", "kdf": "scrypt", "n": 1048576, "r": 32, "p": 1,'
        ' "salt": "AAAAAAAAAAAAAAAAAAAAAA=="}'
    )
    monkeypatch.setenv(ENV_PASSPHRASE, "correct horse battery")
    with pytest.raises(KioskError, match="out of range"):
        load_key(gallery, create=False)


# -- keyring -------------------------------------------------------------------------------------


def test_new_key_goes_to_the_keyring_one_entry_per_gallery(gallery, keys_dir, tmp_path):
    first = load_key(gallery, create=True, keys_dir=keys_dir)
    assert first.source == "keyring" and "face-kiosk" in first.location
    assert not keys_dir.exists()
    assert load_key(gallery, create=False, keys_dir=keys_dir).key == first.key
    other = load_key(tmp_path / "data" / "b.db", create=True, keys_dir=keys_dir)
    assert other.key != first.key
    assert {s for s, _ in MemoryKeyring.entries} == {"face-kiosk"} and len(MemoryKeyring.entries) == 2
    assert delete_key(gallery, keys_dir=keys_dir)
    with pytest.raises(KioskError, match="no gallery key"):
        load_key(gallery, create=False, keys_dir=keys_dir)


@posix_only
@pytest.mark.parametrize("backend", ["keyring.backends.fail.Keyring", f"{__name__}.EmptyChainer",
                                     f"{__name__}.ForgetfulKeyring"])
def test_without_a_real_keyring_the_key_goes_to_a_private_file(gallery, keys_dir, monkeypatch, backend):
    use_keyring(monkeypatch, backend)
    found = load_key(gallery, create=True, keys_dir=keys_dir)
    assert found.source == "file"
    path = Path(found.location)
    assert path.parent == keys_dir and path.name == f"{keys.gallery_id(gallery)}.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert found.key.hex() in path.read_text()
    assert load_key(gallery, create=False, keys_dir=keys_dir).key == found.key


@posix_only
def test_a_key_file_others_can_read_or_a_symlink_is_refused(gallery, keys_dir, monkeypatch, tmp_path):
    use_keyring(monkeypatch, "keyring.backends.fail.Keyring")
    path = Path(load_key(gallery, create=True, keys_dir=keys_dir).location)
    os.chmod(path, 0o644)
    with pytest.raises(KioskError, match="readable by other users"):
        load_key(gallery, create=False, keys_dir=keys_dir)
    os.chmod(path, 0o600)
    moved = tmp_path / "moved.key"
    path.rename(moved)
    path.symlink_to(moved)
    with pytest.raises(KioskError, match="not a regular file"):
        load_key(gallery, create=False, keys_dir=keys_dir)


def test_a_key_file_of_another_gallery_is_refused(gallery, keys_dir, monkeypatch, tmp_path):
    use_keyring(monkeypatch, "keyring.backends.fail.Keyring")
    other = tmp_path / "data" / "other.db"
    path = Path(load_key(other, create=True, keys_dir=keys_dir).location)
    path.rename(keys.key_file_path(gallery, keys_dir))
    with pytest.raises(KioskError, match="belongs to"):
        load_key(gallery, create=False, keys_dir=keys_dir)


def test_a_locked_keyring_never_gets_a_new_key_over_the_old_one(gallery, keys_dir, monkeypatch):
    use_keyring(monkeypatch, f"{__name__}.LockedKeyring")
    with pytest.raises(KioskError, match="cannot look the gallery key up.*locked"):
        load_key(gallery, create=True, keys_dir=keys_dir)
    assert MemoryKeyring.entries == {} and not keys_dir.exists()


def test_an_encrypted_gallery_without_its_key_gets_no_new_key(gallery, keys_dir):
    conn = connect_encrypted(gallery, os.urandom(32), create=True)
    conn.execute("CREATE TABLE t (a)")
    conn.close()
    with pytest.raises(KioskError, match="encrypted gallery whose key is missing"):
        load_key(gallery, create=True, keys_dir=keys_dir)
    assert MemoryKeyring.entries == {}


# -- the encrypted gallery ---------------------------------------------------------------------------


def test_open_gallery_creates_stores_and_reopens(gallery, keys_dir):
    conn, key = open_gallery(gallery, create=True, keys_dir=keys_dir)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.execute("INSERT INTO people VALUES ('Zephyrine Quackenbush')")
    conn.close()
    assert key.source == "keyring"
    again, same = open_gallery(gallery, keys_dir=keys_dir)
    assert same.key == key.key
    assert again.execute("SELECT name FROM people").fetchall() == [("Zephyrine Quackenbush",)]
    again.close()
    with pytest.raises(GalleryError, match="no gallery there"):
        open_gallery(gallery.with_name("missing.db"), keys_dir=keys_dir)


def test_open_gallery_refuses_a_plaintext_gallery(gallery, keys_dir):
    make_plain_gallery(gallery)
    with pytest.raises(GalleryError, match="encrypt it first"):
        open_gallery(gallery, keys_dir=keys_dir)


def test_open_gallery_with_a_wrong_stored_key(gallery, keys_dir):
    open_gallery(gallery, create=True, keys_dir=keys_dir)[0].close()
    store_key(gallery, os.urandom(32), keys_dir=keys_dir)
    with pytest.raises(GalleryError, match="wrong key, or not an encrypted face-kiosk gallery"):
        open_gallery(gallery, keys_dir=keys_dir)


def test_migrate_a_plaintext_gallery(gallery, keys_dir):
    make_plain_gallery(gallery)
    key = migrate_to_encrypted(gallery, keys_dir=keys_dir)
    assert not is_plaintext_sqlite(gallery)
    for path in gallery.parent.iterdir():
        assert b"Zephyrine" not in path.read_bytes(), path
    conn, used = open_gallery(gallery, keys_dir=keys_dir)
    assert used.key == key.key
    assert conn.execute("SELECT count(*) FROM people").fetchone() == (2,)
    conn.close()


def test_rotate_key_and_recover_an_interrupted_rotation(gallery, keys_dir):
    make_plain_gallery(gallery)
    old = migrate_to_encrypted(gallery, keys_dir=keys_dir)
    new = rotate_key(gallery, keys_dir=keys_dir)
    assert new.key != old.key
    with pytest.raises(GalleryError, match="wrong key"):
        connect_encrypted(gallery, old.key)
    # A crash after the file was rekeyed but before the new key reached the current slot:
    fresh = os.urandom(32)
    store_key(gallery, fresh, keys_dir=keys_dir, slot="next")
    rekey(gallery, new.key, fresh)
    conn, used = open_gallery(gallery, keys_dir=keys_dir)
    conn.close()
    assert used.key == fresh and used.slot == "current"
    assert load_key(gallery, create=False, keys_dir=keys_dir).key == fresh
    with pytest.raises(KioskError):
        load_key(gallery, create=False, keys_dir=keys_dir, slot="next")


def test_crypto_erase_removes_files_and_keys(gallery, keys_dir):
    conn, _ = open_gallery(gallery, create=True, keys_dir=keys_dir)
    conn.execute("CREATE TABLE t (a)")
    conn.close()
    removed = crypto_erase(gallery, keys_dir=keys_dir)
    assert str(gallery) in removed and any("keyring" in r for r in removed)
    assert list(gallery.parent.iterdir()) == []
    assert MemoryKeyring.entries == {}


def test_keyring_lookup_keeps_nothing_of_its_caller_alive() -> None:
    """keyring's first lookup imports its backends and one keeps an ImportError's traceback for
    good; made from the caller's own stack, that kept the caller's locals (the soak tool's whole
    face pipeline). In a fresh process, since the lookup happens once per process."""
    import subprocess
    import sys

    code = (
        "import gc, weakref\n"
        "from kiosk.security.keys import usable_keyring\n"
        "class Big: pass\n"
        "def caller():\n"
        "    big = Big()\n"
        "    usable_keyring()\n"
        "    return weakref.ref(big)\n"
        "ref = caller(); gc.collect()\n"
        "print('alive' if ref() is not None else 'freed')\n"
    )
    # keyring's own detection, as on a kiosk: not the backend the suite pins (conftest).
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env=env)
    assert out.stdout.strip() == "freed", out.stderr
