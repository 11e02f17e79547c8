"""Passphrase-encrypted exports, streamed: a large export never sits in memory or in the clear.

File layout (all integers big-endian)::

    b"FKX1"                      magic
    uint32 n                     length of the header
    n bytes                      header: canonical JSON (sorted keys, no spaces):
                                 {"chunk_size": 1048576, "cipher": "AES-256-GCM",
                                  "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1,
                                          "salt": <16 bytes, base64>},
                                  "nonce_prefix": <8 bytes, base64>, "version": 1}
    32 bytes                     HMAC-SHA256(mac key, everything above)
    chunks                       AES-256-GCM(enc key, nonce, plaintext, aad) = ciphertext+tag

scrypt(passphrase in NFC, salt, n=2**15, r=8, p=1) gives 64 bytes: the AES key and the HMAC
key. Every chunk holds `chunk_size` plaintext bytes except the last (which may be shorter,
or empty for an empty export). Chunk i uses nonce = nonce_prefix || uint32(i) (unique: the
key is new for every file, and the counter never repeats within one), and its associated
data is b"FKX1 chunk" || SHA-256(header bytes incl. magic) || uint64(i) || final flag. So:

- a wrong passphrase is told apart from a damaged body by the header HMAC;
- an edited header fails the HMAC, and the chunks are bound to that header;
- reordered chunks fail (the index is in nonce and AAD), appended data fails (the real last
  chunk is then not last), and cutting the file at a chunk boundary fails (the chunk that
  became last was sealed with final=0).

Decryption writes through `private_output`, so a file that fails anywhere leaves nothing
behind. Plaintext of early chunks reaches only the 0600 temporary file, which is deleted.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import json
import os
import secrets
import shutil
import struct
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiosk.errors import KioskError
from kiosk.security.keys import validate_new_passphrase
from kiosk.security.private_files import private_output, shred_file

MAGIC = b"FKX1"
VERSION = 1
CHUNK_SIZE = 1 << 20
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_TAG = 16
_MAX_HEADER = 4096
_CHUNK_AAD = b"FKX1 chunk"
_PathLike = str | os.PathLike[str]


class ExportCryptoError(KioskError):
    """An encrypted export cannot be read: wrong passphrase, damaged, truncated, not ours."""


def is_encrypted_export(path: _PathLike) -> bool:
    """True when the file starts with the FKX1 magic (read only)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    normal = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    km = hashlib.scrypt(normal, salt=salt, n=n, r=r, p=p, dklen=64, maxmem=256 * n * r + (1 << 20))
    return km[:32], km[32:]


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _aad(header_digest: bytes, index: int, final: bool) -> bytes:
    return _CHUNK_AAD + header_digest + struct.pack(">QB", index, 1 if final else 0)


def _nonce(prefix: bytes, index: int) -> bytes:
    if index >= 2**32:
        raise ExportCryptoError("export too large for one file (2**32 chunks)")
    return prefix + struct.pack(">I", index)


