"""The front desk's operations (kiosk.gallery.frontdesk_api.FrontDeskStore) in SQL both backends
run as written: one home for the rules, so SQLite and PostgreSQL cannot drift apart. The
backends run it through the hooks of kiosk.gallery.shared_sql.

The audit log gets ids, kinds and counts, never a name or a company.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from kiosk.errors import GalleryError
from kiosk.gallery.api import (
    VISIT_COLUMNS,
    NewSample,
    Visit,
    clean_name,
    new_uid,
    now_iso,
    visit_from_row,
)
from kiosk.gallery.frontdesk_api import (
    INVITATION_STATUSES,
    SIGN_IN,
    SIGN_OUT_HOW,
    Host,
    Invitation,
    InvitationStatus,
    NewVisitor,
    OnSite,
    SelfSignIn,
    SignOutHow,
    UndoneSignIn,
    VisitorAdded,
    VisitStamp,
    person_kind,
)
from kiosk.gallery.shared_sql import SharedSql, SqlTx
from kiosk.security.audit import AuditAction

# Visits that put someone inside (an unknown visitor is nobody to sign out).
_PRESENT = f"('checkin', '{SIGN_IN}')"

_INVITATION_COLUMNS = (
    "i.id, i.person_id, p.name, p.company, i.host_id, coalesce(h.name, ''), i.day, i.status, i.visit_id,"
    " EXISTS (SELECT 1 FROM templates t WHERE t.person_id = i.person_id), i.created_at, v.ts"
    " FROM invitations i JOIN people p ON p.id = i.person_id LEFT JOIN people h ON h.id = i.host_id"
    " LEFT JOIN visits v ON v.id = i.visit_id")


class FrontDeskSql(SharedSql):
    """FrontDeskStore for a backend that provides the shared SQL's hooks."""

    # -- visitors and hosts ------------------------------------------------------------------

    def add_visitor(self, visitor: NewVisitor, samples: list[NewSample], model_version: str, *,
                    sign_in: VisitStamp | None = None, invite_day: dt.date | None = None) -> VisitorAdded:
        """A visitor, their samples (only with consent), sign-in visit and invitation: one transaction."""
        name = clean_name(visitor.name)
        if not name:
            raise GalleryError("a visitor needs a name")
        if samples and not visitor.face_consent_text:
            raise GalleryError(f"{name}: no face consent, so no photo may be stored")
        stamp = now_iso()
        agreed_at = (sign_in.ts if sign_in else stamp) if visitor.agreement_version else None
        with self._sql_write("signing a visitor in") as tx:
            if visitor.host_id is not None:
                _check_host(tx, visitor.host_id)
            person_id = int(tx.run(
                "INSERT INTO people(name, company, host, notes, consent_at, consent_text, retention_until, created_at,"
                " updated_at, kind, host_id, agreement_version, agreement_at, uid, agreement_language)"
                " VALUES (?,?,'',?,?,?,?,?,?,'visitor',?,?,?,?,?) RETURNING id",
                (name, clean_name(visitor.company), clean_name(visitor.notes),
                 stamp if visitor.face_consent_text else None, visitor.face_consent_text, visitor.retention_until,
                 stamp, stamp, visitor.host_id, visitor.agreement_version, agreed_at, visitor.uid or new_uid(),
                 visitor.agreement_language if visitor.agreement_version else ""))[0][0])
            tx.insert_samples(person_id, samples, model_version, stamp)
            visit_id = invitation_id = None
            if sign_in is not None:
                visit_id = _insert_sign_in(tx, person_id, sign_in)
            if invite_day is not None:
                invitation_id = _insert_invitation(tx, person_id, visitor.host_id, invite_day, stamp)
            tx.audit(AuditAction.ENROLL, f"person {person_id}", {
                "kind": "visitor", "samples": len(samples), "consent": bool(visitor.face_consent_text),
                "agreement": visitor.agreement_version, "language": visitor.agreement_language, "visit": visit_id, "invitation": invitation_id})
        if samples:
            self._sql_changed(scrub=False)  # a new face: the template cache
        return VisitorAdded(person_id, visit_id, invitation_id)

    def set_visitor_host(self, person_id: int, host_id: int | None) -> None:
        """Who the person is here to see (None clears it)."""
        with self._sql_write("changing a visitor's host") as tx:
            if host_id is not None:
                _check_host(tx, host_id)
            _update_person(tx, person_id, "host_id=?", (host_id,))
            tx.audit(AuditAction.UPDATE, f"person {person_id}", {"fields": ["host_id"], "host": host_id})

    def accept_agreement(self, person_id: int, version: str, at: str, language: str = "") -> None:
        """Store the agreement version the person accepted, the language they read it in, and when."""
        with self._sql_write("storing an accepted agreement") as tx:
            _update_person(tx, person_id, "agreement_version=?, agreement_at=?, agreement_language=?",
                           (version, at, language))
            tx.audit(AuditAction.UPDATE, f"person {person_id}", {"fields": ["agreement_version", "agreement_language"],
                                                                  "agreement": version, "language": language})

    def set_host(self, person_id: int, is_host: bool, contact: str = "") -> None:
        """Mark a staff member as a host (or not) with their contact."""
        with self._sql_write("marking a host") as tx:
            rows = tx.run("SELECT kind FROM people WHERE id=?", (person_id,))
            if not rows:
                raise GalleryError(f"no person with id {person_id}")
            if rows[0][0] != "staff":
                raise GalleryError(f"person {person_id} is a visitor; only staff can be hosts")
            _update_person(tx, person_id, "is_host=?, contact=?", (bool(is_host), clean_name(contact)))
            tx.audit(AuditAction.UPDATE, f"person {person_id}", {"fields": ["contact", "is_host"],
                                                                  "is_host": bool(is_host)})

    def hosts(self, search: str = "") -> list[Host]:
        """Staff marked as hosts, by name (a part of the name, case-insensitive)."""
        where, params = "", ()
        if search.strip():
            where = " AND lower(name) LIKE ? ESCAPE '!'"
            params = ("%" + _like(search.strip().lower()) + "%",)  # type: ignore[assignment]
        rows = self._sql_rows("SELECT id, name, company, contact FROM people WHERE is_host AND kind = 'staff'"
                             f"{where} ORDER BY lower(name), id", params)  # noqa: S608 - fixed clause
        return [Host(r[0], r[1], r[2], r[3]) for r in rows]

    # -- invitations ---------------------------------------------------------------------------

    def add_invitation(self, person_id: int, host_id: int | None, day: dt.date) -> int:
        """Invite an existing person for `day`."""
        with self._sql_write("inviting") as tx:
            if not tx.run("SELECT 1 FROM people WHERE id=?", (person_id,)):
                raise GalleryError(f"no person with id {person_id}")
            if host_id is not None:
                _check_host(tx, host_id)
            invitation_id = _insert_invitation(tx, person_id, host_id, day, now_iso())
            tx.audit("invite", f"person {person_id}", {"invitation": invitation_id, "host": host_id,
                                                        "day": day.isoformat()})
        return invitation_id

    def invitations(self, day: dt.date | None = None, *, person_id: int | None = None) -> list[Invitation]:
        """Invitations of a day (all when None), optionally of one person."""
        clauses, params = [], []
        for clause, value in (("i.day = ?", day.isoformat() if day else None), ("i.person_id = ?", person_id)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._sql_rows(f"SELECT {_INVITATION_COLUMNS}{where} ORDER BY i.day, lower(p.name), i.id",  # noqa: S608
                             tuple(params))
        return [_invitation(r) for r in rows]

    def get_invitation(self, invitation_id: int) -> Invitation:
        """One invitation."""
        rows = self._sql_rows(f"SELECT {_INVITATION_COLUMNS} WHERE i.id = ?", (invitation_id,))  # noqa: S608
        if not rows:
            raise GalleryError(f"no invitation with id {invitation_id}")
        return _invitation(rows[0])

    def set_invitation_status(self, invitation_id: int, status: InvitationStatus,
                              visit_id: int | None = None) -> None:
        """Arrived (with its visit), cancelled, or expected again."""
        if status not in INVITATION_STATUSES:
            raise GalleryError(f"an invitation's status is one of {', '.join(INVITATION_STATUSES)}")
        with self._sql_write("changing an invitation") as tx:
            rows = tx.run("UPDATE invitations SET status=?, visit_id=?, updated_at=? WHERE id=? RETURNING person_id",
                          (status, visit_id, now_iso(), invitation_id))
            if not rows:
                raise GalleryError(f"no invitation with id {invitation_id}")
            tx.audit("invitation", f"person {rows[0][0]}", {"invitation": invitation_id, "status": status,
                                                            "visit": visit_id})

    def purge_invitations(self, before: dt.date) -> int:
        """Delete invitations of days before `before`."""
        with self._sql_write("purging old invitations") as tx:
            gone = tx.run("DELETE FROM invitations WHERE day < ? RETURNING id", (before.isoformat(),))
            if gone:
                tx.audit(AuditAction.PURGE, "retention", {"invitations": len(gone)})
        return len(gone)

    # -- sign-out, on site, self sign-ins ---------------------------------------------------

    def sign_out(self, *, at: str, how: SignOutHow, visit_id: int | None = None, person_id: int | None = None,
                 before: str | None = None) -> list[int]:
        """Close open visits: one, a person's, or everyone's that began before `before`."""
        if how not in SIGN_OUT_HOW:
            raise GalleryError(f"a sign-out is one of {', '.join(SIGN_OUT_HOW)}")
        if sum(x is not None for x in (visit_id, person_id, before)) != 1:
            raise GalleryError("sign out one visit, one person or everyone before a time")
        selector, value = (("id = ?", visit_id) if visit_id is not None else
                           ("person_id = ? AND ts <= ?", person_id) if person_id is not None else
                           ("ts < ?", before))
        params: tuple[Any, ...] = (at, how, value, at) if person_id is not None else (at, how, value)
        with self._sql_write("signing out") as tx:
            rows = tx.run(f"UPDATE visits SET signed_out_at=?, signed_out_how=? WHERE {selector}"  # noqa: S608
                          f" AND signed_out_at IS NULL AND person_id IS NOT NULL AND kind IN {_PRESENT}"
                          " RETURNING id", params)
            closed = sorted(int(r[0]) for r in rows)
            if closed:
                tx.audit("sign_out", f"person {person_id}" if person_id is not None else "visits",
                         {"visits": closed, "how": how})
        return closed

    def get_visit(self, visit_id: int) -> Visit:
        """One visit with its person's name."""
        rows = self._sql_rows(f"SELECT {VISIT_COLUMNS} FROM visits v LEFT JOIN people p ON p.id = v.person_id"  # noqa: S608
                             " WHERE v.id = ?", (visit_id,))
        if not rows:
            raise GalleryError(f"no visit with id {visit_id}")
        return visit_from_row(rows[0])

    def on_site(self, day: dt.date) -> list[OnSite]:
        """People with an open visit on `day`: arrived at their first open visit, the newest's id."""
        rows = self._sql_rows(
            "SELECT v.id, v.person_id, v.ts, v.kiosk, v.site, p.name, p.kind, p.company, p.host_id,"
            " coalesce(h.name, '') FROM visits v JOIN people p ON p.id = v.person_id"
            " LEFT JOIN people h ON h.id = p.host_id"
            f" WHERE substr(v.ts, 1, 10) = ? AND v.signed_out_at IS NULL AND v.kind IN {_PRESENT}"  # noqa: S608
            " ORDER BY v.ts, v.id", (day.isoformat(),))
        first: dict[int, str] = {}
        latest: dict[int, tuple[Any, ...]] = {}
        for row in rows:
            first.setdefault(row[1], row[2])
            latest[row[1]] = row
        out = [OnSite(pid, r[5], person_kind(r[6]), r[7], r[8], r[9], first[pid], r[0], r[3], r[4])
               for pid, r in latest.items()]
        return sorted(out, key=lambda o: (o.name.lower(), o.person_id))

    def self_sign_ins(self, day: dt.date) -> list[SelfSignIn]:
        """The visits signed in by touch on `day`, newest first."""
        rows = self._sql_rows(
            "SELECT v.id, v.person_id, p.name, p.company, p.host_id, coalesce(h.name, ''), v.ts, v.kiosk,"
            " EXISTS (SELECT 1 FROM samples s WHERE s.person_id = p.id), p.agreement_version, v.signed_out_at,"
            " p.agreement_language FROM visits v JOIN people p ON p.id = v.person_id LEFT JOIN people h ON h.id = p.host_id"
            " WHERE v.kind = ? AND substr(v.ts, 1, 10) = ? ORDER BY v.ts DESC, v.id DESC", (SIGN_IN, day.isoformat()))
        return [SelfSignIn(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), r[9], r[10], r[11])
                for r in rows]

    def undo_sign_in(self, visit_id: int) -> UndoneSignIn:
        """Delete a sign_in visit; erase the person when the sign-in created them."""
        with self._sql_write("undoing a sign-in") as tx:
            rows = tx.run("SELECT person_id, kind FROM visits WHERE id=?", (visit_id,))
            if not rows or rows[0][1] != SIGN_IN or rows[0][0] is None:
                raise GalleryError(f"visit {visit_id} is not a sign-in")
            person_id = int(rows[0][0])
            tx.run("UPDATE invitations SET status='expected', visit_id=NULL WHERE visit_id=?", (visit_id,))
            tx.run("DELETE FROM visits WHERE id=?", (visit_id,))
            erase = bool(tx.run(
                "SELECT 1 FROM people p WHERE p.id=? AND p.kind='visitor'"
                " AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.person_id = p.id)"
                " AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.person_id = p.id)", (person_id,)))
            if erase:
                tx.run("DELETE FROM people WHERE id=?", (person_id,))
            tx.audit(AuditAction.REMOVE if erase else "undo_sign_in", f"person {person_id}",
                     {"undo_sign_in": visit_id, "person_erased": erase})
        scrubbed = self._sql_changed(scrub=True)
        return UndoneSignIn(visit_id, person_id, erase, scrubbed)


