"""Which gallery a run works on, and opening it by the rules: one home for the command line
(kiosk.cli) and the desktop app (ui.app, ui.live_bench) alike.

The target is `--db` (a path or a postgresql:// URL), else the config's `gallery.url`, else
the user data folder's `gallery.db`. The config is the file plus the run's overrides
(kiosk.config.config_from_args). Opening it: a read never creates a gallery (`create`),
`check_admin` (the admin PIN, asked the caller's way: a prompt, a dialog) runs first, then the
expired people and visits are purged (kiosk.gallery.retention) unless the caller runs its own
schedule (a failed purge is logged and never blocks the command); whatever fails closes the
gallery again.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from kiosk.config import Config, config_from_args, default_data_dir
from kiosk.errors import KioskError
from kiosk.gallery.api import GalleryStore
from kiosk.gallery.open import is_url, open_gallery
from kiosk.gallery.retention import purge_on_open


def gallery_target(args: argparse.Namespace, config: Config | None = None) -> str | Path:
    """The gallery of a run: `args.db` (a path or a postgresql:// URL), else the config's
    gallery.url, else the user data folder's file. `config` saves reading the file again."""
    given = getattr(args, "db", None)
    if given:
        return given.strip() if is_url(given) else Path(given)
    url = (config or config_from_args(args)).gallery.url
    return url if url else default_data_dir() / "gallery.db"


def gallery_file(args: argparse.Namespace, config: Config | None = None) -> Path:
    """The SQLite gallery file of a run (KioskError for a PostgreSQL URL: the caller works on
    files only)."""
    target = gallery_target(args, config)
    if isinstance(target, str):
        raise KioskError("this command works on a gallery file, not on a PostgreSQL gallery (--db URL)")
    return target


def open_target_gallery(args: argparse.Namespace, config: Config, *, actor: str, create: bool = False,
                        listen: bool = False, purge: bool = True,
                        check_admin: Callable[[GalleryStore], None] | None = None) -> GalleryStore:
    """The run's gallery (gallery_target), opened by the rules: made only when `create`;
    `check_admin` (e.g. the admin PIN) when given; then expired people and visits purged when
    `purge` (a long-running process passes False and runs a RetentionSchedule instead; a
    shorter visits period than the approved one needs `check_admin`).
    `actor` names who acts in the audit log; `listen` starts the shared gallery's change
    listener (a long-running process)."""
    gallery = open_gallery(gallery_target(args, config), create=create, encrypt=config.privacy.encrypt, actor=actor,
                           site=config.events.site, kiosk=config.events.kiosk,
                           encrypt_templates=config.gallery.encrypt_templates, listen=listen)
    try:
        if check_admin is not None:
            check_admin(gallery)
        if purge:
            purge_on_open(gallery, config.privacy, admin=check_admin is not None)
    except BaseException:
        gallery.close()
        raise
    return gallery
