"""The site key: 32 random bytes shared by the kiosks of one site, for a gallery on a server.

A gallery on PostgreSQL is read by every kiosk of the site and administered by a DBA who
should not be able to see faces. So crops and templates are encrypted on the kiosk, before
they leave it, with a key the server never holds (`BlobCipher`: AES-256-GCM). The same key
MACs the gallery's audit log and the PIN lockout (the role the gallery key plays for SQLite).

Looked up in this order (the first that has a key wins):

1. ``FACE_KIOSK_SITE_KEY``: 64 hex characters (headless kiosks: a systemd credential, a
   container secret). Never written anywhere by us.
2. The OS keyring, service ``face-kiosk``, user ``site:<gallery id>``.
3. A key file, 0600, ``<keys dir>/site-<gallery id>.key`` (the same folder as the gallery key files).

The gallery id is made when the gallery is created and stored in it (`meta.gallery_id`), so
the key is found whatever the URL's spelling (another role, `localhost` or `127.0.0.1`).
Galleries from before schema 6 had their key named by `user@host:port/db`: that name is still
read (`legacy_ref`). A new key is made only for a new, empty gallery (`create=True`), stored
before it is used, and announced once (`GalleryKey.created`: where it is, what losing it
means). Every other kiosk of the site needs the same key: `face-kiosk gallery key export` on
the first kiosk writes it to a passphrase-protected file, `gallery key import` on the next one
stores it (`export_site_key`, `import_site_key`); or set the variable. The gallery keeps a
check value of the key (`key_check`), never the key, so a kiosk with the wrong key is told so
instead of writing rows nobody else can read. `gallery rekey` keeps the next key in the
"next" slot while it re-seals the gallery, then promotes it (`store_site_key`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.errors import KioskError
from kiosk.security.keys import (
    KEY_BYTES,
    KEYRING_SERVICE,
    GalleryKey,
    default_keys_dir,
    usable_keyring,
)
from kiosk.security.private_files import atomic_write, ensure_private_dir

log = logging.getLogger(__name__)

ENV_SITE_KEY = "FACE_KIOSK_SITE_KEY"
_FORMAT = "face-kiosk site key"
_EXPORT_FORMAT = "face-kiosk site key export"
_BLOB_VERSION = b"\x01"
_NONCE = 12
SiteSlot = Literal["current", "next"]


@dataclass(frozen=True)
class SiteKey(GalleryKey):
    """A site key and where it is; `created` when it was made just now (announce it once)."""

    created: bool = False


def _parse(text: str, where: str) -> bytes:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KioskError(f"{where}: not a site key ({KEY_BYTES * 2} hex characters)")
    return raw


def legacy_site_key_path(ref: str, keys_dir: Path | None = None) -> Path:
    """The key file's name before schema 6 (a hash of `user@host:port/db`), still read."""
    digest = hashlib.sha256(ref.encode("utf-8")).hexdigest()[:32]
    return (keys_dir or default_keys_dir()) / f"site-{digest}.key"


def site_key_path(gallery_id: str, keys_dir: Path | None = None, slot: SiteSlot = "current") -> Path:
    """The key file of the site gallery `gallery_id` (whether or not it exists)."""
    safe = "".join(c for c in gallery_id if c.isalnum())[:64]
    return (keys_dir or default_keys_dir()) / f"site-{safe}{'' if slot == 'current' else '.next'}.key"


def _user(gallery_id: str, slot: SiteSlot) -> str:
    return f"site:{gallery_id}" if slot == "current" else f"site-next:{gallery_id}"


def _read_file(path: Path) -> bytes:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _FORMAT:
            raise ValueError("not a face-kiosk site key file")
        return _parse(str(data["key"]), str(path))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KioskError(f"{path}: damaged site key file ({exc})") from None


def find_site_key(gallery_id: str, *, keys_dir: Path | None = None, slot: SiteSlot = "current",
                  legacy_ref: str = "", env: bool = True) -> GalleryKey | None:
    """The stored site key of `gallery_id` (env, keyring, key file; then the names from before
    schema 6 when `legacy_ref` is given), or None."""
    value = os.environ.get(ENV_SITE_KEY) if env and slot == "current" else None
    if value:
        return GalleryKey(_parse(value, ENV_SITE_KEY), "env", ENV_SITE_KEY)
    backend = usable_keyring()
    users = [_user(gallery_id, slot)] + ([f"site:{legacy_ref}"] if legacy_ref and slot == "current" else [])
    if backend is not None:
        for user in users:
            try:
                secret = backend.get_password(KEYRING_SERVICE, user)
            except Exception as exc:  # keyring backends raise their own types
                raise KioskError(f"cannot read the site key from the keyring ({exc or type(exc).__name__})") from None
            if secret:
                return GalleryKey(_parse(secret, "keyring"), "keyring", f"keyring {KEYRING_SERVICE}/{user}")
    paths = [site_key_path(gallery_id, keys_dir, slot)]
    if legacy_ref and slot == "current":
        paths.append(legacy_site_key_path(legacy_ref, keys_dir))
    for path in paths:
        if path.exists():
            return GalleryKey(_read_file(path), "file", str(path))
    return None