def _like(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (ESCAPE '!')."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _check_host(tx: SqlTx, host_id: int) -> None:
    rows = tx.run("SELECT 1 FROM people WHERE id=? AND is_host AND kind = 'staff'", (host_id,))
    if not rows:
        raise GalleryError(f"person {host_id} is not a host (mark staff as hosts first)")


def _update_person(tx: SqlTx, person_id: int, sets: str, values: tuple[Any, ...]) -> None:
    rows = tx.run(f"UPDATE people SET {sets}, updated_at=? WHERE id=? RETURNING id",  # noqa: S608 - fixed sets
                  (*values, now_iso(), person_id))
    if not rows:
        raise GalleryError(f"no person with id {person_id}")


def _insert_sign_in(tx: SqlTx, person_id: int, stamp: VisitStamp) -> int:
    visit_id = int(tx.run(
        "INSERT INTO visits(person_id, ts, kind, score, masked, source, site, kiosk, event_id)"
        " VALUES (?,?,?,NULL,?,?,?,?,?) RETURNING id",
        (person_id, stamp.ts, SIGN_IN, False, stamp.kiosk, stamp.site, stamp.kiosk,
         stamp.event_id or uuid.uuid4().hex))[0][0])
    tx.run("UPDATE people SET last_seen=? WHERE id=?", (stamp.ts, person_id))
    return visit_id


def _insert_invitation(tx: SqlTx, person_id: int, host_id: int | None, day: dt.date, stamp: str) -> int:
    return int(tx.run("INSERT INTO invitations(person_id, host_id, day, status, created_at, updated_at)"
                      " VALUES (?,?,?,'expected',?,?) RETURNING id",
                      (person_id, host_id, day.isoformat(), stamp, stamp))[0][0])


def _invitation(r: tuple[Any, ...]) -> Invitation:
    return Invitation(r[0], r[1], r[2], r[3], r[4], r[5], r[6], cast(InvitationStatus, r[7]), r[8], bool(r[9]),
                      r[10], r[11])

