"""`gallery copy`'s front-desk part (kiosk.gallery.copy calls it after people and visits): which
staff are hosts and their contacts, each visitor's host and accepted agreement, every visit's
sign-out, and the invitations with their status and arrival visit. Only the backend-neutral API
is used, so the target's rules hold (its transactions, its audit log)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from kiosk.errors import GalleryError
from kiosk.gallery.api import Visit
from kiosk.gallery.frontdesk_api import SignOutHow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrontDeskCopy:
    """What the front-desk part carried."""

    hosts: int
    host_links: int
    sign_outs: int
    invitations: int


def copy_frontdesk(source: Any, target: Any, people: dict[int, int], visits: dict[int, int],
                   source_visits: list[Visit], *, only: set[int] | None = None) -> FrontDeskCopy:
    """Carry the front desk's records; `people` and `visits` map source ids to target ids.
    `only`: the source ids of the people copied now (`--merge`: those already in the target
    keep their own records); a visit mapped to 0 was there already."""
    everyone = [p for p in source.people() if only is None or p.id in only]
    hosts = [p for p in everyone if p.is_host and p.id in people]
    for p in hosts:
        target.set_host(people[p.id], True, p.contact)
    links = 0
    for p in everyone:
        if p.id not in people:
            continue
        if p.agreement_version:
            target.accept_agreement(people[p.id], p.agreement_version, p.agreement_at or "", p.agreement_language)
        if p.host_id is not None and p.host_id in people:
            try:
                target.set_visitor_host(people[p.id], people[p.host_id])
                links += 1
            except GalleryError as exc:  # their host is no longer marked as one: the link goes
                log.warning("gallery copy: person %d's host link not carried (%s)", p.id, exc)
    sign_outs = 0
    for v in source_visits:
        if v.signed_out_at and visits.get(v.id):
            how: SignOutHow = v.signed_out_how or "receptionist"  # type: ignore[assignment]
            sign_outs += len(target.sign_out(at=v.signed_out_at, how=how, visit_id=visits[v.id]))
    invitations = 0
    for i in source.invitations(None):
        if i.person_id not in people or (only is not None and i.person_id not in only):
            continue
        host = people.get(i.host_id) if i.host_id is not None else None
        host = host if host is not None and any(h.id == i.host_id for h in hosts) else None
        new = target.add_invitation(people[i.person_id], host, dt.date.fromisoformat(i.day))
        if i.status != "expected":
            target.set_invitation_status(new, i.status, visits.get(i.visit_id) if i.visit_id else None)
        invitations += 1
    return FrontDeskCopy(len(hosts), links, sign_outs, invitations)
