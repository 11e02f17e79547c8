"""The gallery: people, their samples and templates, visits and settings.

`kiosk.gallery.api` is the backend-neutral interface (typed rows, GalleryStore); the SQLite
backend is `kiosk.gallery.sqlite.Gallery`.
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
from kiosk.gallery.sqlite import Gallery

__all__ = ["Gallery", "GalleryStore", "NewSample", "NewTemplate", "Person", "PersonDetails", "Sample",
           "StoredTemplate", "TemplateSet", "Visit"]
