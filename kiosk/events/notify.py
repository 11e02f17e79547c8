"""Notifications through apprise: "Ada Lovelace has arrived at Reception A" to her host, and
"An unknown visitor is at Reception A" (or: a photo or a screen was held up to the camera) to
reception.

apprise may block for seconds (SMTP, HTTP): it runs only on this sink's thread, with its own
time limit, and services run one after the other on that thread (no apprise thread pool).
A contact is an apprise URL (json://, ntfy://, mailtos://...) or a bare e-mail address, which
is sent through `NotifyConfig.email_url`. Contacts are secrets: logs name a contact by its
position and scheme, never by its URL.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import apprise

from kiosk.events import apprise_urls
from kiosk.events.config import NotifyConfig
from kiosk.events.directory import HostDirectory
from kiosk.events.errors import DeliveryError
from kiosk.events.event import KioskEvent
from kiosk.events.ratelog import RateLimitedLog
from kiosk.events.sink import BaseSink

__all__ = ["HostDirectory", "HostNotifier"]

log = logging.getLogger("kiosk.events")

# Contacts still to be notified for an event being retried (so a retry does not notify again
# the ones who already got it); bounded, as the bus may give up on an event.
_PENDING_MAX = 256


class HostNotifier(BaseSink):
    """Notifies hosts of arrivals, and reception of unknown visitors and presentation attacks."""

    _name = "notify"

    def __init__(self, config: NotifyConfig, *, kiosk_name: str, site: str,
                 directory: HostDirectory | None, rlog: RateLimitedLog | None = None) -> None:
        apprise_urls.load_plugins()
        self._config = config
        self._kiosk_name = kiosk_name
        self._site = site
        self._directory = directory if config.host_urls_from_person else None
        self._rlog = rlog or RateLimitedLog(log)
        self._asset = apprise_urls.new_asset()
        self._reception = [u.get_secret_value() for u in config.reception_urls]
        self._email_url = None if config.email_url is None else config.email_url.get_secret_value()
        self._pending: OrderedDict[str, tuple[list[str], int]] = OrderedDict()
        if config.host_urls_from_person and directory is None:
            log.info("events: notify: no host directory given; hosts are not notified")

    def wants(self, event: KioskEvent) -> bool:
        """Logged arrivals (one per cooldown, so a host is not pinged again and again) when
        there is a directory; unknown visitors and presentation attacks when reception URLs
        are configured."""
        if event.event in ("arrival", "sign_in"):
            return self._directory is not None and event.logged and event.person_id is not None
        if event.event in ("unknown", "presentation_attack"):
            return bool(self._reception)
        return False

    def message(self, event: KioskEvent) -> tuple[str, str]:
        """The (title, body) for `event`, from the configured templates."""
        values = {
            "name": event.person or "",
            "kiosk_name": self._kiosk_name,
            "site": self._site or event.site,
            "time": event.time.astimezone().strftime("%H:%M"),
        }
        template = {"arrival": self._config.arrival_template, "sign_in": self._config.sign_in_template,
                    "presentation_attack": self._config.attack_template}.get(event.event,
                                                                             self._config.unknown_template)
        return self._config.title.format_map(values), template.format_map(values)

    def deliver(self, event: KioskEvent) -> None:
        """Send the notification to every contact; a retry only re-sends to those that failed."""
        pending = self._pending.pop(event.event_id, None)
        if pending is None:
            urls = self._targets(event)
            total = len(urls)
        else:
            urls, total = pending
        if not urls:
            return
        title, body = self.message(event)
        failed = [url for url in urls if not self._send(url, title, body)]
        if failed:
            self._pending[event.event_id] = (failed, total)
            while len(self._pending) > _PENDING_MAX:
                self._pending.popitem(last=False)
            # "of total", not "of this try's": the same failure reads the same on every retry
            # (and so is logged once).
            raise DeliveryError(f"{len(failed)} of {total} notification(s) not sent",
                                retryable=True)

    def _targets(self, event: KioskEvent) -> list[str]:
        if event.event in ("unknown", "presentation_attack"):
            return list(self._reception)
        if self._directory is None or event.person_id is None:
            return []
        try:
            contacts = list(self._directory.contacts_for(event.person_id))
        except Exception as exc:
            raise DeliveryError(f"host directory failed ({type(exc).__name__})",
                                retryable=False) from None
        urls: list[str] = []
        for i, contact in enumerate(contacts):
            url = self._contact_url(contact.strip(), event.person_id, i)
            if url is not None:
                urls.append(url)
        if contacts and not urls:
            raise DeliveryError("no usable host contact", retryable=False)
        return urls

    def _contact_url(self, contact: str, person_id: int, index: int) -> str | None:
        where = f"person {person_id}, contact {index + 1}"
        if apprise_urls.is_email(contact):
            if self._email_url is None:
                self._rlog.log(logging.WARNING, "notify:contact", f"noemail:{person_id}:{index}",
                               f"events: notify: {where} is an e-mail address but no "
                               f"email_url (SMTP server) is configured")
                return None
            return apprise_urls.email_to_url(self._email_url, contact)
        problem = apprise_urls.check_apprise_url(contact)
        if problem:
            self._rlog.log(logging.WARNING, "notify:contact", f"bad:{person_id}:{index}",
                           f"events: notify: {where}: {problem}")
            return None
        return contact

    def _send(self, url: str, title: str, body: str) -> bool:
        service = apprise_urls.instantiate(url, self._asset)
        if service is None:
            return False
        # No notify(timeout=...): apprise would run the service on its own executor to enforce
        # it; capped socket timeouts keep the whole call on this thread and still bounded.
        apprise_urls.limit_time(service, self._config.timeout_s)
        notifier = apprise.Apprise(asset=self._asset)
        if not notifier.add(service):
            return False
        try:
            with apprise_urls.quiet_apprise(forward=log):
                return bool(notifier.notify(body=body, title=title))
        except Exception as exc:  # apprise reports failures by result; anything else is a bug
            log.warning("events: notify: apprise raised %s", type(exc).__name__)
            return False
