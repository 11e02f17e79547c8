"""Fullscreen kiosk mode (the decisions are kiosk.checkin.session's; this package renders them).

- window.py: `KioskWindow`, the screens (attract, camera, greeting card, receptionist message,
  "please lower your mask", unavailable) and the lock (Escape or a long corner press).
- camera.py: `KioskCamera`, the live picture with the face guide.
- pin_lock.py: `PinLock`, the admin PIN that leaves kiosk mode.
- restart.py: `WorkerRestarts`, the borrowed recognition worker brought back with a backoff.
"""

from ui.kiosk_mode.camera import KioskCamera
from ui.kiosk_mode.pin_lock import PinLock
from ui.kiosk_mode.restart import RESTART_BACKOFF_S, WorkerRestarts
from ui.kiosk_mode.window import KioskWindow

__all__ = ["RESTART_BACKOFF_S", "KioskCamera", "KioskWindow", "PinLock", "WorkerRestarts"]
