"""face-kiosk core: camera sources, vision, gallery, matching, config and CLI. Qt-free."""

__version__ = "0.1.0"
