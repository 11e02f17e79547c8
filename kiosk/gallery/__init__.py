"""The gallery: people, their samples and templates, visits and settings.

`kiosk.gallery.api` is the backend-neutral interface (typed rows, GalleryStore); the SQLite
backend is `kiosk.gallery.sqlite.Gallery`, the shared PostgreSQL + pgvector one
`kiosk.gallery.postgres.PgGallery` (docs/shared-gallery.md); `open_gallery(path_or_url)` picks.
"""

from kiosk.gallery.api import (
    GalleryStore,
    NewSample,
    NewTemplate,
    Person,
    PersonDetails,
    Sample,
    StoredTemplate,
    TemplateSet,
    Visit,
)
from kiosk.gallery.open import open_gallery
from kiosk.gallery.sqlite import Gallery

__all__ = ["Gallery", "GalleryStore", "open_gallery", "NewSample", "NewTemplate", "Person", "PersonDetails", "Sample",
           "StoredTemplate", "TemplateSet", "Visit"]
