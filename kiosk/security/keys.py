"""The gallery key: 32 random bytes that SQLCipher uses as its raw key, and where it lives.

Looked up in this order (the first that has a key wins):

1. ``FACE_KIOSK_GALLERY_KEY``: 64 hex characters, for headless starts (a container secret),
   or ``FACE_KIOSK_GALLERY_KEY_FILE``: a file holding them (a systemd credential,
   ``LoadCredential=``, kept apart from the service's state folder). Never written by us.
2. ``FACE_KIOSK_GALLERY_PASSPHRASE``: at least 10 characters, stretched with scrypt
   (n=2**17, r=8, p=1: ~0.4 s and 128 MiB here) and a per-gallery random salt. The salt is
   not secret; it lives NEXT to the gallery in ``<gallery>.keysalt`` (JSON: the KDF and its
   parameters, so they can be raised later) and must travel with it: without it the
   passphrase cannot open the gallery. Back it up with the gallery.
3. The OS keyring (``keyring``: macOS Keychain, Windows Credential Manager, Secret Service),
   service ``face-kiosk``, user name ``gallery:<resolved gallery path>``, when a real backend
   exists (``keyring.backends.fail.Keyring``, the null backend or a chainer without backends
   mean: none).
4. A key file, 0600, in its own 0700 folder (default ``<user config dir>/face-kiosk/keys/``,
   ``<gallery id>.key``, where the id is the first 32 hex digits of SHA-256 of the resolved
   gallery path). JSON: format, version, the gallery path (for humans), the key in hex.

A new key (``create=True`` and nothing found) goes to the keyring when there is one, else to
the key file. It is never made for a gallery file that is already encrypted (a new key could
not open it, and storing it would overwrite nothing useful but hide the real problem), nor
when a place that may hold the key could not be read (a locked keyring): both are errors.
Looking a key up never writes anything (no salt file, no keyring entry) unless `create`.
Entries are keyed by the gallery's resolved path: moving the gallery means storing its key
again under the new path (`store_key`), or setting the env var.

Why the key file lives in the config folder and not in ``<data dir>/keys``: on Linux that is
``~/.config/face-kiosk/keys`` while the gallery is in ``~/.local/share/face-kiosk``, so a
backup or copy of the data folder does not carry the key along. On Windows and macOS both
folders are under the same profile folder; the table below is about the Linux layout.

Each gallery has two slots: ``current`` and ``next``. A key change stores the new key in
``next`` before the file is rekeyed, so a crash in between never leaves a file whose key is
nowhere (see `kiosk.security.encrypted_gallery.rotate_key`).

What each place protects against (the gallery file is SQLCipher-encrypted in every case):

==================  ==============  ===============  ====================  ==================
key source          stolen disk or  another OS user  a backup copy of the  root / admin on
                    powered-off box  on the machine   data folder           the running box
==================  ==============  ===============  ====================  ==================
env key             yes, if the     yes (environ is  yes                   NO
                    secret is not   the process
                    on the disk     owner's)
passphrase          yes (a strong   yes              yes (the salt is not  NO
                    passphrase)                      a secret)
OS keyring          yes, when the   yes              yes                   NO
                    keyring is
                    locked by the
                    login password
key file            NO (same disk,  yes (0600 in a   yes if the backup     NO
                    unless full-    0700 folder)     leaves out the keys
                    disk encryption)                 folder (Linux: it is
                                                     outside the data dir)
==================  ==============  ===============  ====================  ==================

Nothing here protects against root or malware running as the kiosk user while the kiosk
runs: the key is in the process's memory. A kiosk that logs in automatically usually has an
unlocked (or no) keyring, which makes the keyring no better than the key file there.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import secrets
import stat
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import keyring
import keyring.backend
import keyring.errors
import platformdirs
from keyring.backends import chainer, fail

from kiosk.errors import KioskError
from kiosk.security.passphrases import MIN_PASSPHRASE_CHARS as MIN_PASSPHRASE_CHARS
from kiosk.security.passphrases import validate_new_passphrase as validate_new_passphrase
from kiosk.security.passphrases import validate_passphrase as validate_passphrase
from kiosk.security.private_files import atomic_write, ensure_private_dir, shred_file

log = logging.getLogger(__name__)

APP_NAME = "face-kiosk"  # the same as kiosk.config.APP_NAME (a test keeps them equal)
KEYRING_SERVICE = "face-kiosk"
ENV_KEY = "FACE_KIOSK_GALLERY_KEY"
ENV_PASSPHRASE = "FACE_KIOSK_GALLERY_PASSPHRASE"
# A file holding the 64 hex characters: a systemd credential (LoadCredential=, %d/gallery-key)
# or a root-owned file outside the service's state folder.
ENV_KEY_FILE = "FACE_KIOSK_GALLERY_KEY_FILE"
KEY_BYTES = 32
SALT_SUFFIX = ".keysalt"
# ~0.4 s and 128 MiB on the 2-core target: paid once per start, and what an attacker pays
# per guessed passphrase.
PASSPHRASE_SCRYPT = (2**17, 8, 1)  # n, r, p

KeySource = Literal["env", "passphrase", "keyring", "file"]
Slot = Literal["current", "next"]
_KEY_FORMAT = "face-kiosk-gallery-key"
_SALT_FORMAT = "face-kiosk-key-salt"


@dataclass(frozen=True)
class GalleryKey:
    """A gallery key and where it came from. The key itself never shows in repr or logs."""

    key: bytes = field(repr=False)
    source: KeySource
    location: str
    slot: Slot = "current"

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise KioskError(f"{self.location}: a gallery key has {KEY_BYTES} bytes, not {len(self.key)}")


def new_key() -> bytes:
    """32 bytes from the OS's CSPRNG."""
    return secrets.token_bytes(KEY_BYTES)


