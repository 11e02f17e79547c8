"""The site key: 32 random bytes shared by the kiosks of one site, for a gallery on a server.

A gallery on PostgreSQL is read by every kiosk of the site and administered by a DBA who
should not be able to see faces. So crops and templates are encrypted on the kiosk, before
they leave it, with a key the server never holds (`BlobCipher`: AES-256-GCM). The same key
MACs the gallery's audit log and the PIN lockout (the role the gallery key plays for SQLite).

Looked up in this order (the first that has a key wins):

1. ``FACE_KIOSK_SITE_KEY``: 64 hex characters (headless kiosks: a systemd credential, a
   container secret). Never written anywhere by us.
2. The OS keyring, service ``face-kiosk``, user ``site:<ref>`` (`ref` names the server and
   database, never the password).
3. A key file, 0600, ``<keys dir>/site-<id>.key`` (the same folder as the gallery key files).

A new key is made only for a new, empty gallery (`create=True`), stored before it is used.
Every other kiosk of the site needs the same key: copy the key file, or set the variable.
The gallery keeps a check value of the key (`key_check`), never the key, so a kiosk with the
wrong key is told so instead of writing rows nobody else can read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

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

ENV_SITE_KEY = "FACE_KIOSK_SITE_KEY"
_FORMAT = "face-kiosk site key"
_BLOB_VERSION = b"\x01"
_NONCE = 12


def _parse(text: str, where: str) -> bytes:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KioskError(f"{where}: not a site key ({KEY_BYTES * 2} hex characters)")
    return raw


def site_key_path(ref: str, keys_dir: Path | None = None) -> Path:
    """The key file of the site gallery named `ref` (whether or not it exists)."""
    digest = hashlib.sha256(ref.encode("utf-8")).hexdigest()[:32]
    return (keys_dir or default_keys_dir()) / f"site-{digest}.key"


def load_site_key(ref: str, *, create: bool, keys_dir: Path | None = None) -> GalleryKey:
    """The site key for the gallery `ref` (env, keyring, key file); with `create`, a new key
    is made and stored first when none is found. KioskError (one line) when there is none."""
    env = os.environ.get(ENV_SITE_KEY)
    if env:
        return GalleryKey(_parse(env, ENV_SITE_KEY), "env", ENV_SITE_KEY)
    user = f"site:{ref}"
    backend = usable_keyring()
    if backend is not None:
        try:
            secret = backend.get_password(KEYRING_SERVICE, user)
        except Exception as exc:  # keyring backends raise their own types
            raise KioskError(f"cannot read the site key from the keyring ({exc or type(exc).__name__})") from None
        if secret:
            return GalleryKey(_parse(secret, "keyring"), "keyring", f"keyring {KEYRING_SERVICE}/{user}")
    path = site_key_path(ref, keys_dir)
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != _FORMAT:
                raise ValueError("not a face-kiosk site key file")
            return GalleryKey(_parse(str(data["key"]), str(path)), "file", str(path))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KioskError(f"{path}: damaged site key file ({exc})") from None
    if not create:
        raise KioskError(f"no site key for {ref}: set {ENV_SITE_KEY} (64 hex characters, the same on every "
                         f"kiosk of the site) or copy the first kiosk's key file to {path}")
    key = secrets.token_bytes(KEY_BYTES)
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, user, key.hex())
            if backend.get_password(KEYRING_SERVICE, user) == key.hex():
                return GalleryKey(key, "keyring", f"keyring {KEYRING_SERVICE}/{user}")
        except Exception:  # noqa: S110 - any backend failure: fall back to the key file
            pass
    ensure_private_dir(path.parent)
    atomic_write(path, json.dumps({"format": _FORMAT, "version": 1, "gallery": ref, "key": key.hex()}, indent=2)
                 + "\n", overwrite=False)
    return GalleryKey(key, "file", str(path))


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