def store_site_key(gallery_id: str, key: bytes, *, keys_dir: Path | None = None, slot: SiteSlot = "current",
                   replace: bool = False) -> GalleryKey:
    """Keep `key` for `gallery_id` (the OS keyring when it works, else a 0600 key file) and
    say where. `replace` overwrites a key stored before (an import, a rekey's promotion)."""
    user = _user(gallery_id, slot)
    backend = usable_keyring()
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, user, key.hex())
            if backend.get_password(KEYRING_SERVICE, user) == key.hex():
                return GalleryKey(key, "keyring", f"keyring {KEYRING_SERVICE}/{user}")
        except Exception:  # noqa: S110 - any backend failure: fall back to the key file
            pass
    path = site_key_path(gallery_id, keys_dir, slot)
    ensure_private_dir(path.parent)
    atomic_write(path, json.dumps({"format": _FORMAT, "version": 2, "gallery": gallery_id, "key": key.hex()},
                                  indent=2) + "\n", overwrite=replace)
    return GalleryKey(key, "file", str(path))


def forget_site_key(gallery_id: str, *, keys_dir: Path | None = None, slot: SiteSlot = "next") -> None:
    """Remove a stored key of `gallery_id` from the keyring and its key file (both, if there)."""
    backend = usable_keyring()
    if backend is not None:
        # Not there, or the backend cannot delete: the key file may be the one.
        with contextlib.suppress(Exception):
            backend.delete_password(KEYRING_SERVICE, _user(gallery_id, slot))
    path = site_key_path(gallery_id, keys_dir, slot)
    if path.exists():
        path.unlink()


def load_site_key(gallery_id: str, *, create: bool, keys_dir: Path | None = None, legacy_ref: str = "") -> GalleryKey:
    """The site key for the gallery `gallery_id` (env, keyring, key file); with `create`, a new
    key is made and stored first when none is found (`created` is then set, for the one
    announcement). KioskError (one line) when there is none."""
    found = find_site_key(gallery_id, keys_dir=keys_dir, legacy_ref=legacy_ref)
    if found is not None:
        return found
    if not create:
        raise KioskError(f"no site key for gallery {gallery_id} on this kiosk: on a kiosk that has it run "
                         "`face-kiosk gallery key export --out FILE`, then here `face-kiosk gallery key import "
                         f"FILE` (or set {ENV_SITE_KEY}, 64 hex characters, the same on every kiosk of the site)")
    stored = store_site_key(gallery_id, secrets.token_bytes(KEY_BYTES), keys_dir=keys_dir)
    return SiteKey(stored.key, stored.source, stored.location, created=True)


def announce_new_key(gallery: str, key: GalleryKey) -> str:
    """The one message about a new site key: where it is, and what losing it means."""
    return (f"{gallery}: made a new site key, kept in {key.location}. Every kiosk of the site needs it: "
            "`face-kiosk gallery key export FILE` (passphrase-protected) and `gallery key import FILE` "
            "on the next kiosk. Keep a copy somewhere safe: if every copy is lost, the faces in this gallery "
            "can never be read again (everyone must be enrolled anew)")


def write_site_key_export(path: Path, gallery_id: str, key: bytes, passphrase: str, *, overwrite: bool = False) -> None:
    """Write the key to `path`, encrypted with `passphrase` (scrypt + AES-GCM, the format of
    encrypted exports; at least 10 characters); 0600, all at once or not at all."""
    from kiosk.security.export_crypto import encrypting_writer
    from kiosk.security.keys import validate_passphrase

    validate_passphrase(passphrase)
    body = json.dumps({"format": _EXPORT_FORMAT, "version": 1, "gallery": gallery_id, "key": key.hex(),
                       "key_check": key_check(key)}).encode("utf-8")
    with encrypting_writer(path, passphrase, overwrite=overwrite) as writer:
        writer.write(body)


def read_site_key_export(path: Path, passphrase: str) -> tuple[str, bytes]:
    """(gallery id, key) from a file `write_site_key_export` wrote; KioskError (one line) for a
    wrong passphrase, a damaged file or one that is not a site key."""
    from kiosk.security.export_crypto import decrypt_stream

    out = io.BytesIO()
    try:
        with open(path, "rb") as src:
            decrypt_stream(src, out, passphrase, name=str(path))
    except OSError as exc:
        raise KioskError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    try:
        data = json.loads(out.getvalue().decode("utf-8"))
        if data.get("format") != _EXPORT_FORMAT:
            raise ValueError
        key = _parse(str(data["key"]), str(path))
        if data.get("key_check") != key_check(key):
            raise ValueError
        return str(data["gallery"]), key
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise KioskError(f"{path}: not a face-kiosk site key export") from None


def key_check(key: bytes) -> str:
    """A value the gallery may store to recognise its key (it reveals nothing of the key)."""
    return hmac.new(key, b"face-kiosk site key check v1", hashlib.sha256).hexdigest()[:32]


class BlobCipher:
    """AES-256-GCM for crops and templates: version byte, 12-byte random nonce, ciphertext+tag.

    `aad` binds a blob to its place (gallery, person, purpose): a DBA who moves a template to
    another person's row gets a blob that no longer decrypts, not a person who matches as
    someone else.
    """

    def __init__(self, site_key: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"face-kiosk site blobs v1").derive(site_key)
        self._aead = AESGCM(derived)

    def encrypt(self, plaintext: bytes, aad: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return _BLOB_VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad.encode("utf-8"))

    def decrypt(self, blob: bytes, aad: str) -> bytes:
        blob = bytes(blob)
        if blob[:1] != _BLOB_VERSION or len(blob) < 1 + _NONCE + 16:
            raise KioskError("a stored face record is not one of ours (damaged or edited)")
        try:
            return self._aead.decrypt(blob[1:1 + _NONCE], blob[1 + _NONCE:], aad.encode("utf-8"))
        except InvalidTag:
            raise KioskError("a stored face record does not decrypt with this site key (edited, moved to "
                             "another person, or another site's key)") from None
