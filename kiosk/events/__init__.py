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

__all__ = [
    "EVENT_TYPES", "BaseSink", "DeliveryError", "EventBus", "EventsConfig", "EventsError",
    "Health", "HealthProvider", "HostDirectory", "KioskEvent", "KioskMetrics", "MqttConfig",
    "NotifyConfig", "RetryPolicy", "Sink", "SinkStatus", "StatusServer", "WebhookTarget",
    "kiosk_health", "parse_events_config", "verify_signature",
]
