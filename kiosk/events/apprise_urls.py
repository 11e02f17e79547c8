"""apprise set up for a kiosk: plugins loaded once, URLs checked without leaking them.

Apprise URLs often carry passwords (mailtos://user:pass@host), so they are treated as secrets:
check messages name the scheme only, and apprise's own error line about a bad URL is held back
while we check (we report the problem ourselves, once, in one line).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from apprise.plugins import N_MGR

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_EMAIL = re.compile(r"^[^@\s/:]+@[^@\s/:]+\.[^@\s/:]+$")
_load_lock = threading.Lock()
_loaded = False


def load_plugins() -> None:
    """Load apprise's plugins (once per process).

    Apprise loads them lazily on first use; some import the deprecated `imghdr` module, whose
    DeprecationWarning is not ours to fix but would fail a `-W error` run, so it is silenced
    for this one import only.
    """
    global _loaded
    with _load_lock:
        if _loaded:
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*imghdr.*", category=DeprecationWarning)
            N_MGR.load_modules()  # type: ignore[no-untyped-call]  # apprise leaves it untyped
        _loaded = True


def new_asset() -> apprise.AppriseAsset:
    """An asset for a kiosk: no disk cache, services run on the caller's thread."""
    # The notifier's sink thread is where blocking belongs, so apprise must not hand services
    # to its own threads: async_mode=False stops the parallel pool, service_timeout=0 the
    # shared executor apprise uses to enforce a deadline (time limits are then the services'
    # socket timeouts, see limit_time). MEMORY: nothing written to disk.
    return apprise.AppriseAsset(async_mode=False, service_timeout=0, storage_mode="memory",
                                secure_logging=True)


def limit_time(service: apprise.NotifyBase, seconds: float) -> None:
    """Cap the service's connect and read timeouts at `seconds` (URL settings kept if lower)."""
    service.socket_connect_timeout = min(float(service.socket_connect_timeout), seconds)
    service.socket_read_timeout = min(float(service.socket_read_timeout), seconds)


class _ThisThreadOnly(logging.Filter):
    """Holds back records from one thread (the one using apprise), lets the others through;
    held-back records go to `forward` at DEBUG when given."""

    def __init__(self, forward: logging.Logger | None) -> None:
        super().__init__()
        self.ident = threading.get_ident()
        self.forward = forward

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.ident:
            return True
        if self.forward is not None:
            self.forward.debug("events: apprise: %s", record.getMessage())
        return False


@contextlib.contextmanager
def quiet_apprise(forward: logging.Logger | None = None) -> Iterator[None]:
    """Hold back apprise's own log lines from this thread while the block runs.

    The caller reports the outcome itself, once and rate-limited: apprise would log every
    failed try (and at WARNING). Other threads' apprise logging is untouched.
    """
    quiet = _ThisThreadOnly(forward)
    apprise_log = logging.getLogger("apprise")
    apprise_log.addFilter(quiet)
    try:
        yield
    finally:
        apprise_log.removeFilter(quiet)


def instantiate(url: str,
                asset: apprise.AppriseAsset | None = None) -> apprise.NotifyBase | None:
    """The apprise service for `url`, or None when apprise cannot use it (nothing logged)."""
    load_plugins()
    with quiet_apprise():
        return apprise.Apprise.instantiate(url, asset=asset or new_asset())


def check_apprise_url(url: str) -> str | None:
    """None when apprise can use `url`, else a one-line reason that names only the scheme."""
    match = _SCHEME.match(url.strip())
    if not match:
        return "not an apprise URL (expected scheme://...)"
    scheme = match.group(1).lower()
    load_plugins()
    if scheme not in N_MGR:
        return f"unsupported apprise scheme {scheme}://"
    if instantiate(url) is None:
        return f"not a valid {scheme}:// URL for apprise (check host and parameters)"
    return None


def is_email(contact: str) -> bool:
    """True for a bare e-mail address (ada@example.com), which needs the SMTP email_url."""
    return bool(_EMAIL.match(contact))


def email_to_url(email_url: str, address: str) -> str:
    """The apprise mailto:// URL sending to `address` through the SMTP server of `email_url`."""
    parts = urlsplit(email_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "to"]
    query.append(("to", address))
    return urlunsplit(parts._replace(query=urlencode(query)))
