"""MQTT: each event on `<prefix>/<site>/<kiosk>/event`, the kiosk's presence on `.../status`.

`status` is retained: `online` once connected, `offline` on a clean close and, as the last will
(LWT), when the connection dies without one (the broker publishes it), like Frigate's
`frigate/available`. paho's loop thread connects and reconnects with backoff; while it is
disconnected the bus keeps events in the sink's bounded queue (`wait_ready` is False), so they
are delivered after the reconnect. Delivery is at-least-once for QoS 1 and 2: an event whose
acknowledgement timed out is published again.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from kiosk.events.config import MqttConfig
from kiosk.events.errors import DeliveryError, EventsError
from kiosk.events.event import KioskEvent
from kiosk.events.ratelog import RateLimitedLog
from kiosk.events.sink import BaseSink

log = logging.getLogger("kiosk.events")

ONLINE = "online"
OFFLINE = "offline"
# CONNACK codes that a retry will not fix (MQTT 3.1.1 codes 4 and 5 as paho maps them, and
# their MQTT 5 spellings): the bus then fails events at once instead of queueing them.
# 133 client id not valid, 134 bad user name or password, 135 not authorized, 138 banned,
# 140 bad authentication method.
_REFUSED_FOR_GOOD = frozenset({133, 134, 135, 138, 140})
# paho holds at most this many unacknowledged messages (the bus queue is the real buffer).
_PAHO_QUEUE = 100
_CONNECT_TIMEOUT_S = 5.0


def topics(config: MqttConfig, site: str, kiosk: str) -> tuple[str, str]:
    """The (event, status) topics for one kiosk."""
    base = f"{config.topic_prefix}/{site}/{kiosk}"
    return f"{base}/event", f"{base}/status"


class MqttSink(BaseSink):
    """Publishes events to an MQTT broker through paho-mqtt 2.x."""

    def __init__(self, config: MqttConfig, *, site: str, kiosk: str, password: str | None,
                 rlog: RateLimitedLog | None = None) -> None:
        """`password` is the resolved password (see config.resolve_secret), or None."""
        self._config = config
        self.event_topic, self.status_topic = topics(config, site, kiosk)
        self._name = f"mqtt {config.host}:{config.port}"
        self._rlog = rlog or RateLimitedLog(log)
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._refused: str | None = None  # the broker's reason, when it refused us for good
        self._problem: str | None = None  # what is wrong with the connection right now
        self._closing = False
        self._started = False
        client_id = config.client_id or f"face-kiosk-{site}-{kiosk}"
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   clean_session=True, protocol=MQTTProtocolVersion.MQTTv311)
        self._client.connect_timeout = _CONNECT_TIMEOUT_S
        self._client.max_queued_messages_set(_PAHO_QUEUE)
        self._client.will_set(self.status_topic, OFFLINE, qos=1, retain=True)
        self._client.reconnect_delay_set(config.reconnect_min_s, config.reconnect_max_s)
        if config.username is not None:
            self._client.username_pw_set(config.username, password)
        if config.tls:
            self._client.tls_set_context(_tls_context(config))
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection."""
        return self._connected.is_set()

    @property
    def refused(self) -> str | None:
        """The broker's reason when it refused the connection (bad password), else None."""
        return self._refused

    @property
    def problem(self) -> str | None:
        """What is wrong with the connection right now (one line), or None."""
        return None if self._connected.is_set() else self._problem

    def start(self) -> None:
        """Connect in paho's background thread (which also reconnects)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self._client.connect_async(self._config.host, self._config.port,
                                   keepalive=self._config.keepalive_s)
        self._client.loop_start()

    def wait_ready(self, timeout: float) -> bool:
        """Connected, or refused for good (then deliver() fails the event at once)."""
        return self._connected.wait(timeout) or self._refused is not None

    def deliver(self, event: KioskEvent) -> None:
        """Publish the event JSON and wait for the broker's acknowledgement (QoS > 0)."""
        if not self._connected.is_set():
            if self._refused is not None:
                raise DeliveryError(f"broker refused the connection: {self._refused}",
                                    retryable=False)
            raise DeliveryError("not connected to the broker", retryable=True)
        info = self._client.publish(self.event_topic, event.to_json().encode("utf-8"),
                                    qos=self._config.qos, retain=False)
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            raise DeliveryError("not connected to the broker", retryable=True)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise DeliveryError(f"publish failed: {paho.error_string(info.rc)}", retryable=True)
        try:
            info.wait_for_publish(self._config.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"publish failed: {exc}", retryable=True) from None
        if not info.is_published():
            raise DeliveryError(f"no acknowledgement within {self._config.publish_timeout_s:g} s",
                                retryable=True)

    def close(self, timeout: float) -> None:
        """Publish the retained `offline` (when connected), disconnect, stop paho's thread."""
        with self._lock:
            self._closing = True
            started = self._started
        if not started:
            return
        if self._connected.is_set():
            info = self._client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                # Disconnected meanwhile: then the broker sends the last will instead.
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(max(0.1, timeout))
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    # --- paho's thread ---

    def _on_connect(self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags,
                    reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure:
            text = str(reason)
            self._problem = f"broker refused the connection: {text}"
            if reason.value in _REFUSED_FOR_GOOD:
                self._refused = text
                advice = ("check the MQTT username and password; events are dropped until "
                          "the broker accepts them")
            else:
                advice = "events are kept in the queue meanwhile"
            self._rlog.log(logging.ERROR, f"{self._name}:connect", text,
                           f"events: {self._name}: broker refused the connection ({text}); "
                           f"{advice}; will keep trying")
            return
        self._refused = None
        self._problem = None
        self._rlog.reset(f"{self._name}:connect")
        log.info("events: %s: connected", self._name)
        # Not waited for here: this runs on paho's network thread, which sends it.
        client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        self._connected.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: paho.DisconnectFlags,
                       reason: ReasonCode, properties: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected and not self._closing:
            self._problem = f"connection lost ({reason})"
            self._rlog.log(logging.WARNING, f"{self._name}:connect", f"lost:{reason}",
                           f"events: {self._name}: connection lost ({reason}); reconnecting")

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._problem = "cannot reach the broker"
        self._rlog.log(logging.WARNING, f"{self._name}:connect", "unreachable",
                       f"events: {self._name}: cannot reach the broker; will keep trying")


def _tls_context(config: MqttConfig) -> ssl.SSLContext:
    if config.ca_file is None:
        return ssl.create_default_context()
    path = Path(config.ca_file).expanduser()
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise EventsError(f"mqtt ca_file {path}: cannot be read as PEM ({type(exc).__name__})") from None
