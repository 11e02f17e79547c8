"""Events config: house style (typos are errors, values bounded) and secrets kept secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kiosk.events.config import (
    EventsConfig,
    MqttConfig,
    NotifyConfig,
    RetryPolicy,
    WebhookTarget,
    parse_events_config,
    resolve_secret,
)
from kiosk.events.errors import EventsError

SECRET = "hunter2-very-secret"


def test_defaults_are_usable_and_deliver_nowhere() -> None:
    config = EventsConfig()
    assert config.webhooks == [] and config.mqtt is None and config.notify is None
    assert config.queue_size == 1000 and config.display_name == "kiosk"
    assert EventsConfig(kiosk="desk-1", kiosk_name="Reception A").display_name == "Reception A"


@pytest.mark.parametrize("data", [
    {"webhooks": [{"url": "https://example.com/h", "secrett": "x"}]},  # typo
    {"queue_size": 0},
    {"queue_size": 10_000_000},
    {"site": "hq/floor-2"},  # would break the MQTT topic
    {"kiosk": "desk+1"},
    {"mqtt": {"host": "broker", "qos": 3}},
    {"mqtt": {"host": "broker", "password": "pw"}},  # a password needs a username
    {"mqtt": {"host": "broker", "ca_file": "/ca.pem"}},  # tls is off
    {"retry": {"base_delay_s": 10, "max_delay_s": 1}},
    {"webhooks": [{"url": "ftp://example.com/h"}]},
    {"webhooks": [{"url": "https://example.com/h", "timeout_s": 0}]},
    {"webhooks": [{"url": "https://example.com/h", "secret": "x" * 20, "secret_env": "S"}]},
    {"webhooks": [{"url": "https://example.com/h", "verify_tls": False, "ca_file": "/c"}]},
    {"notify": {"arrival_template": "{name} is here, {password}"}},
])
def test_bad_values_are_refused_in_one_line(data: dict[str, object]) -> None:
    with pytest.raises(EventsError) as info:
        parse_events_config(data)
    message = str(info.value)
    assert message.startswith("events config: ") and "\n" not in message


def test_secrets_never_show_in_repr_str_or_errors() -> None:
    target = WebhookTarget(url="https://example.com/h", secret=SECRET)  # type: ignore[arg-type]
    mqtt = MqttConfig(host="broker", username="kiosk", password=SECRET)  # type: ignore[arg-type]
    config = EventsConfig(webhooks=[target], mqtt=mqtt)
    for text in (repr(config), str(config), repr(target), repr(mqtt), str(config.model_dump())):
        assert SECRET not in text
    # Errors do not echo the input either (pydantic would, by default).
    with pytest.raises(ValidationError) as info:
        MqttConfig(host="broker", username="kiosk", password=SECRET, port=0)  # type: ignore[arg-type]
    assert SECRET not in str(info.value)
    with pytest.raises(ValidationError) as info:
        WebhookTarget(url=f"https://kiosk:{SECRET}@example.com/h")  # type: ignore[arg-type]
    assert SECRET not in str(info.value) and "credentials in the URL" in str(info.value)


def test_saving_keeps_the_secrets() -> None:
    # model_dump_json is what save_config writes: stars there would lose the secret.
    config = EventsConfig(
        webhooks=[WebhookTarget(url="https://example.com/h", secret=SECRET)],  # type: ignore[arg-type]
        mqtt=MqttConfig(host="broker", username="kiosk", password=SECRET),  # type: ignore[arg-type]
    )
    again = EventsConfig.model_validate_json(config.model_dump_json())
    assert again.webhooks[0].secret is not None
    assert again.webhooks[0].secret.get_secret_value() == SECRET
    assert again.mqtt is not None and again.mqtt.password is not None
    assert again.mqtt.password.get_secret_value() == SECRET


def test_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    target = WebhookTarget(url="https://example.com/h", secret_env="KIOSK_HOOK_SECRET")  # type: ignore[arg-type]
    monkeypatch.delenv("KIOSK_HOOK_SECRET", raising=False)
    with pytest.raises(EventsError, match="KIOSK_HOOK_SECRET is not set"):
        resolve_secret(target.secret, target.secret_env, "webhook #1 secret")
    monkeypatch.setenv("KIOSK_HOOK_SECRET", SECRET)
    assert resolve_secret(target.secret, target.secret_env, "webhook #1 secret") == SECRET
    assert resolve_secret(None, None, "nothing") is None


def test_a_bad_apprise_url_is_refused_at_config_time_in_one_line() -> None:
    with pytest.raises(EventsError) as info:
        parse_events_config({"notify": {"reception_urls": [
            "json://127.0.0.1:8080/ok", f"nosuchscheme://reception:{SECRET}@example.com",
        ]}})
    message = str(info.value)
    assert "\n" not in message and SECRET not in message
    assert "notify.reception_urls" in message and "item 1" in message
    assert "unsupported apprise scheme nosuchscheme://" in message
    with pytest.raises(EventsError, match="not a valid json:// URL"):
        parse_events_config({"notify": {"reception_urls": ["json://"]}})
    with pytest.raises(EventsError, match="mailto:// or mailtos://"):
        parse_events_config({"notify": {"email_url": "json://127.0.0.1/"}})
    ok = NotifyConfig(reception_urls=["json://127.0.0.1:8080/ok"],  # type: ignore[list-item]
                      email_url="mailto://127.0.0.1:2525?from=kiosk@example.com&mode=insecure")  # type: ignore[arg-type]
    assert SECRET not in repr(ok) and "127.0.0.1" not in repr(ok)


def test_retry_delays_grow_are_capped_and_jittered_down() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=1, max_delay_s=5, jitter=0.5)
    assert [policy.delay_s(n, 0.0) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert policy.delay_s(1, 0.999) == pytest.approx(0.5005)
    assert RetryPolicy(jitter=0).delay_s(3, 0.7) == 4.0
