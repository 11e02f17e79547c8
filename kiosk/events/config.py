"""Typed, validated configuration of event delivery (webhooks, MQTT, notifications).

House style of kiosk/config.py: a typo in a key is an error, values are bounded. On top of
that, secrets are `SecretStr` and errors never echo the input (`hide_input_in_errors`), so a
password or an apprise URL with credentials never reaches a repr, a log or an error message.
Secrets are written back in JSON dumps (`model_dump_json`) so that saving a config does not
silently replace them with stars; prefer `secret_env` / `password_env` to keep them out of the
file altogether.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from typing import Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from kiosk.events.errors import EventsError

# One MQTT topic level (no '/', '+', '#'), also safe in a metrics label and a file name.
TOPIC_LEVEL = r"^[A-Za-z0-9._-]{1,64}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
TEMPLATE_FIELDS = frozenset({"name", "kiosk_name", "site", "time"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)


def _reveal(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def resolve_secret(value: SecretStr | None, env_name: str | None, what: str) -> str | None:
    """The secret itself: the configured value, else the named environment variable.

    Raises EventsError (naming the variable, never the value) when the variable is unset.
    """
    if value is not None:
        return value.get_secret_value()
    if env_name is None:
        return None
    found = os.environ.get(env_name)
    if not found:
        raise EventsError(f"{what}: environment variable {env_name} is not set")
    return found


class WebhookTarget(_Strict):
    """One HTTP(S) receiver of the event JSON (POST, HMAC-signed when a secret is set)."""

    url: AnyHttpUrl = Field(description="http:// or https:// URL the events are POSTed to")
    secret: SecretStr | None = Field(
        default=None, min_length=8, max_length=256,
        description="shared secret for the X-Hub-Signature-256 HMAC (sha256) of the body",
    )
    secret_env: str | None = Field(
        default=None, pattern=ENV_NAME,
        description="name of an environment variable holding the secret",
    )
    verify_tls: bool = Field(default=True, description="check the receiver's certificate (https)")
    ca_file: str | None = Field(
        default=None, min_length=1, max_length=1000,
        description="PEM file of the CA (or self-signed cert) to trust instead of the system's",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="connect and read timeout")

    @field_validator("url")
    @classmethod
    def _no_credentials_in_url(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        # Credentials in the URL would end up in reprs and logs; the HMAC secret is the way.
        if url.username or url.password:
            raise ValueError("credentials in the URL are not allowed (use secret or secret_env)")
        return url

    @model_validator(mode="after")
    def _consistent(self) -> WebhookTarget:
        if self.secret is not None and self.secret_env is not None:
            raise ValueError("give secret or secret_env, not both")
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file is given but verify_tls is off")
        return self

    @field_serializer("secret", when_used="json")
    def _dump_secret(self, value: SecretStr | None) -> str | None:
        return _reveal(value)


class MqttConfig(_Strict):
    """The MQTT broker events are published to (paho-mqtt, MQTT 3.1.1)."""

    host: str = Field(min_length=1, max_length=253, pattern=r"^[^\s/:@]+$")
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = Field(default=None, min_length=1, max_length=256)
    password: SecretStr | None = Field(default=None, max_length=256)
    password_env: str | None = Field(
        default=None, pattern=ENV_NAME,
        description="name of an environment variable holding the password",
    )
    tls: bool = Field(default=False, description="TLS to the broker (certificate verified)")
    ca_file: str | None = Field(
        default=None, min_length=1, max_length=1000, description="PEM CA file (tls)"
    )
    topic_prefix: str = Field(default="face-kiosk", pattern=TOPIC_LEVEL)
    qos: int = Field(default=1, ge=0, le=2)
    keepalive_s: int = Field(
        default=30, ge=5, le=3600, description="the broker fires the last will after ~1.5x this"
    )
    client_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
        description="default: face-kiosk-<site>-<kiosk>",
    )
    publish_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="wait for the broker's ack"
    )
    # Whole seconds: paho's reconnect_delay_set takes ints.
    reconnect_min_s: int = Field(default=1, ge=1, le=60, description="first reconnect delay")
    reconnect_max_s: int = Field(default=60, ge=1, le=3600, description="longest reconnect delay")

    @model_validator(mode="after")
    def _consistent(self) -> MqttConfig:
        if self.password is not None and self.password_env is not None:
            raise ValueError("give password or password_env, not both")
        if (self.password is not None or self.password_env is not None) and self.username is None:
            raise ValueError("a password needs a username")
        if self.ca_file is not None and not self.tls:
            raise ValueError("ca_file is given but tls is off")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    @field_serializer("password", when_used="json")
    def _dump_password(self, value: SecretStr | None) -> str | None:
        return _reveal(value)


def _check_template(template: str) -> str:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        raise ValueError("not a valid template (unbalanced { or })") from None
    for _literal, field_name, _spec, _conversion in parts:
        if field_name is not None and field_name not in TEMPLATE_FIELDS:
            allowed = ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS))
            raise ValueError(f"unknown placeholder {{{field_name}}} (allowed: {allowed})")
    return template


class NotifyConfig(_Strict):
    """Notifications through apprise: the host of an arriving visitor, reception for strangers
    and for faces the liveness check refused."""

    host_urls_from_person: bool = Field(
        default=True, description="notify the arriving person's host (contacts from the gallery)"
    )
    reception_urls: list[SecretStr] = Field(
        default_factory=list, max_length=20,
        description="apprise URLs notified about unknown visitors (they may hold passwords)",
    )
    email_url: SecretStr | None = Field(
        default=None, max_length=2000,
        description="apprise mailto:// or mailtos:// URL of the SMTP server used for host "
        "contacts given as bare e-mail addresses (the address is added as to=)",
    )
    arrival_template: str = Field(
        default="{name} has arrived at {kiosk_name}", min_length=1, max_length=500
    )
    unknown_template: str = Field(
        default="An unknown visitor is at {kiosk_name}", min_length=1, max_length=500
    )
    sign_in_template: str = Field(
        default="{name} has signed in at {kiosk_name} to see you", min_length=1, max_length=500,
        description="to the host of a visitor who signed in by touch (first time, or picked from "
        "the expected list); a recognised invited guest gets arrival_template",
    )
    attack_template: str = Field(
        default="A photo or a screen was held up to the camera at {kiosk_name}; the visitor was "
        "sent to the reception desk", min_length=1, max_length=500,
        description="to reception_urls when the liveness check refuses a face (a presentation attack)",
    )
    title: str = Field(default="Visitor at {kiosk_name}", max_length=200)
    timeout_s: float = Field(
        default=20.0, gt=0, le=120,
        description="connect and read timeout of each notification (caps the URL's cto/rto)",
    )

    @field_validator("arrival_template", "unknown_template", "sign_in_template", "attack_template", "title")
    @classmethod
    def _templates(cls, value: str) -> str:
        return _check_template(value)

    @field_validator("reception_urls")
    @classmethod
    def _apprise_urls(cls, urls: list[SecretStr]) -> list[SecretStr]:
        # Imported here: apprise (and its ~100 plugins) loads only when notifications are set up.
        from kiosk.events.apprise_urls import check_apprise_url

        for i, url in enumerate(urls):
            problem = check_apprise_url(url.get_secret_value())
            if problem:
                raise ValueError(f"item {i}: {problem}")
        return urls

    @field_validator("email_url")
    @classmethod
    def _email_url(cls, url: SecretStr | None) -> SecretStr | None:
        from kiosk.events.apprise_urls import check_apprise_url, email_to_url

        if url is None:
            return None
        value = url.get_secret_value()
        if not value.lower().startswith(("mailto://", "mailtos://")):
            raise ValueError("must be a mailto:// or mailtos:// URL")
        # apprise rejects a mailto:// URL without a recipient; the contacts supply it.
        problem = check_apprise_url(email_to_url(value, "check@example.com"))
        if problem:
            raise ValueError(problem)
        return url

    @field_serializer("reception_urls", when_used="json")
    def _dump_urls(self, urls: list[SecretStr]) -> list[str]:
        return [u.get_secret_value() for u in urls]

    @field_serializer("email_url", when_used="json")
    def _dump_email_url(self, value: SecretStr | None) -> str | None:
        return _reveal(value)


class RetryPolicy(_Strict):
    """Exponential backoff for retryable failures: base * 2^(n-1), capped, minus jitter."""

    max_attempts: int = Field(
        default=5, ge=1, le=50, description="tries per event, the first included"
    )
    base_delay_s: float = Field(default=1.0, ge=0.001, le=60)
    max_delay_s: float = Field(default=60.0, ge=0.001, le=3600)
    jitter: float = Field(
        default=0.2, ge=0, le=1, description="each delay is shortened by up to this fraction"
    )

    @model_validator(mode="after")
    def _ordered(self) -> RetryPolicy:
        if self.max_delay_s < self.base_delay_s:
            raise ValueError("max_delay_s must be >= base_delay_s")
        return self

    def delay_s(self, attempt: int, random01: float) -> float:
        """Wait before try `attempt + 1` after `attempt` failed; `random01` is in [0, 1)."""
        raw = self.base_delay_s * (2.0 ** min(attempt - 1, 30))
        return min(raw, self.max_delay_s) * (1.0 - self.jitter * random01)


class EventsConfig(_Strict):
    """Where recognition events go. No sinks configured: events are only counted."""

    webhooks: list[WebhookTarget] = Field(default_factory=list, max_length=20)
    mqtt: MqttConfig | None = None
    notify: NotifyConfig | None = None
    queue_size: int = Field(
        default=1000, ge=1, le=100_000, description="events kept per sink; oldest dropped"
    )
    retry: RetryPolicy = Field(default_factory=lambda: RetryPolicy())
    site: str = Field(default="main", pattern=TOPIC_LEVEL, description="site id (MQTT topic level)")
    kiosk: str = Field(
        default="kiosk", pattern=TOPIC_LEVEL, description="kiosk id (MQTT topic level)"
    )
    kiosk_name: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="shown in notifications; default: kiosk",
    )

    @property
    def display_name(self) -> str:
        """The kiosk's name for people (kiosk_name, else the kiosk id)."""
        return self.kiosk_name or self.kiosk


def parse_events_config(data: Mapping[str, Any]) -> EventsConfig:
    """Validate a config dict; a problem becomes one EventsError line naming the key."""
    try:
        return EventsConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "events"
        raise EventsError(f"events config: {where}: {first['msg']}") from None
