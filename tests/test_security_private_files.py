"""Owner-only folders and atomic, no-follow writes, against hostile file system states."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from kiosk.errors import KioskError
from kiosk.security.private_files import (
    atomic_write,
    ensure_private_dir,
    gallery_files,
    private_output,
    private_temp_path,
    set_private_umask,
    shred_file,
    tighten_file,
)

ROOT = Path(__file__).resolve().parent.parent
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and links")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def leftovers(folder: Path) -> list[str]:
    """Temporary files of ours still in `folder` (there must never be any)."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.fixture
def loose_umask():
    """umask 022, as on a normal desktop: our files must still come out 0600."""
    old = os.umask(0o022)
    yield
    os.umask(old)


# -- folders ---------------------------------------------------------------------------------


@posix_only
def test_ensure_private_dir_creates_0700_and_tightens_an_existing_one(tmp_path, loose_umask):
    made = ensure_private_dir(tmp_path / "a" / "keys")
    assert mode(made) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    ensure_private_dir(loose)
    assert mode(loose) == 0o700


@posix_only
def test_ensure_private_dir_refuses_a_symlinked_folder(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o755)
    os.chmod(real, 0o755)
    link = tmp_path / "keys"
    link.symlink_to(real)
    with pytest.raises(KioskError, match="symbolic link"):
        ensure_private_dir(link)
    assert mode(real) == 0o755  # not tightened through the link either


