"""Copy a whole gallery between backends (SQLite file <-> PostgreSQL, or file to file):
people with their details and consent, samples with both crops, templates, visits (with site,
kiosk and event id) and the audit log; the counts are checked afterwards.

Only the backend-neutral API is used, so every guarantee of the target holds (encryption with
its own key, one transaction per batch of people, an audit record for each write). The audit
log is re-signed with the target's key: each record is appended again with its original
time, actor and sequence number in its details, after the source's chain was verified, and a
final "import" record names the source. Visit event ids are kept (or made from the source's
gallery id and visit id), so copying again into the same target never doubles a visit.
The admin PIN comes along when the target has none and the source's is intact (its hash,
sealed again for the target; the lockout starts afresh). The front desk's records come too
(kiosk.gallery.copy_frontdesk: hosts, visitors' hosts and agreements, sign-outs, invitations).
Not copied: people's created/updated times (the copy's time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk.errors import GalleryError
from kiosk.gallery.admin_pin import AdminPin
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails
from kiosk.gallery.copy_frontdesk import copy_frontdesk
from kiosk.gallery.frontdesk_api import VISITOR, NewVisitor
from kiosk.security.audit import AuditAction

BATCH = 100  # people per target transaction


@dataclass(frozen=True)
class CopyReport:
    """What was copied, as counted in the target afterwards."""

    people: int
    samples: int
    templates: int
    visits: int
    audit_records: int
    source_audit_ok: bool
    invitations: int = 0


def is_empty(store: Any) -> bool:
    """No people and no visits."""
    counts = store.counts()
    return not counts["people"] and not counts["visits"]


def copy_gallery(source: Any, target: Any, *, source_name: str, force: bool = False) -> CopyReport:
    """Copy everything from `source` into `target` (both GalleryStores, open). Refuses a
    non-empty target unless `force` (then the copy is added to what is there)."""
    if not force and not is_empty(target):
        raise GalleryError("the target gallery is not empty; add --force to copy into it anyway "
                           "(nothing is deleted there)")
    versions = source.model_versions()
    if len(versions) > 1:
        raise GalleryError(f"the source holds templates of several models ({', '.join(versions)}); "
                           "run `face-kiosk people reembed` on it first")
    model_version = next(iter(versions), "none")
    before = target.counts()
    target_had_pin = AdminPin(target).is_set()
    src = source.counts()
    mapping: dict[int, int] = {}
    # Visitors who signed in without face consent have no samples: written one by one as visitors.
    people = [p for p in source.people() if p.n_samples or p.kind != VISITOR]
    for person in source.people():
        if not person.n_samples and person.kind == VISITOR:
            mapping[person.id] = target.add_visitor(NewVisitor(
                person.name, person.company, None, person.agreement_version, "", person.retention_until,
                person.notes), [], model_version).person_id
    for start in range(0, len(people), BATCH):
        batch = people[start:start + BATCH]
        items = []
        for person in batch:
            samples = [NewSample(s.aligned, [NewTemplate(t.kind, t.embedding, t.quality) for t in s.templates],
                                 s.source, s.quality, s.masked, s.face_crop)
                       for s in source.samples(person.id, with_templates=True)]
            details = PersonDetails(person.name, person.company, person.host, person.notes, person.consent_text,
                                    person.consent_at, person.retention_until, person.kind)
            items.append((details, samples))
        for person, new_id in zip(batch, target.add_people(items, model_version)):
            mapping[person.id] = new_id
    dropped = 0
    visit_ids: dict[int, int] = {}
    source_visits = sorted(source.visits(), key=lambda v: (v.ts, v.id))
    for visit in source_visits:
        pid = None if visit.person_id is None else mapping.get(visit.person_id)
        if visit.person_id is not None and pid is None:
            dropped += 1  # someone erased: their visit goes with them
            continue
        visit_ids[visit.id] = target.record_visit(
            pid, visit.kind, visit.score, visit.masked, visit.source, visit.ts, site=visit.site, kiosk=visit.kiosk,
            event_id=visit.event_id or f"copy-{source.gallery_id}-{visit.id}")
    desk = copy_frontdesk(source, target, mapping, visit_ids, source_visits)
    verdict = source.verify_audit()
    records = source.audit_records()
    for r in records:
        record = {"copied": {"seq": r.seq, "ts": r.ts, "actor": r.actor}, **dict(r.details)}
        target.record_event(r.action, r.subject, record)
    # After the copied records (some of them PIN records): the PIN's seal names the newest one.
    pin = AdminPin(source).stored_hash()
    pin_copied = bool(pin) and not target_had_pin
    if pin and pin_copied:
        AdminPin(target).adopt_hash(pin)  # sealed for the target, audited there as pin_set (copied)
    target.record_event(AuditAction.IMPORT, "gallery copy", {
        "from": source_name, "people": len(mapping), "visits": src["visits"] - dropped, "audit_records": len(records),
        "source_audit_ok": verdict.ok, "source_audit_reason": verdict.reason, "admin_pin": pin_copied,
        "hosts": desk.hosts, "invitations": desk.invitations, "sign_outs": desk.sign_outs})
    after = target.counts()
    got = {k: after[k] - before[k] for k in after}
    want = {"people": src["people"], "samples": src["samples"], "templates": src["templates"],
            "visits": src["visits"] - dropped}
    # With --force, visits copied before (the same event ids) are not added again.
    if any(got[k] != want[k] for k in ("people", "samples", "templates")) or \
            (got["visits"] != want["visits"] if not force else got["visits"] > want["visits"]):
        raise GalleryError(f"the copy's counts differ from the source's (copied {got}, expected {want})")
    return CopyReport(got["people"], got["samples"], got["templates"], got["visits"], len(records) + 1, verdict.ok,
                      desk.invitations)
