"""Errors the user can act on. Each message is one clear line."""


def as_sentence(message: object) -> str:
    """A one-line message (or error) with a capital first letter, for a dialog; the rest is kept
    as written (str.capitalize would also turn "PIN" into "pin")."""
    text = str(message)
    return text[:1].upper() + text[1:]


def os_reason(exc: OSError) -> str:
    """Why the OS refused a path, in a few words ("File name too long", "Permission denied")."""
    return exc.strerror or type(exc).__name__


class KioskError(Exception):
    """Base for errors that are shown to the user as a one-line message."""


class ImageError(KioskError):
    """An image could not be read (missing, unreadable, truncated, too large, not an image)."""


class ModelError(KioskError):
    """A model file is missing, altered (sha256 mismatch) or cannot be loaded."""


class GalleryError(KioskError):
    """The gallery database is corrupt, from a newer version, or refuses an operation."""


class ModelMismatchError(GalleryError):
    """Templates were made by another model (or model version) than the one in use."""


class FaceNotFoundError(KioskError):
    """No usable face in an image."""


class AmbiguousFaceError(KioskError):
    """Several faces of similar size: which one is meant cannot be told."""
