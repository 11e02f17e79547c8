"""The sinks an EventsConfig asks for (secrets resolved, files checked, once, at start)."""

from __future__ import annotations

from kiosk.events.config import EventsConfig, resolve_secret
from kiosk.events.directory import HostDirectory
from kiosk.events.sink import Sink


def build_sinks(config: EventsConfig, *, directory: HostDirectory | None = None) -> list[Sink]:
    """Webhooks (in order), then MQTT, then notifications. Raises EventsError (one line, no
    secret) for a setup problem: an unset secret variable, an unreadable CA file."""
    sinks: list[Sink] = []
    if config.webhooks:
        from kiosk.events.webhook import WebhookSink

        for i, target in enumerate(config.webhooks, start=1):
            secret = resolve_secret(target.secret, target.secret_env, f"webhook #{i} secret")
            sinks.append(WebhookSink(target, secret=secret, index=i))
    if config.mqtt is not None:
        # Imported only when configured: paho is not needed otherwise.
        from kiosk.events.mqtt import MqttSink

        password = resolve_secret(config.mqtt.password, config.mqtt.password_env, "mqtt password")
        sinks.append(MqttSink(config.mqtt, site=config.site, kiosk=config.kiosk,
                              password=password))
    if config.notify is not None:
        from kiosk.events.notify import HostNotifier

        sinks.append(HostNotifier(config.notify, kiosk_name=config.display_name,
                                  site=config.site, directory=directory))
    return sinks
