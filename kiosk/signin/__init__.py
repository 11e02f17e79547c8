"""The kiosk's visitor screens, Qt-free: first-time sign-in (flow.py, capture.py), today's
expected list and leaving (leaving.py), the type-ahead (search.py), the visitor's language
(language.py), the on-screen keyboard's layouts (keyboard.py) and the badge (badge.py). The
words are msgids (texts.py) translated by kiosk.i18n; ui.kiosk_mode renders it all.
"""

from kiosk.signin.flow import DeskFlow, DeskState, DeskTiming, Liveness, LivenessGate, Step

__all__ = ["DeskFlow", "DeskState", "DeskTiming", "Liveness", "LivenessGate", "Step"]
