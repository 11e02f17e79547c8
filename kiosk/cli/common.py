"""What every `face-kiosk` command shares: the gallery path, opening it by the privacy rules,
asking for the admin PIN or a passphrase, and JSON lines."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from kiosk.config import Config, config_from_args, default_data_dir
from kiosk.errors import KioskError
from kiosk.gallery import GalleryStore
from kiosk.gallery.open import is_url
from kiosk.gallery.open import open_gallery as open_target
from kiosk.gallery.retention import purge_retention

PIN_ENV = "FACE_KIOSK_ADMIN_PIN"  # for scripts: the admin PIN without a prompt
PASSPHRASE_ENV = "FACE_KIOSK_EXPORT_PASSPHRASE"  # for scripts: the export passphrase


def db_path(args: argparse.Namespace) -> Path:
    """The SQLite gallery file of a command: --db, or the user data folder's (KioskError for a
    PostgreSQL URL: the caller works on files only)."""
    target = db_target(args)
    if isinstance(target, str):
        raise KioskError("this command works on a gallery file, not on a PostgreSQL gallery (--db URL)")
    return target


def db_target(args: argparse.Namespace) -> str | Path:
    """The gallery of a command: --db (a path or a postgresql:// URL), else the config's
    gallery.url, else the user data folder's file."""
    given = getattr(args, "db", None)
    if given:
        return given.strip() if is_url(given) else Path(given)
    url = config(args).gallery.url
    return url if url else default_data_dir() / "gallery.db"


def config(args: argparse.Namespace) -> Config:
    """The config file plus the command's overrides."""
    return config_from_args(args)


def open_gallery(args: argparse.Namespace, *, create: bool = False, admin: bool = False,
                 purpose: str = "") -> GalleryStore:
    """The command's gallery (a file or a PostgreSQL URL), opened by the rules: never made by a
    read command (`create`), expired people and visits purged (retention), the admin PIN asked
    for when `admin` and the gallery has one (for `purpose`)."""
    cfg = config(args)
    gallery = open_target(db_target(args), create=create, encrypt=cfg.privacy.encrypt, actor=f"cli:{_user()}",
                          site=cfg.events.site, kiosk=cfg.events.kiosk,
                          encrypt_templates=cfg.gallery.encrypt_templates, listen=False)
    try:
        purge_retention(gallery, cfg.privacy)
        if admin:
            require_admin(gallery, purpose)
    except BaseException:
        gallery.close()
        raise
    return gallery


def require_admin(gallery: GalleryStore, purpose: str) -> None:
    """Ask for the admin PIN (FACE_KIOSK_ADMIN_PIN, else a prompt) when the gallery has one."""
    from kiosk.gallery.admin_pin import AdminPin

    pin = AdminPin(gallery)
    if not pin.is_set():
        return
    entered = os.environ.get(PIN_ENV)
    if entered is None:
        if not sys.stdin.isatty():
            raise KioskError(f"{purpose} needs the admin PIN: set {PIN_ENV} or run it in a terminal")
        entered = getpass.getpass(f"Admin PIN ({purpose}): ")
    result = pin.check(entered)
    if not result.ok:
        raise KioskError(result.message)


def passphrase(confirm: bool, what: str) -> str:
    """The export passphrase: FACE_KIOSK_EXPORT_PASSPHRASE, else asked (twice for a new one)."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise KioskError(f"{what} needs a passphrase: set {PASSPHRASE_ENV} or run it in a terminal")
    value = getpass.getpass(f"Passphrase for {what}: ")
    if confirm and getpass.getpass("The same passphrase again: ") != value:
        raise KioskError("the two passphrases differ; nothing was written")
    return value


def confirm(question: str, assume_yes: bool) -> None:
    """Ask yes/no on the terminal (`--yes` for scripts); refuse when there is no terminal."""
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise KioskError(f"{question} Add --yes to confirm when running without a terminal")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise KioskError("cancelled; nothing was changed")


def printable(text: str) -> str:
    """Text safe to print: bytes of a file name that are not UTF-8 (kept by Python as lone
    surrogates) shown as U+FFFD instead of failing the write."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def say(text: str, *, err: bool = False) -> None:
    """Print a line (stdout, or stderr with `err`), printable whatever the file names hold."""
    print(printable(text), file=sys.stderr if err else sys.stdout)


def jsonl(obj: dict[str, Any]) -> None:
    """One JSON object on its own line on stdout."""
    sys.stdout.write(printable(json.dumps(obj, ensure_ascii=False)) + "\n")
    sys.stdout.flush()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