def gallery_ref(db_path: str | os.PathLike[str]) -> str:
    """The resolved, case-normalised path that names a gallery in the keyring."""
    return os.path.normcase(os.path.realpath(os.fspath(db_path)))


def gallery_id(db_path: str | os.PathLike[str]) -> str:
    """A file-name-safe id of a gallery: 32 hex digits of SHA-256 of `gallery_ref`."""
    return hashlib.sha256(gallery_ref(db_path).encode("utf-8")).hexdigest()[:32]


def default_keys_dir() -> Path:
    """Where key files go: outside the data folder on Linux (~/.config/face-kiosk/keys)."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "keys"


def salt_path(db_path: str | os.PathLike[str]) -> Path:
    """The non-secret passphrase salt file that lives next to the gallery."""
    db = Path(db_path)
    return db.with_name(db.name + SALT_SUFFIX)


def key_file_path(db_path: str | os.PathLike[str], keys_dir: Path | None = None, slot: Slot = "current") -> Path:
    """The key file of a gallery (whether or not it exists)."""
    suffix = ".key" if slot == "current" else ".next.key"
    return (keys_dir or default_keys_dir()) / f"{gallery_id(db_path)}{suffix}"


def usable_keyring() -> keyring.backend.KeyringBackend | None:
    """The configured keyring backend, or None when it cannot keep a secret."""
    if sys.platform != "darwin":
        # keyring's first look-up imports every backend it has; the macOS one loads the
        # Keychain's libraries at import through ctypes.util.find_library, which on Linux runs
        # ldconfig and gcc: 0.1-0.2 s of every start. That backend refuses any other system
        # (its priority raises) and skips its ctypes part when the import fails, so off macOS
        # the import fails at once. The backends keyring may pick here are all still looked at.
        sys.modules.setdefault("keyring.backends.macOS.api", None)  # type: ignore[arg-type]
    try:
        # keyring's first call finds its backends by importing them, and one keeps an
        # ImportError's traceback for good: with it every frame of the stack that made that call,
        # whatever they hold (in the soak tool: a whole face pipeline, 85 MB). From a worker
        # thread that stack is only the thread's own.
        with ThreadPoolExecutor(1, thread_name_prefix="face-kiosk-keyring") as pool:
            backend = pool.submit(keyring.get_keyring).result()
    except Exception as exc:  # a broken backend configuration must not stop the kiosk
        log.warning("keyring unavailable (%s)", exc)
        return None
    return backend if is_real_backend(backend) else None


def is_real_backend(backend: keyring.backend.KeyringBackend) -> bool:
    """False for keyring's "no backend" stand-ins: fail, null, an empty chainer."""
    if isinstance(backend, fail.Keyring):
        return False
    if type(backend).__module__ == "keyring.backends.null":
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return any(is_real_backend(b) for b in backend.backends)
    return True


