"""Recognition events to other systems: webhooks, MQTT, apprise notifications, a status endpoint.

Qt-free. Nothing here may slow recognition: `EventBus.publish` only queues; each sink
delivers on its own thread. paho and apprise are imported only when MQTT or notifications
are configured.

    metrics = KioskMetrics()                      # one per kiosk, its own registry
    bus = EventBus.from_config(events_config, directory=gallery, metrics=metrics)
    bus.publish(KioskEvent(event="arrival", t=12.3, track=4, kiosk="desk-1", site="hq",
                           person="Ada Lovelace", person_id=17, score=0.61, logged=True))
    metrics.frame("desk-1", ms)                   # per frame, from the recognition loop
    status = StatusServer(lambda: kiosk_health(last_frame_age_s=..., camera_state="running",
                                               gallery_size=n, sinks=bus.status()),
                          metrics, port=9464).start()
    bus.status()          # [SinkStatus(...), ...]
    bus.close(timeout=5)  # at shutdown, then status.close()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiosk.events.bus import EventBus, SinkStatus
    from kiosk.events.config import (
        EventsConfig,
        MqttConfig,
        NotifyConfig,
        RetryPolicy,
        WebhookTarget,
        parse_events_config,
    )
    from kiosk.events.directory import HostDirectory
    from kiosk.events.errors import DeliveryError, EventsError
    from kiosk.events.event import EVENT_TYPES, KioskEvent
    from kiosk.events.metrics import KioskMetrics
    from kiosk.events.sink import BaseSink, Sink
    from kiosk.events.status import Health, HealthProvider, StatusServer, kiosk_health
    from kiosk.events.webhook import verify_signature

# Where each name lives: imported on first use (PEP 562). kiosk.config reads the events' config
# at every start, and the bus, the metrics (prometheus_client, http.server) and the status
# server are no part of parsing a command line or of commands that send no events.
_HOMES = {
    "EventBus": "bus", "SinkStatus": "bus",
    "EventsConfig": "config", "MqttConfig": "config", "NotifyConfig": "config", "RetryPolicy": "config",
    "WebhookTarget": "config", "parse_events_config": "config",
    "HostDirectory": "directory", "DeliveryError": "errors", "EventsError": "errors",
    "EVENT_TYPES": "event", "KioskEvent": "event", "KioskMetrics": "metrics", "BaseSink": "sink", "Sink": "sink",
    "Health": "status", "HealthProvider": "status", "StatusServer": "status", "kiosk_health": "status",
    "verify_signature": "webhook",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "EVENT_TYPES", "BaseSink", "DeliveryError", "EventBus", "EventsConfig", "EventsError",
    "Health", "HealthProvider", "HostDirectory", "KioskEvent", "KioskMetrics", "MqttConfig",
    "NotifyConfig", "RetryPolicy", "Sink", "SinkStatus", "StatusServer", "WebhookTarget",
    "kiosk_health", "parse_events_config", "verify_signature",
]
