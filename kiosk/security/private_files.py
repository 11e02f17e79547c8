"""Least privilege on disk: owner-only folders, atomic writes that never follow a symlink.

Everything the kiosk writes about people (the gallery, exports, key files) goes through
here. The rules:

- A folder that holds private data is 0700 and ours; a symlinked folder is refused (it could
  point at a shared or attacker-chosen place).
- A file is written to a temporary file in the target's own folder (created by
  `tempfile.mkstemp`: O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600), fsynced, then moved over the
  target in one `os.replace` (or hard-linked into place when replacing is not allowed, so a
  file appearing meanwhile is never clobbered). A reader sees the old file or the new one,
  never half of one; a crash, Ctrl+C or a full disk leaves the target as it was and the
  temporary file removed.
- The target is refused when it is a symlink, a folder, not a regular file, already exists
  (unless `overwrite`), or is one of the `protected` files (the gallery and its -wal/-shm),
  under another name too: same resolved path, or a hard link to it (same st_dev/st_ino).

POSIX modes do not exist on Windows: the chmod calls are skipped there, and the user's
profile folder is what keeps other users out.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from kiosk.errors import KioskError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

_POSIX = os.name == "posix"
# Absent on Windows, where symlinks need admin rights to make; the lstat checks still run.
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
# A full disk, a quota or RLIMIT_FSIZE. CPython ignores SIGXFSZ at start-up, so a write past
# the size limit fails with EFBIG instead of killing the process.
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def set_private_umask() -> int:
    """Make every file and folder the process creates owner-only (umask 077).

    Call once at start-up, before anything is written: it also covers files we do not open
    ourselves (SQLite's -wal/-shm/-journal, native libraries' caches). Returns the previous
    mask. On Windows the umask only touches the read-only flag, so this is harmless there.
    """
    return os.umask(0o077)


_SQLITE_SUFFIXES = ("-wal", "-shm", "-journal")


def gallery_files(db_path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The gallery file and its SQLite companions: what an export must never overwrite."""
    db = Path(db_path)
    return (db, *(db.with_name(db.name + s) for s in _SQLITE_SUFFIXES))