def _username(db_path: str | os.PathLike[str], slot: Slot) -> str:
    name = f"gallery:{gallery_ref(db_path)}"
    return name if slot == "current" else name + "#next"


def _backend_name(backend: keyring.backend.KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _parse_hex(text: str, where: str) -> bytes:
    try:
        raw = binascii.unhexlify(text.strip())
    except (binascii.Error, ValueError):
        raise KioskError(f"{where}: not a gallery key ({KEY_BYTES * 2} hex characters)") from None
    if len(raw) != KEY_BYTES:
        raise KioskError(f"{where}: not a gallery key ({KEY_BYTES * 2} hex characters)")
    return raw


# -- looking up -------------------------------------------------------------------------------


def load_key(
    db_path: str | os.PathLike[str],
    *,
    create: bool,
    keys_dir: Path | None = None,
    slot: Slot = "current",
) -> GalleryKey:
    """The key of the gallery at `db_path` (see the module docstring for the order).

    With `create`, a missing key is made and stored (keyring, else key file) BEFORE it is
    returned, so no data is ever encrypted with a key that exists only in memory.
    """
    problems: list[str] = []
    found = candidate_keys(db_path, keys_dir=keys_dir, slots=(slot,), create=create, problems=problems)
    if found:
        return found[0]
    where = (f"not in {ENV_KEY}, {ENV_PASSPHRASE}, the OS keyring "
             f"or {key_file_path(db_path, keys_dir, slot)}")
    if not create:
        raise KioskError(f"{db_path}: no gallery key found ({where})")
    if problems:
        # The key may be in the place we could not read: a new key would hide it for good.
        raise KioskError(f"{db_path}: cannot look the gallery key up ({problems[0]}); nothing was changed")
    if not _is_plaintext_or_empty(Path(db_path)):
        raise KioskError(
            f"{db_path}: an encrypted gallery whose key is missing ({where}); "
            "a new key cannot open it: restore the key, or set it in the environment"
        )
    return store_key(db_path, new_key(), keys_dir=keys_dir, slot=slot)


def candidate_keys(
    db_path: str | os.PathLike[str],
    *,
    keys_dir: Path | None = None,
    slots: tuple[Slot, ...] = ("current", "next"),
    create: bool = False,
    problems: list[str] | None = None,
) -> list[GalleryKey]:
    """Every key stored for this gallery, best first (env, passphrase, keyring, file).

    An env key or passphrase is the operator's explicit choice: when set, it is the only
    candidate. Used to open a gallery whose key change was interrupted (the `next` slot).
    `create` only lets a passphrase make its salt file (for a gallery not encrypted yet).
    A keyring that fails to answer is logged and skipped; its error goes to `problems`.
    """
    from_env = _key_from_env(db_path, create=create)
    if from_env is not None:
        return [from_env]
    found: list[GalleryKey] = []
    backend = usable_keyring()
    for slot in slots:
        if backend is not None:
            user = _username(db_path, slot)
            where = f"keyring {_backend_name(backend)}: {KEYRING_SERVICE}/{user}"
            try:
                secret = backend.get_password(KEYRING_SERVICE, user)
            except Exception as exc:  # keyring backends raise their own types (D-Bus, Win32...)
                log.warning("%s: cannot read (%s)", where, exc)
                if problems is not None:
                    problems.append(f"{where}: {exc or type(exc).__name__}")
                secret = None
            if secret:
                found.append(GalleryKey(_parse_hex(secret, where), "keyring", where, slot))
        from_file = _read_key_file(key_file_path(db_path, keys_dir, slot), db_path, slot)
        if from_file is not None:
            found.append(from_file)
    unique: list[GalleryKey] = []
    for item in found:
        if all(item.key != u.key for u in unique):
            unique.append(item)
    return unique


def _key_from_env(db_path: str | os.PathLike[str], *, create: bool) -> GalleryKey | None:
    hex_key = os.environ.get(ENV_KEY)
    key_file = os.environ.get(ENV_KEY_FILE)
    passphrase = os.environ.get(ENV_PASSPHRASE)
    if sum(map(bool, (hex_key, key_file, passphrase))) > 1:
        raise KioskError(f"set only one of {ENV_KEY}, {ENV_KEY_FILE} and {ENV_PASSPHRASE}")
    if hex_key:
        return GalleryKey(_parse_hex(hex_key, ENV_KEY), "env", ENV_KEY)
    if key_file:
        try:
            with open(key_file, "rb") as f:
                text = f.read(4096).decode("ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise KioskError(f"{ENV_KEY_FILE}={key_file}: cannot read the gallery key "
                             f"({getattr(exc, 'strerror', None) or exc})") from None
        return GalleryKey(_parse_hex(text, key_file), "env", key_file)
    if passphrase:
        return passphrase_key(db_path, passphrase, create=create)
    return None


@dataclass(frozen=True)
class _Salt:
    """The contents of a `<gallery>.keysalt` file."""

    n: int
    r: int
    p: int
    salt: bytes = field(repr=False)


def passphrase_key(db_path: str | os.PathLike[str], passphrase: str, *, create: bool) -> GalleryKey:
    """The key derived from `passphrase` and the gallery's salt file.

    With `create`, a missing salt file is made, but only for a gallery that is not
    encrypted yet (a new salt for an existing encrypted gallery could never open it).
    """
    normal = validate_passphrase(passphrase)
    path = salt_path(db_path)
    salt = _read_salt(path)
    if salt is None:
        if not create or not _is_plaintext_or_empty(Path(db_path)):
            raise KioskError(
                f"{path}: missing; the passphrase cannot open the gallery without this file "
                "(restore it from the gallery's backup)"
            )
        validate_new_passphrase(passphrase)  # a new gallery's passphrase is being chosen
        salt = _Salt(*PASSPHRASE_SCRYPT, secrets.token_bytes(16))
        record = {
            "format": _SALT_FORMAT, "version": 1, "kdf": "scrypt", "n": salt.n, "r": salt.r,
            "p": salt.p, "salt": base64.b64encode(salt.salt).decode("ascii"),
        }
        atomic_write(path, json.dumps(record, indent=2) + "\n", overwrite=False)
    key = hashlib.scrypt(
        normal.encode("utf-8"), salt=salt.salt, n=salt.n, r=salt.r, p=salt.p,
        dklen=KEY_BYTES, maxmem=256 * salt.n * salt.r + (1 << 20),
    )
    return GalleryKey(key, "passphrase", f"{ENV_PASSPHRASE} + {path}")


def _is_plaintext_or_empty(db: Path) -> bool:
    """True for a missing, empty or plaintext SQLite file: one a new salt may be made for."""
    try:
        with open(db, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        return True
    return head == b"" or head == b"SQLite format 3\x00"


def _read_salt(path: Path) -> _Salt | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a face-kiosk salt file")
        if data.get("format") != _SALT_FORMAT or data.get("kdf") != "scrypt":
            raise ValueError("not a face-kiosk salt file")
        n, r, p = int(data["n"]), int(data["r"]), int(data["p"])
        # Bounds: a doctored file must not make us allocate gigabytes.
        # 128*n*r bytes is scrypt's memory: at most 512 MiB, whatever the file says.
        if not (2**14 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 4
                and 128 * n * r <= 512 << 20):
            raise ValueError("scrypt parameters out of range")
        salt = base64.b64decode(data["salt"], validate=True)
        if len(salt) < 16:
            raise ValueError("salt too short")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise KioskError(f"{path}: damaged passphrase salt file ({exc})") from None
    return _Salt(n, r, p, salt)


def _read_key_file(path: Path, db_path: str | os.PathLike[str], slot: Slot) -> GalleryKey | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise KioskError(f"{path}: not a regular file; refusing to read a key through it")
    if os.name == "posix" and stat.S_IMODE(st.st_mode) & 0o077:
        # Like ssh with a private key: a key others could read may already be someone else's.
        raise KioskError(
            f"{path}: readable by other users (mode {stat.S_IMODE(st.st_mode):o}); "
            "chmod 600 it, and consider a new key (face-kiosk gallery rekey)"
        )
    try:
        # O_NOFOLLOW: the lstat above and the read must be about the same file.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read(64 * 1024).decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a face-kiosk key file")
        if data.get("format") != _KEY_FORMAT:
            raise ValueError("not a face-kiosk key file")
        text = str(data["key"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KioskError(f"{path}: damaged key file ({exc})") from None
    if data.get("gallery") not in (None, gallery_ref(db_path)):
        raise KioskError(f"{path}: this key file belongs to {data.get('gallery')}")
    return GalleryKey(_parse_hex(text, str(path)), "file", str(path), slot)


def find_moved_key(
    db_path: str | os.PathLike[str], opens: Callable[[bytes], bool], *, keys_dir: Path | None = None
) -> GalleryKey | None:
    """The key of a gallery that was moved or copied to `db_path` (its key is stored under the
    path it had): the first key file in the key folder for which `opens(key)` is true (the
    file decrypts with it; a plaintext gallery's audit head verifies with it). It is then
    stored under the new path too, so the next open finds it at once. None when no key opens
    it. Keyring entries cannot be listed: a key kept there is not found this way."""
    folder = keys_dir or default_keys_dir()
    try:
        names = sorted(p for p in folder.glob("*.key") if not p.name.startswith("site-"))
    except OSError:
        return None
    for path in names:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            key = _parse_hex(str(data["key"]), str(path)) if data.get("format") == _KEY_FORMAT else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError, KioskError):
            continue
        if key is not None and opens(key):
            log.info("%s: its key was found in %s (the gallery was moved or copied)", db_path, path)
            return store_key(db_path, key, where="file", keys_dir=keys_dir)
    return None


# -- storing and deleting -----------------------------------------------------------------------


def store_key(
    db_path: str | os.PathLike[str],
    key: bytes,
    *,
    where: Literal["keyring", "file"] | None = None,
    keys_dir: Path | None = None,
    slot: Slot = "current",
) -> GalleryKey:
    """Store `key` for the gallery (replacing what that slot held); returns where it went.

    `where=None`: the keyring when there is one (checked by reading it back), else the key
    file. An explicit `where="keyring"` without a keyring is an error.
    """
    if len(key) != KEY_BYTES:
        raise KioskError(f"a gallery key has {KEY_BYTES} bytes, not {len(key)}")
    if where in (None, "keyring"):
        backend = usable_keyring()
        if backend is not None:
            user = _username(db_path, slot)
            location = f"keyring {_backend_name(backend)}: {KEYRING_SERVICE}/{user}"
            try:
                backend.set_password(KEYRING_SERVICE, user, key.hex())
                # Some backends accept a write they cannot keep (a locked collection...).
                if backend.get_password(KEYRING_SERVICE, user) == key.hex():
                    return GalleryKey(key, "keyring", location, slot)
                problem = "the stored key did not read back"
            except Exception as exc:  # any backend failure: fall back to the key file
                problem = str(exc) or type(exc).__name__
            if where == "keyring":
                raise KioskError(f"{location}: cannot store the gallery key ({problem})")
            log.warning("%s: cannot store the gallery key (%s); using a key file", location, problem)
        elif where == "keyring":
            raise KioskError("no OS keyring is available here; store the key in a key file")
    path = key_file_path(db_path, keys_dir, slot)
    ensure_private_dir(path.parent)
    record = {"format": _KEY_FORMAT, "version": 1, "gallery": gallery_ref(db_path), "key": key.hex()}
    atomic_write(path, json.dumps(record, indent=2) + "\n", overwrite=True)
    return GalleryKey(key, "file", str(path), slot)


def delete_key(
    db_path: str | os.PathLike[str], *, keys_dir: Path | None = None, slot: Slot = "current"
) -> list[str]:
    """Remove the slot's key from the keyring and the key file (overwritten first, best
    effort); returns the places it was removed from. Env keys and passphrases are not ours to
    delete. Deleting the only key of an encrypted gallery destroys its data: that is what
    `erase` of a whole gallery wants, nothing else does."""
    removed: list[str] = []
    backend = usable_keyring()
    if backend is not None:
        user = _username(db_path, slot)
        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            backend.delete_password(KEYRING_SERVICE, user)
            removed.append(f"keyring {_backend_name(backend)}: {KEYRING_SERVICE}/{user}")
    path = key_file_path(db_path, keys_dir, slot)
    if path.exists():
        shred_file(path)
        removed.append(str(path))
    return removed
