"""The kiosk's decisions, Qt-free, shared by the fullscreen kiosk and `face-kiosk watch`.

One `KioskSession` per camera: live results in (kiosk.recognition.live.FrameResult), and out
come the screen state (KioskFlow), the visit rows (CheckinLog: one visit per person per
cooldown, one event per unknown visitor) and events for other systems (kiosk.events): an
`arrival` when someone is greeted (with whether a visit was written), `unknown` when a stranger
is sent to the receptionist, `ask_to_unmask` when a visitor is asked to lower the mask.
The window only renders the state; the headless mode only prints and publishes the events.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from kiosk.checkin.flow import FlowTiming, KioskFlow, KioskState, Screen, observe_result
from kiosk.checkin.visits import CheckinLog, local_now
from kiosk.config import Config
from kiosk.events.event import KioskEvent
from kiosk.gallery.api import GalleryStore, Visit
from kiosk.recognition.live import FrameResult
from kiosk.recognition.verdict import NO_SCORE

log = logging.getLogger(__name__)

Publish = Callable[[KioskEvent], None]


class MediaClock:
    """The flow's clock when a file is replayed frame by frame at its own time (`watch` on a
    file, `gui --every-frame`): the capture time of the newest frame seen, so every timeout
    counts the media's seconds, not how long this machine took to analyse them."""

    def __init__(self) -> None:
        self.t = 0.0

    def follow(self, timestamp: float) -> None:
        """Move on to a newer frame's capture time (never back)."""
        self.t = max(self.t, timestamp)

    def __call__(self) -> float:
        return self.t


class KioskSession:
    """Screen state, visits and events of one kiosk camera. Call from one thread."""

    def __init__(self, gallery: GalleryStore, config: Config, *, kiosk: str | None = None,
                 publish: Publish | None = None, flow_clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], dt.datetime] = local_now,
                 on_visit: Callable[[Visit], None] | None = None) -> None:
        """`kiosk`: this camera's id in visits and events (default: the config's events.kiosk)."""
        self.config = config
        self.site = config.events.site
        self.kiosk = kiosk or config.events.kiosk
        self.publish = publish
        self.on_visit = on_visit
        self._wall_clock = wall_clock
        self.checkins = CheckinLog(gallery, config.kiosk.cooldown_s, clock=wall_clock, source=self.kiosk)
        self.flow = KioskFlow(self, FlowTiming.from_config(config.kiosk), clock=flow_clock)
        self.flow.subscribe(self._on_state)
        self._t0: float | None = None
        self._t = 0.0
        self.events: list[KioskEvent] = []  # every event so far (bounded: the last EVENTS_KEPT)

    EVENTS_KEPT = 256

    # -- in -------------------------------------------------------------------------------

    def observe(self, result: FrameResult) -> KioskState:
        """One live result; `t` of the events is seconds since the first result's capture."""
        if self._t0 is None:
            self._t0 = result.timestamp
        self._t = max(0.0, result.timestamp - self._t0)
        return observe_result(self.flow, result)

    def tick(self) -> KioskState:
        """The passing of time without a frame (timeouts of the greeting and the mask request)."""
        return self.flow.tick()

    # -- the flow's visit log (KioskFlow calls these) --------------------------------------

    def checkin(self, person_id: int, score: float | None, masked: bool) -> Visit | None:
        """Log a recognised person (once per cooldown)."""
        visit = self.checkins.checkin(person_id, score, masked)
        if visit is not None and self.on_visit is not None:
            self.on_visit(visit)
        return visit

    def unknown(self, track_id: object, score: float | None, masked: bool) -> Visit | None:
        """Log an unknown visitor (once per track)."""
        visit = self.checkins.unknown(track_id, score, masked)
        if visit is not None and self.on_visit is not None:
            self.on_visit(visit)
        return visit

    # -- out ------------------------------------------------------------------------------

    def _on_state(self, state: KioskState) -> None:
        kind = {Screen.GREETING: "arrival", Screen.UNKNOWN: "unknown", Screen.LOWER_MASK: "ask_to_unmask"}.get(
            state.screen)
        if kind is None or state.track_id is None:
            return
        event = KioskEvent(
            event=kind,  # type: ignore[arg-type]
            t=round(self._t, 3), track=int(state.track_id), kiosk=self.kiosk, site=self.site,
            masked=bool(state.masked), logged=bool(state.recorded) if kind != "ask_to_unmask" else False,
            person=state.name if kind == "arrival" else None,
            person_id=state.person_id if kind == "arrival" else None,
            # null when nobody was compared (an empty gallery), not the sentinel -1.
            score=None if state.score is None or state.score <= NO_SCORE else round(float(state.score), 4),
            time=self._wall_clock().astimezone(dt.timezone.utc),
        )
        self.events.append(event)
        del self.events[: -self.EVENTS_KEPT]
        if self.publish is not None:
            try:
                self.publish(event)
            except Exception:  # delivery never stops the kiosk (the bus itself never raises)
                log.exception("publishing a %s event failed", kind)