def test_ensure_private_dir_refuses_a_file(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(KioskError, match="not a folder"):
        ensure_private_dir(tmp_path / "f")


@posix_only
def test_set_private_umask_makes_new_files_owner_only(tmp_path):
    old = set_private_umask()
    try:
        (tmp_path / "f").write_bytes(b"x")
        (tmp_path / "d").mkdir()
    finally:
        os.umask(old)
    assert mode(tmp_path / "f") == 0o600
    assert mode(tmp_path / "d") == 0o700


# -- atomic writes -----------------------------------------------------------------------------


@posix_only
def test_atomic_write_makes_a_0600_file(tmp_path, loose_umask):
    target = tmp_path / "export.bin"
    atomic_write(target, b"hello")
    assert target.read_bytes() == b"hello"
    assert mode(target) == 0o600
    assert leftovers(tmp_path) == []


def test_existing_target_needs_overwrite(tmp_path):
    target = tmp_path / "export.bin"
    target.write_bytes(b"old")
    with pytest.raises(KioskError, match=r"exists; use --force to replace it$"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    atomic_write(target, "new", overwrite=True)
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path) == []


def test_refuses_a_folder_and_a_missing_parent(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(KioskError, match="is a folder"):
        atomic_write(tmp_path / "dir", b"x", overwrite=True)
    with pytest.raises(KioskError, match="does not exist"):
        atomic_write(tmp_path / "nope" / "f", b"x")
    assert not (tmp_path / "nope").exists()


@posix_only
@pytest.mark.parametrize("dangling", [False, True])
def test_never_writes_through_a_symlink(tmp_path, dangling):
    victim = tmp_path / "victim"
    if not dangling:
        victim.write_bytes(b"precious")
    link = tmp_path / "export.bin"
    link.symlink_to(victim)
    for overwrite in (False, True):
        with pytest.raises(KioskError, match="symbolic link"):
            atomic_write(link, b"attack", overwrite=overwrite)
    assert os.path.islink(link)
    if dangling:
        assert not victim.exists()
    else:
        assert victim.read_bytes() == b"precious"
    assert leftovers(tmp_path) == []


@posix_only
def test_protected_gallery_files_are_refused_under_any_name(tmp_path):
    gallery = tmp_path / "data" / "gallery.db"
    gallery.parent.mkdir()
    gallery.write_bytes(b"SQLite format 3\x00 gallery")
    wal = gallery.with_name("gallery.db-wal")
    wal.write_bytes(b"wal")
    protected = gallery_files(gallery)
    # Same path, the -wal, a path through a symlinked folder, and a hard link elsewhere.
    (tmp_path / "alias").symlink_to(gallery.parent)
    os.link(gallery, tmp_path / "hardlink.db")
    candidates = [gallery, wal, gallery.with_name("gallery.db-shm"),
                  tmp_path / "alias" / "gallery.db", tmp_path / "hardlink.db"]
    for target in candidates:
        with pytest.raises(KioskError, match="gallery's own file"):
            atomic_write(target, b"export", overwrite=True, protected=protected)
    assert gallery.read_bytes() == b"SQLite format 3\x00 gallery"
    assert wal.read_bytes() == b"wal"
    assert not gallery.with_name("gallery.db-shm").exists()
    assert leftovers(gallery.parent) == [] and leftovers(tmp_path) == []


@posix_only
def test_a_symlink_planted_at_the_temporary_name_is_skipped(tmp_path, monkeypatch):
    """mkstemp's O_EXCL|O_NOFOLLOW: a pre-made symlink at the name it picks is never opened."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    target = tmp_path / "export.bin"
    (tmp_path / ".export.bin.planted.part").symlink_to(victim)
    names = iter(["planted", "second"])
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)
    atomic_write(target, b"data")
    assert target.read_bytes() == b"data"
    assert victim.read_bytes() == b"precious"
    assert os.path.islink(tmp_path / ".export.bin.planted.part")  # left alone


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_stream_leaves_the_target_untouched(tmp_path, error):
    target = tmp_path / "export.bin"
    target.write_bytes(b"old")
    with pytest.raises(type(error)), private_output(target, overwrite=True) as out:
        out.write(b"half of the new")
        raise error
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_private_temp_path_cleans_up_sqlite_companions(tmp_path):
    target = tmp_path / "copy.db"
    with pytest.raises(RuntimeError), private_temp_path(target) as tmp:
        Path(str(tmp) + "-journal").write_bytes(b"journal")
        raise RuntimeError("copy failed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_file_size_limit_is_a_clean_refusal(tmp_path):
    """RLIMIT_FSIZE (like a full disk): a one-line KioskError, old file kept, no temp file."""
    target = tmp_path / "export.bin"
    target.write_bytes(b"old")
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        from kiosk.errors import KioskError
        from kiosk.security.private_files import atomic_write, private_output
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        for attempt in ("atomic", "stream"):
            try:
                if attempt == "atomic":
                    atomic_write({str(target)!r}, b"x" * (1 << 20), overwrite=True)
                else:
                    with private_output({str(target)!r}, overwrite=True) as out:
                        for _ in range(64):
                            out.write(b"y" * 16384)
            except KioskError as exc:
                print(attempt, "refused:", exc)
            else:
                print(attempt, "written?!")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 2 and all("refused:" in line and "disk full or file too large" in line
                                   for line in lines), run.stdout
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


# -- single files ------------------------------------------------------------------------------


@posix_only
def test_tighten_file(tmp_path):
    f = tmp_path / "gallery.db"
    f.write_bytes(b"x")
    os.chmod(f, 0o644)
    tighten_file(f)
    assert mode(f) == 0o600
    link = tmp_path / "link"
    link.symlink_to(f)
    os.chmod(f, 0o644)
    with pytest.raises(KioskError, match="symbolic link"):
        tighten_file(link)
    assert mode(f) == 0o644
    with pytest.raises(KioskError, match="no such file"):
        tighten_file(tmp_path / "missing")


@posix_only
def test_shred_file_overwrites_then_unlinks(tmp_path):
    f = tmp_path / "plain.db"
    f.write_bytes(b"Zephyrine" * 1000)
    keep = os.open(f, os.O_RDONLY)  # a second name on the same inode sees the zeros
    try:
        shred_file(f)
        assert not f.exists()
        assert os.pread(keep, 9000, 0) == b"\0" * 9000
    finally:
        os.close(keep)
    shred_file(f)  # missing: fine
