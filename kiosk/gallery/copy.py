"""Copy a whole gallery between backends (SQLite file <-> PostgreSQL, or file to file):
people with their details and consent, samples with both crops, templates, visits (with site,
kiosk and event id) and the audit log; the counts are checked afterwards.

Into a gallery that is not empty only with `merge`: a person is matched by their stable id
(`uid`, schema 6, kept by every copy), so copying there and back, or twice, never doubles
anyone; visits are matched by their event id.

Only the backend-neutral API is used, so every guarantee of the target holds (encryption with
its own key, one transaction per batch of people, an audit record for each write). The audit
log is re-signed with the target's key: each record is appended again with where it was first
written (gallery id, seq, time, actor) in `copied`, after the source's chain was verified; a
record the target already has (its own, or one copied before) is not appended again, and the
people copied are logged once, by the final "import" record (not one "enroll" each). So a copy
there and back adds exactly one "import" record per copy. Visit event ids are kept (or made
from the source's gallery id and visit id), so copying again never doubles a visit.
The admin PIN comes along when the target has none and the source's is intact (its hash,
sealed again for the target; the lockout starts afresh). A target that has its own PIN keeps
it: sealed again after the copied records when some of them are PIN records (they would
otherwise name a newer setter than its seal). The front desk's records come too
(kiosk.gallery.copy_frontdesk: hosts, visitors' hosts and agreements, sign-outs, invitations).
Not copied: people's created/updated times (the copy's time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk.errors import GalleryError
from kiosk.gallery.admin_pin import LOCKOUT_RECORDS, AdminPin
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
    already_there: int = 0  # people the target had already (the same stable id): kept, not doubled


def is_empty(store: Any) -> bool:
    """No people and no visits."""
    counts = store.counts()
    return not counts["people"] and not counts["visits"]


def copy_gallery(source: Any, target: Any, *, source_name: str, merge: bool = False) -> CopyReport:
    """Copy everything from `source` into `target` (both GalleryStores, open). Refuses a
    non-empty target unless `merge`: then people already there (the same stable id) and
    visits already there (the same event id) are kept as they are and not copied again."""
    if not merge and not is_empty(target):
        raise GalleryError("the target gallery is not empty; add --merge to copy into it anyway "
                           "(nothing is deleted there; people and visits already there are not doubled)")
    versions = source.model_versions()
    if len(versions) > 1:
        raise GalleryError(f"the source holds templates of several models ({', '.join(versions)}); "
                           "run `face-kiosk people reembed` on it first")
    model_version = next(iter(versions), "none")
    before = target.counts()
    there = {p.uid: p.id for p in target.people() if p.uid}
    target_pin = AdminPin(target)
    target_had_pin = target_pin.is_set()
    own_pin = target_pin.stored_hash()  # sealed again after the copied records, if they name a PIN
    pin_mark = target.audit_tail(LOCKOUT_RECORDS).newest(LOCKOUT_RECORDS)
    mapping: dict[int, int] = {}
    everyone = source.people()
    for person in everyone:
        if person.uid in there:
            mapping[person.id] = there[person.uid]
    new_people = [p for p in everyone if p.uid not in there]
    # Visitors who signed in without face consent have no samples: written one by one as visitors.
    for person in new_people:
        if not person.n_samples and person.kind == VISITOR:
            mapping[person.id] = target.add_visitor(NewVisitor(
                person.name, person.company, None, person.agreement_version, "", person.retention_until,
                person.notes, uid=person.uid or None,
                agreement_language=person.agreement_language), [], model_version).person_id
    with_faces = [p for p in new_people if p.n_samples or p.kind != VISITOR]
    want = {"people": len(new_people), "samples": 0, "templates": 0}
    for start in range(0, len(with_faces), BATCH):
        batch = with_faces[start:start + BATCH]
        items = []
        for person in batch:
            samples = [NewSample(s.aligned, [NewTemplate(t.kind, t.embedding, t.quality) for t in s.templates],
                                 s.source, s.quality, s.masked, s.face_crop)
                       for s in source.samples(person.id, with_templates=True)]
            want["samples"] += len(samples)
            want["templates"] += sum(len(s.templates) for s in samples)
            details = PersonDetails(person.name, person.company, person.host, person.notes, person.consent_text,
                                    person.consent_at, person.retention_until, person.kind, uid=person.uid or None)
            items.append((details, samples))
        for person, new_id in zip(batch, target.add_people(items, model_version, imported=True), strict=True):
            mapping[person.id] = new_id
    dropped = visits = 0
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
        visits += 1
    copied_now = {p.id for p in new_people}
    desk = copy_frontdesk(source, target, mapping, visit_ids, source_visits, only=copied_now)
    verdict = source.verify_audit()
    copied = _copy_audit(source, target)
    # After the copied records (some of them PIN records): the PIN's seal names the newest one.
    pin = AdminPin(source).stored_hash()
    pin_copied = bool(pin) and not target_had_pin
    if pin and pin_copied:
        AdminPin(target).adopt_hash(pin)  # sealed for the target, audited there as pin_set (copied)
    elif own_pin and target.audit_tail(LOCKOUT_RECORDS).newest(LOCKOUT_RECORDS) != pin_mark:
        target_pin.adopt_hash(own_pin)  # its own PIN, sealed after the copied PIN records
    target.record_event(AuditAction.IMPORT, "gallery copy", {
        "from": source_name, "people": want["people"], "people_already_there": len(everyone) - want["people"],
        "visits": visits, "audit_records": copied, "source_audit_ok": verdict.ok,
        "source_audit_reason": verdict.reason, "admin_pin": pin_copied, "hosts": desk.hosts,
        "invitations": desk.invitations, "sign_outs": desk.sign_outs})
    after = target.counts()
    got = {k: after[k] - before[k] for k in after}
    # Visits copied before (the same event ids) are not added again: at most `visits` new ones.
    if any(got[k] != want[k] for k in ("people", "samples", "templates")) or got["visits"] > visits or \
            (not merge and got["visits"] != visits):
        raise GalleryError(f"the copy's counts differ from the source's (copied {got}, expected {want}, "
                           f"visits {visits})")
    return CopyReport(got["people"], got["samples"], got["templates"], got["visits"], copied + 1, verdict.ok,
                      desk.invitations, len(everyone) - want["people"])


def _origin(record: Any, gallery_id: str) -> tuple[str, int]:
    """Where an audit record was first written: (gallery id, seq there)."""
    copied = record.details.get("copied")
    if isinstance(copied, dict) and "gallery" in copied and "seq" in copied:
        return str(copied["gallery"]), int(copied["seq"])
    return gallery_id, int(record.seq)


def _copy_audit(source: Any, target: Any) -> int:
    """Append the source's audit records to the target's log, each as it was first written
    (time, actor, seq and gallery in `copied`), skipping those the target already has (its own,
    or copied before): a copy there and back adds no record twice. Returns how many."""
    have = {_origin(r, target.gallery_id) for r in target.audit_records()}
    n = 0
    for r in source.audit_records():
        gallery, seq = _origin(r, source.gallery_id)
        if (gallery, seq) in have:
            continue
        first = r.details.get("copied") if isinstance(r.details.get("copied"), dict) else {}
        details = {k: v for k, v in r.details.items() if k != "copied"}
        target.record_event(r.action, r.subject, {
            "copied": {"gallery": gallery, "seq": seq, "ts": first.get("ts", r.ts), "actor": first.get("actor", r.actor)},
            **details})
        have.add((gallery, seq))
        n += 1
    return n