class EncryptingWriter(io.RawIOBase):
    """A write-only binary stream that seals what it is given into FKX1 chunks on `out`.

    `close()` writes the final chunk: without it the file is (detectably) truncated. Does
    not close `out`. zipfile can write straight into it (it is not seekable).
    """

    def __init__(self, out: BinaryIO, passphrase: str, *, chunk_size: int = CHUNK_SIZE) -> None:
        # Checked before the IOBase exists: its finaliser calls close(), which must find a
        # fully built writer (or the "aborted" flag) and never seal half a file.
        passphrase = validate_new_passphrase(passphrase)
        if not 4096 <= chunk_size <= 16 << 20:
            raise ValueError("chunk_size must be 4 KiB to 16 MiB")
        self._aborted = True
        super().__init__()
        salt, prefix = secrets.token_bytes(16), secrets.token_bytes(8)
        enc_key, mac_key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        header = _canonical({
            "version": VERSION, "cipher": "AES-256-GCM", "chunk_size": chunk_size,
            "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                    "salt": base64.b64encode(salt).decode("ascii")},
            "nonce_prefix": base64.b64encode(prefix).decode("ascii"),
        })
        preamble = MAGIC + struct.pack(">I", len(header)) + header
        out.write(preamble + hmac.new(mac_key, preamble, hashlib.sha256).digest())
        self._out = out
        self._aead = AESGCM(enc_key)
        self._digest = hashlib.sha256(preamble).digest()
        self._prefix = prefix
        self._chunk = chunk_size
        self._buf = bytearray()
        self._index = 0
        self._aborted = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        """Buffer `data`; seal every complete chunk except the last one (it may be final)."""
        if self.closed:
            raise ValueError("write to a closed EncryptingWriter")
        view = memoryview(data).cast("B")
        self._buf += view
        # Keep at least one byte back: only close() knows which chunk is the last.
        while len(self._buf) > self._chunk:
            self._seal(bytes(self._buf[: self._chunk]), final=False)
            del self._buf[: self._chunk]
        return len(view)

    def _seal(self, plain: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(
            _nonce(self._prefix, self._index), plain, _aad(self._digest, self._index, final)
        )
        self._out.write(sealed)
        self._index += 1

    def close(self) -> None:
        """Seal the final chunk (the rest of the buffer, possibly empty)."""
        if not self.closed and not self._aborted:
            self._seal(bytes(self._buf), final=True)
            self._buf.clear()
            self._out.flush()
        super().close()

    def abort(self) -> None:
        """Close WITHOUT sealing the final chunk: what was written stays detectably truncated.
        For error paths, and what garbage collection does to a writer nobody closed."""
        self._aborted = True
        self._buf.clear()
        super().close()

    def __del__(self) -> None:
        # IOBase's finaliser would close(), i.e. seal a final chunk after an error; abort. A
        # writer whose __init__ refused its passphrase has no buffer yet: nothing to abort.
        if "_buf" not in self.__dict__:
            return
        if not self.closed:
            self.abort()


@contextlib.contextmanager
def encrypting_writer(
    dst: _PathLike,
    passphrase: str,
    *,
    overwrite: bool = False,
    protected: Iterable[_PathLike] = (),
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[EncryptingWriter]:
    """Write an encrypted export to `dst` as a stream (e.g. ``zipfile.ZipFile(w, "w")``).

    The file appears only when the block ends without error; otherwise nothing is left.
    """
    with private_output(dst, overwrite=overwrite, protected=protected) as out:
        writer = EncryptingWriter(out, passphrase, chunk_size=chunk_size)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.close()


def encrypt_file(
    src: _PathLike,
    dst: _PathLike,
    passphrase: str,
    *,
    overwrite: bool = False,
    protected: Iterable[_PathLike] = (),
) -> None:
    """Encrypt the file `src` into `dst` (FKX1), streaming; a passphrase of >= 10 characters
    that is not obviously guessable (kiosk.security.keys.validate_new_passphrase)."""
    validate_new_passphrase(passphrase)
    with open(src, "rb") as plain, encrypting_writer(
        dst, passphrase, overwrite=overwrite, protected=protected
    ) as writer:
        shutil.copyfileobj(plain, writer, CHUNK_SIZE)


def _read_exact(f: BinaryIO, n: int) -> bytes:
    parts, left = [], n
    while left:
        part = f.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def decrypt_stream(src: BinaryIO, out: BinaryIO, passphrase: str, *, name: str = "export") -> int:
    """Decrypt an FKX1 stream into `out`; returns the plaintext size. Raises
    ExportCryptoError (one line) on a wrong passphrase, damage or truncation; what was
    already written to `out` must then be discarded (`decrypt_file` does)."""
    preamble = _read_exact(src, len(MAGIC) + 4)
    if len(preamble) < len(MAGIC) + 4 or preamble[:4] != MAGIC:
        raise ExportCryptoError(f"{name}: not an encrypted face-kiosk export")
    (length,) = struct.unpack(">I", preamble[4:])
    if not 0 < length <= _MAX_HEADER:
        raise ExportCryptoError(f"{name}: damaged export (header length {length})")
    header = _read_exact(src, length)
    tag = _read_exact(src, 32)
    if len(header) < length or len(tag) < 32:
        raise ExportCryptoError(f"{name}: truncated export (the header is incomplete)")
    preamble += header
    try:
        meta = json.loads(header)
        kdf = meta["kdf"]
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        prefix = base64.b64decode(meta["nonce_prefix"], validate=True)
        chunk = int(meta["chunk_size"])
        if meta.get("version") != VERSION or meta.get("cipher") != "AES-256-GCM" or kdf.get("name") != "scrypt":
            raise ValueError("unknown version or cipher")
        # Bounds before any work (the header is only authenticated after the KDF): a doctored
        # header must not make us allocate gigabytes. 128*n*r bytes: at most 256 MiB.
        if not (2**14 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 16 and 1 <= p <= 4
                and 128 * n * r <= 256 << 20):
            raise ValueError("scrypt parameters out of range")
        if not (4096 <= chunk <= 16 << 20 and len(salt) >= 16 and len(prefix) == 8):
            raise ValueError("chunk size, salt or nonce out of range")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ExportCryptoError(f"{name}: damaged export header ({exc})") from None
    enc_key, mac_key = _derive(passphrase, salt, n, r, p)
    if not hmac.compare_digest(hmac.new(mac_key, preamble, hashlib.sha256).digest(), tag):
        raise ExportCryptoError(f"{name}: wrong passphrase, or the export's header is damaged")
    aead, digest = AESGCM(enc_key), hashlib.sha256(preamble).digest()
    record = chunk + _TAG
    index, total = 0, 0
    current = _read_exact(src, record)
    if not current:
        raise ExportCryptoError(f"{name}: truncated export (no data after the header)")
    while True:
        # Read one record ahead: a chunk is the final one exactly when nothing follows it.
        following = _read_exact(src, record) if len(current) == record else b""
        final = not following
        try:
            plain = aead.decrypt(_nonce(prefix, index), current, _aad(digest, index, final))
        except InvalidTag:
            raise ExportCryptoError(
                f"{name}: damaged, truncated or altered export (chunk {index + 1} fails its check)"
            ) from None
        out.write(plain)
        total += len(plain)
        if final:
            return total
        current, index = following, index + 1


def decrypt_file(
    src: _PathLike,
    dst: _PathLike,
    passphrase: str,
    *,
    overwrite: bool = False,
    protected: Iterable[_PathLike] = (),
) -> int:
    """Decrypt the export `src` into `dst` (0600, atomic); returns the plaintext size.
    On any failure `dst` is not created (or not changed) and no temporary file remains."""
    try:
        f = open(src, "rb")  # noqa: SIM115 - closed below, after private_output decided
    except OSError as exc:
        raise ExportCryptoError(f"{src}: cannot read ({exc.strerror})") from None
    with f, private_output(dst, overwrite=overwrite, protected=protected) as out:
        return decrypt_stream(f, out, passphrase, name=str(src))


@contextlib.contextmanager
def decrypted_temp(src: _PathLike, passphrase: str, *, workdir: _PathLike) -> Iterator[Path]:
    """A decrypted copy of `src` for readers that need to seek (zipfile on import).

    The copy is a 0600 file in `workdir` (give a private folder on the gallery's disk, never
    the export's own folder, e.g. a USB stick); it is overwritten and deleted on exit.
    """
    try:
        fd, name = tempfile.mkstemp(dir=workdir, prefix=".import.", suffix=".part")
    except OSError as exc:
        raise ExportCryptoError(f"{workdir}: cannot create a file there ({exc.strerror})") from None
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            decrypt_stream(f, out, passphrase, name=str(src))
        yield path
    finally:
        shred_file(path)
