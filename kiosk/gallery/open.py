"""One way to open a gallery: a `postgresql://` (or `postgres://`) URL gives the shared
PostgreSQL gallery (kiosk.gallery.postgres.PgGallery), a plain path the embedded SQLite one
(kiosk.gallery.sqlite.Gallery). Every libpq option in the URL (sslmode, sslrootcert,
connect_timeout, ...) is passed through as it is."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.gallery.api import GalleryStore

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(target: str | Path) -> bool:
    """True for a PostgreSQL URL (a path is never one)."""
    return isinstance(target, str) and target.strip().lower().startswith(URL_SCHEMES)


def describe(target: str | Path) -> str:
    """What messages may show of a target: the path, or the URL without its password."""
    if is_url(target):
        from kiosk.gallery.postgres import redact_url

        return redact_url(str(target))
    return str(target)


def open_gallery(target: str | Path, *, create: bool = True, encrypt: bool = True, actor: str = "app",
                 site: str = "", kiosk: str = "", encrypt_templates: bool = True, listen: bool = True,
                 spool_path: str | Path | None = None, tighten_folder: bool = True) -> GalleryStore:
    """The gallery at `target` (a GalleryStore): PgGallery for a URL, Gallery for a path.

    `encrypt` is the SQLite file's encryption; `encrypt_templates` (a new PostgreSQL gallery
    only) whether templates are encrypted too (crops always are); `site` and `kiosk` go on
    visits; `listen=False` starts no change listener (one-shot commands); `tighten_folder=False`
    leaves an existing folder of a new gallery file as it is (a copy into the user's folder).
    """
    if is_url(target):
        from kiosk.gallery.postgres import PgGallery

        return PgGallery(str(target).strip(), create=create, encrypt_templates=encrypt_templates, actor=actor,
                         site=site, kiosk=kiosk, listen=listen, spool_path=spool_path)
    from kiosk.gallery.sqlite import Gallery

    return Gallery(Path(target), create=create, encrypt=encrypt, actor=actor, site=site, kiosk=kiosk,
                   tighten_folder=tighten_folder)
