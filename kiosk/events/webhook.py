"""Webhooks: POST each event's JSON, signed like GitHub's (X-Hub-Signature-256).

Standard library only (`http.client` with an `ssl.SSLContext`): one request per event, no
redirects followed (a POST silently turned into a GET would lose the event), no proxy from the
environment (a kiosk talks to its LAN directly), TLS verified unless switched off.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import socket
import ssl
from pathlib import Path

from kiosk import __version__
from kiosk.events.config import WebhookTarget
from kiosk.events.errors import DeliveryError, EventsError
from kiosk.events.event import KioskEvent
from kiosk.events.sink import BaseSink

log = logging.getLogger("kiosk.events")

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_ID_HEADER = "X-Face-Kiosk-Event"
USER_AGENT = f"face-kiosk/{__version__}"
# A receiver's answer is not used; read a little so the connection closes cleanly.
_MAX_RESPONSE_BYTES = 64 * 1024


def sign(secret: str | bytes, body: bytes) -> str:
    """The X-Hub-Signature-256 header value for `body`: `sha256=<hex HMAC-SHA256>`."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True when `header` is the right X-Hub-Signature-256 for `body` (constant-time)."""
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"),
                               header.strip().encode("ascii", "replace"))


def ssl_context(target: WebhookTarget) -> ssl.SSLContext:
    """The TLS context for `target`: system CAs, or only `ca_file`; or no checks at all."""
    if not target.verify_tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if target.ca_file is None:
        return ssl.create_default_context()
    path = Path(target.ca_file).expanduser()
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise EventsError(f"webhook ca_file {path}: cannot be read as PEM ({type(exc).__name__})") from None


class WebhookSink(BaseSink):
    """Delivers events to one webhook target."""

    def __init__(self, target: WebhookTarget, *, secret: str | None, index: int = 1) -> None:
        """`secret` is the resolved HMAC secret (see config.resolve_secret), or None."""
        url = target.url
        self._https = url.scheme == "https"
        self._host = url.host or ""
        self._port = url.port or (443 if self._https else 80)
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._timeout_s = target.timeout_s
        self._secret = secret.encode("utf-8") if secret else None
        self._context = ssl_context(target) if self._https else None
        # Scheme, host and port only: a path or query may hold a token (Slack-style URLs).
        self._name = f"webhook#{index} {url.scheme}://{self._host}:{self._port}"
        if self._https and not target.verify_tls:
            log.warning("events: %s: TLS certificate checks are off", self._name)

    def headers(self, event: KioskEvent, body: bytes) -> dict[str, str]:
        """The request headers for `event` with `body`."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event.event_id,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        return headers

    def deliver(self, event: KioskEvent) -> None:
        """POST the event; DeliveryError says whether a retry can help."""
        body = event.to_json().encode("utf-8")
        connection = self._connect()
        try:
            connection.request("POST", self._path, body=body, headers=self.headers(event, body))
            response = connection.getresponse()
            response.read(_MAX_RESPONSE_BYTES)
            status = response.status
            retry_after = _retry_after(response.getheader("Retry-After"))
        except ssl.SSLCertVerificationError as exc:
            # Checked before OSError (it is one): a certificate will not fix itself on retry.
            raise DeliveryError(f"TLS certificate not trusted ({exc.verify_message})",
                                retryable=False) from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"TLS error ({exc.reason or type(exc).__name__})",
                                retryable=True) from None
        except TimeoutError:  # socket.timeout is an alias since 3.10
            raise DeliveryError(f"timed out after {self._timeout_s:g} s", retryable=True) from None
        except ConnectionRefusedError:
            raise DeliveryError("connection refused", retryable=True) from None
        except http.client.InvalidURL:
            raise DeliveryError("invalid URL", retryable=False) from None
        except socket.gaierror:
            raise DeliveryError(f"cannot resolve host {self._host}", retryable=True) from None
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"connection failed ({type(exc).__name__})", retryable=True) from None
        finally:
            connection.close()
        if 200 <= status < 300:
            return
        if status == 429 or status >= 500:
            raise DeliveryError(f"HTTP {status}", retryable=True, retry_after_s=retry_after)
        if 300 <= status < 400:
            raise DeliveryError(f"HTTP {status} (redirects are not followed)", retryable=False)
        raise DeliveryError(f"HTTP {status}", retryable=False)

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout_s,
                                               context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)


def _retry_after(value: str | None) -> float | None:
    # Only the delay-seconds form; an HTTP date is rare from webhook receivers.
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 3600 else None
