"""What every `face-kiosk` command shares: opening its gallery by the privacy rules (which
gallery, and the rules themselves: kiosk.gallery.target), asking for the admin PIN or a
passphrase, and JSON lines."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from kiosk.config import LIVENESS_MODES, config_from_args
from kiosk.errors import KioskError

if TYPE_CHECKING:  # the gallery's modules load when a command opens one, not to parse the line
    from kiosk.gallery import GalleryStore

PIN_ENV = "FACE_KIOSK_ADMIN_PIN"  # for scripts: the admin PIN without a prompt
PASSPHRASE_ENV = "FACE_KIOSK_EXPORT_PASSPHRASE"  # for scripts: the export passphrase


def open_gallery(args: argparse.Namespace, *, create: bool = False, admin: bool = False,
                 purpose: str = "") -> GalleryStore:
    """The command's gallery (a file or a PostgreSQL URL), opened by the rules
    (kiosk.gallery.target): never made by a read command (`create`), expired people and visits
    purged (retention), the admin PIN asked for when `admin` and the gallery has one (for
    `purpose`)."""
    from kiosk.gallery.target import open_target_gallery

    return open_target_gallery(args, config_from_args(args), actor=f"cli:{_user()}", create=create,
                               check_admin=(lambda gallery: require_admin(gallery, purpose)) if admin else None)


def add_liveness_option(parser: argparse.ArgumentParser, still: bool = False) -> None:
    """`--liveness MODE`: the liveness check's mode for this run (default: the config's)."""
    what = ("on still images only the passive model can judge: passive and active both run it; adds "
            "\"liveness\" and \"live\" to each face") if still else \
        "off: no check; passive: greet only faces judged live; active: also ask an unsure visitor to turn their head"
    parser.add_argument("--liveness", choices=LIVENESS_MODES, metavar="MODE",
                        help=f"presentation-attack check, one of {', '.join(LIVENESS_MODES)} (default: the "
                             f"config's liveness.mode); {what}")


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