def ensure_private_dir(path: str | os.PathLike[str], *, tighten: bool = True) -> Path:
    """Create `path` as a 0700 folder, or tighten an existing folder of ours to 0700 (not with
    `tighten=False`: a folder the user named, e.g. where a gallery file goes, keeps its mode;
    the file itself is 0600).

    Missing parents are created with the usual mode (they may be shared, like
    ~/.local/share). Refuses a symlink, a non-folder, and (POSIX) a folder owned by another
    user: we would be keeping private data where someone else decides who reads it.
    """
    folder = Path(path)
    try:
        os.lstat(folder)
    except FileNotFoundError:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # Another process may create it meanwhile; the checks below judge what is there.
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, PRIVATE_DIR_MODE)
    st = os.lstat(folder)
    if stat.S_ISLNK(st.st_mode):
        raise KioskError(f"{folder}: is a symbolic link; refusing to keep private data behind it")
    if not stat.S_ISDIR(st.st_mode):
        raise KioskError(f"{folder}: exists and is not a folder")
    if not _POSIX:
        return folder
    # Judge and chmod through one descriptor opened without following links, so the folder
    # cannot be swapped for a symlink between the check and the chmod.
    try:
        fd = os.open(folder, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW)
    except OSError as exc:
        raise KioskError(f"{folder}: cannot open the folder ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid():
            raise KioskError(
                f"{folder}: belongs to another user (uid {st.st_uid}); refusing to keep private data in it"
            )
        if tighten and stat.S_IMODE(st.st_mode) != PRIVATE_DIR_MODE:
            os.fchmod(fd, PRIVATE_DIR_MODE)
    finally:
        os.close(fd)
    return folder


def tighten_file(path: str | os.PathLike[str]) -> None:
    """chmod an existing regular file to 0600 (not through a symlink). No-op on Windows."""
    target = Path(path)
    st = _lstat(target)
    if st is None:
        raise KioskError(f"{target}: no such file")
    if stat.S_ISLNK(st.st_mode):
        raise KioskError(f"{target}: is a symbolic link; refusing to change what it points to")
    if not stat.S_ISREG(st.st_mode):
        raise KioskError(f"{target}: not a regular file")
    if not _POSIX:
        return
    # O_NONBLOCK: a FIFO swapped in after the lstat must not hang us; fstat judges what we got.
    fd = os.open(target, os.O_RDONLY | _O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KioskError(f"{target}: not a regular file")
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    overwrite: bool = False,
    protected: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Write `data` (str: UTF-8) to `path` all at once, 0600, or not at all.

    Raises a one-line KioskError for the refusals listed in the module docstring and for a
    full disk; the target is then untouched and no temporary file is left behind.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with private_output(path, overwrite=overwrite, protected=protected) as out:
        out.write(payload)


@contextlib.contextmanager
def private_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protected: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[BinaryIO]:
    """A binary file to stream into; it becomes `path` when the block ends without error.

    On any exception (KeyboardInterrupt included) the temporary file is deleted and the
    target is untouched; the exception propagates (a full disk becomes a KioskError).
    """
    pending = _Pending(Path(path), overwrite, protected)
    try:
        with os.fdopen(pending.fd, "wb", closefd=False) as out:
            yield out
            out.flush()
        pending.commit()
    except BaseException as exc:
        pending.abort()
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            raise KioskError(f"{pending.target}: disk full or file too large; nothing was written") from None
        raise


@contextlib.contextmanager
def private_temp_path(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protected: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Like `private_output`, for writers that need a file name (SQLite's ATTACH, zipfile).

    Yields the path of an empty 0600 temporary file next to `path`; whatever is written there
    is fsynced and moved into place when the block ends without error, and deleted otherwise.
    """
    pending = _Pending(Path(path), overwrite, protected)
    os.close(pending.fd)
    pending.fd = -1
    try:
        yield pending.tmp
        pending.commit()
    except BaseException as exc:
        pending.abort()
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            raise KioskError(f"{pending.target}: disk full or file too large; nothing was written") from None
        raise


def shred_file(path: str | os.PathLike[str]) -> None:
    """Overwrite a file with zeros, fsync, then unlink it. Best effort, and no more.

    On SSDs (wear levelling), copy-on-write file systems (btrfs, ZFS, APFS) and with
    snapshots or backups, the old blocks can survive an overwrite; only encryption (SQLCipher,
    full-disk encryption) really protects them. A missing file is not an error.
    """
    target = Path(path)
    st = _lstat(target)
    if st is None:
        return
    if stat.S_ISREG(st.st_mode):
        with contextlib.suppress(OSError):
            fd = os.open(target, os.O_RDWR | _O_NOFOLLOW | _O_BINARY)
            try:
                shred_fd(fd)
            finally:
                os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)


def shred_fd(fd: int) -> None:
    """Overwrite an open file's contents with zeros and fsync (see `shred_file`)."""
    size = os.fstat(fd).st_size
    block = b"\0" * (1 << 20)
    os.lseek(fd, 0, os.SEEK_SET)
    done = 0
    while done < size:
        done += os.write(fd, block[: min(len(block), size - done)])
    os.fsync(fd)


# -- internals ------------------------------------------------------------------------------


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a name too long, a folder we may not enter: one line, not a traceback
        raise KioskError(f"{path}: {exc.strerror or type(exc).__name__}") from None


def _is_protected(target: Path, protected: Iterable[str | os.PathLike[str]]) -> bool:
    """`target` is one of `protected` by resolved path, or is a hard link to one of them."""
    real = os.path.normcase(os.path.realpath(target))
    try:
        tst: os.stat_result | None = os.stat(target)
    except OSError:
        tst = None
    for item in protected:
        other = Path(item)
        if os.path.normcase(os.path.realpath(other)) == real:
            return True
        if tst is None:
            continue
        try:
            ost = os.stat(other)
        except OSError:
            continue
        if (ost.st_dev, ost.st_ino) == (tst.st_dev, tst.st_ino):
            return True
    return False


def _check_target(target: Path, overwrite: bool, protected: tuple[Path, ...]) -> None:
    """Every refusal, as a one-line KioskError (run before the write and again before the move)."""
    parent = target.parent
    st = _lstat(target)  # first: a name the OS refuses is said as such
    if not parent.is_dir():
        raise KioskError(f"{target}: the folder {parent} does not exist")
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise KioskError(f"{target}: is a symbolic link; refusing to write through it")
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise KioskError(f"{target}: is a folder; give a file name")
    if _is_protected(target, protected):
        raise KioskError(f"{target}: is the gallery's own file; choose another name")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise KioskError(f"{target}: not a regular file; refusing to replace it")
    if st is not None and not overwrite:
        raise KioskError(f"{target}: exists; use --force to replace it")


class _Pending:
    """One temporary file on its way to becoming `target`."""

    def __init__(self, target: Path, overwrite: bool, protected: Iterable[str | os.PathLike[str]]) -> None:
        self.target = target
        self.overwrite = overwrite
        self.protected = tuple(Path(p) for p in protected)
        _check_target(target, overwrite, self.protected)
        try:
            # mkstemp: O_CREAT|O_EXCL|O_NOFOLLOW, 0600, a random name (retried if taken), so a
            # symlink or file planted at a guessed name is never opened.
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        except OSError as exc:
            raise KioskError(f"{target}: cannot create a file in {target.parent} ({exc.strerror})") from None
        self.fd = fd
        self.tmp = Path(name)
        st = os.fstat(fd)
        self._ident = (st.st_dev, st.st_ino)
        self._done = False

    def _check_tmp(self) -> None:
        """The temporary name still names the file we created (not a swapped-in symlink)."""
        st = _lstat(self.tmp)
        if st is None or not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != self._ident:
            raise KioskError(f"{self.target}: the temporary file was replaced while writing; nothing was written")

    def commit(self) -> None:
        try:
            self._check_tmp()
            if self.fd >= 0:
                os.fsync(self.fd)
                os.close(self.fd)
                self.fd = -1
            else:  # written by someone else through the path: fsync it ourselves
                fd = os.open(self.tmp, os.O_RDWR | _O_NOFOLLOW | _O_BINARY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self._check_tmp()
            _check_target(self.target, self.overwrite, self.protected)
            if self.overwrite:
                os.replace(self.tmp, self.target)
            else:
                self._link_into_place()
            self._done = True
            _fsync_dir(self.target.parent)
        except OSError as exc:
            if exc.errno in _NO_SPACE:
                raise
            raise KioskError(f"{self.target}: cannot write ({exc.strerror or exc})") from None

    def _link_into_place(self) -> None:
        """No-clobber move: link(2) fails if the target appeared since the check."""
        try:
            os.link(self.tmp, self.target)
        except FileExistsError:
            raise KioskError(f"{self.target}: exists; use --force to replace it") from None
        except OSError:
            # File systems without hard links (FAT, some network shares): check, then replace.
            _check_target(self.target, False, self.protected)
            os.replace(self.tmp, self.target)
            return
        os.unlink(self.tmp)

    def abort(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        if not self._done:
            # SQLite writing through `private_temp_path` may leave its companions behind.
            for leftover in (self.tmp, *(self.tmp.with_name(self.tmp.name + s) for s in _SQLITE_SUFFIXES)):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles for this)."""
    if not _POSIX:
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | _O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
