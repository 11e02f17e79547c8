"""Passphrase-encrypted exports (FKX1): round trips and every kind of damage."""

from __future__ import annotations

import base64
import json
import os
import struct
import zipfile
from pathlib import Path

import pytest

from kiosk.errors import KioskError
from kiosk.security import export_crypto
from kiosk.security.export_crypto import (
    CHUNK_SIZE,
    MAGIC,
    decrypt_file,
    decrypted_temp,
    encrypt_file,
    encrypting_writer,
    is_encrypted_export,
)

PASS = "correct horse battery staple"
RECORD = CHUNK_SIZE + 16  # one sealed chunk on disk


def header_end(blob: bytes) -> int:
    """Offset of the first chunk: magic, length, header, HMAC."""
    (length,) = struct.unpack(">I", blob[4:8])
    return 8 + length + 32


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


@pytest.fixture
def plain(tmp_path) -> Path:
    """2.5 chunks of plaintext, with a name in it."""
    path = tmp_path / "people.zip"
    path.write_bytes(b"Zephyrine Quackenbush" + os.urandom(CHUNK_SIZE * 5 // 2))
    return path


@pytest.fixture
def sealed(tmp_path, plain) -> Path:
    path = tmp_path / "people.fkx"
    encrypt_file(plain, path, PASS)
    return path


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, 2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 5])
def test_round_trip(tmp_path, size):
    src, enc, out = tmp_path / "src", tmp_path / "enc", tmp_path / "out"
    data = os.urandom(size)
    src.write_bytes(data)
    encrypt_file(src, enc, PASS)
    assert is_encrypted_export(enc) and not is_encrypted_export(src)
    blob = enc.read_bytes()
    chunks = max(1, -(-size // CHUNK_SIZE))
    assert len(blob) == header_end(blob) + size + 16 * chunks  # no padding, one tag a chunk
    assert decrypt_file(enc, out, PASS) == size
    assert out.read_bytes() == data
    if os.name == "posix":
        assert out.stat().st_mode & 0o077 == 0 and enc.stat().st_mode & 0o077 == 0


def test_header_says_what_the_spec_says(sealed):
    blob = sealed.read_bytes()
    assert blob[:4] == MAGIC
    (length,) = struct.unpack(">I", blob[4:8])
    header = json.loads(blob[8:8 + length])
    assert header["chunk_size"] == 1 << 20 and header["cipher"] == "AES-256-GCM"
    assert {k: header["kdf"][k] for k in ("name", "n", "r", "p")} == {"name": "scrypt", "n": 2**15, "r": 8, "p": 1}
    assert len(base64.b64decode(header["kdf"]["salt"])) == 16
    assert len(base64.b64decode(header["nonce_prefix"])) == 8
    assert b"Zephyrine" not in blob


def test_two_exports_of_the_same_file_share_nothing(tmp_path, plain):
    a, b = tmp_path / "a", tmp_path / "b"
    encrypt_file(plain, a, PASS)
    encrypt_file(plain, b, PASS)
    ha, hb = (json.loads(x.read_bytes()[8:header_end(x.read_bytes()) - 32]) for x in (a, b))
    assert ha["kdf"]["salt"] != hb["kdf"]["salt"] and ha["nonce_prefix"] != hb["nonce_prefix"]
    body_a, body_b = a.read_bytes()[header_end(a.read_bytes()):], b.read_bytes()[header_end(b.read_bytes()):]
    assert body_a[:1024] != body_b[:1024]


def damaged(sealed: Path, how: str) -> bytes:
    blob = bytearray(sealed.read_bytes())
    start = header_end(bytes(blob))
    chunk = [bytes(blob[start + i * RECORD: start + (i + 1) * RECORD]) for i in range(3)]
    if how == "flip header":
        blob[12] ^= 0x01
    elif how == "flip header mac":
        blob[start - 1] ^= 0x01
    elif how == "flip body":
        blob[start + RECORD + 100] ^= 0x01
    elif how == "flip last tag":
        blob[-1] ^= 0x01
    elif how == "cut at a chunk boundary":
        del blob[start + 2 * RECORD:]
    elif how == "cut inside a chunk":
        del blob[-1000:]
    elif how == "cut after the header":
        del blob[start:]
    elif how == "reorder chunks":
        blob[start: start + 2 * RECORD] = chunk[1] + chunk[0]
    elif how == "append garbage":
        blob += os.urandom(100)
    elif how == "append a copy of the last chunk":
        blob += chunk[2]
    elif how == "drop a middle chunk":
        del blob[start + RECORD: start + 2 * RECORD]
    return bytes(blob)


@pytest.mark.parametrize("how", [
    "flip header", "flip header mac", "flip body", "flip last tag", "cut at a chunk boundary",
    "cut inside a chunk", "cut after the header", "reorder chunks", "append garbage",
    "append a copy of the last chunk", "drop a middle chunk",
])
def test_damage_is_a_one_line_error_and_nothing_is_written(tmp_path, sealed, how):
    bad = tmp_path / "bad.fkx"
    bad.write_bytes(damaged(sealed, how))
    out = tmp_path / "out.zip"
    with pytest.raises(KioskError) as err:
        decrypt_file(bad, out, PASS)
    assert "\n" not in str(err.value)
    assert not out.exists() and leftovers(tmp_path) == []


def test_wrong_passphrase(tmp_path, sealed):
    out = tmp_path / "out.zip"
    out.write_bytes(b"old")
    with pytest.raises(KioskError, match="wrong passphrase"):
        decrypt_file(sealed, out, PASS + "!", overwrite=True)
    assert out.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_not_an_export_and_absurd_headers(tmp_path, plain, sealed):
    out = tmp_path / "out"
    with pytest.raises(KioskError, match="not an encrypted face-kiosk export"):
        decrypt_file(plain, out, PASS)
    blob = sealed.read_bytes()
    huge = blob[:4] + struct.pack(">I", 1 << 30) + blob[8:]
    (tmp_path / "huge").write_bytes(huge)
    with pytest.raises(KioskError, match="header length"):
        decrypt_file(tmp_path / "huge", out, PASS)
    # A header asking scrypt for 4 GiB is refused before any work (it is not authenticated yet).
    (length,) = struct.unpack(">I", blob[4:8])
    header = json.loads(blob[8:8 + length])
    header["kdf"]["n"], header["kdf"]["r"] = 2**20, 16
    text = json.dumps(header).encode()
    (tmp_path / "greedy").write_bytes(MAGIC + struct.pack(">I", len(text)) + text + blob[8 + length:])
    with pytest.raises(KioskError, match="out of range"):
        decrypt_file(tmp_path / "greedy", out, PASS)
    assert not out.exists()


def test_passphrase_length_and_existing_target(tmp_path, plain, sealed):
    with pytest.raises(KioskError, match="at least 10"):
        encrypt_file(plain, tmp_path / "x", "short")
    assert not (tmp_path / "x").exists()
    with pytest.raises(KioskError, match="exists; use --force"):
        encrypt_file(plain, sealed, PASS)


def test_zipfile_streams_into_the_writer_and_reads_back(tmp_path):
    dst = tmp_path / "export.fkx"
    with encrypting_writer(dst, PASS) as writer, zipfile.ZipFile(writer, "w") as zf:
        zf.writestr("people.json", json.dumps([{"name": "Zephyrine Quackenbush"}]))
        zf.writestr("samples/1.png", os.urandom(3 * CHUNK_SIZE // 2))
    assert b"Zephyrine" not in dst.read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    with decrypted_temp(dst, PASS, workdir=work) as path, zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("people.json")) == [{"name": "Zephyrine Quackenbush"}]
    assert list(work.iterdir()) == []


def test_a_failing_export_leaves_no_file(tmp_path):
    dst = tmp_path / "export.fkx"
    with pytest.raises(RuntimeError), encrypting_writer(dst, PASS) as writer:
        writer.write(os.urandom(CHUNK_SIZE + 10))
        raise RuntimeError("the export failed half-way")
    assert list(tmp_path.iterdir()) == []


def test_an_unclosed_writer_never_seals_a_final_chunk(tmp_path):
    """Dropped without close() (an error path): the stream stays detectably truncated."""
    out = tmp_path / "raw.fkx"
    with open(out, "wb") as f:
        writer = export_crypto.EncryptingWriter(f, PASS, chunk_size=4096)
        writer.write(os.urandom(10000))
        writer.abort()
        del writer
    with pytest.raises(KioskError, match="damaged, truncated or altered"):
        decrypt_file(out, tmp_path / "x", PASS)
