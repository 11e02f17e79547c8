"""face-kiosk's desktop app (PySide6): windows, widgets, dialogs and worker threads."""
