"""The local gallery: people, their samples and templates, and visits (SQLite)."""

from kiosk.gallery.store import Gallery, Person, TemplateSet

__all__ = ["Gallery", "Person", "TemplateSet"]
