"""The rule both backends' `seal_settings` follow: which point of the audit log settings (the
admin PIN's hash and lockout, kiosk.gallery.admin_pin) are sealed at."""

from __future__ import annotations

import logging
from collections.abc import Callable

from kiosk.security.audit import AuditAction, AuditError, AuditRecord

log = logging.getLogger(__name__)


def sealing_seq(action: AuditAction | str | None, append: Callable[[AuditAction | str], AuditRecord],
                last: Callable[[], AuditRecord | None], *, audit_required: bool = True) -> int:
    """The audit seq to seal settings at, inside the writing transaction: with `action`, the seq
    of the record `append(action)` writes; without, the newest record's (0 for an empty log).
    `audit_required=False`: a log that refuses the record (AuditError) is logged and the newest
    seq used, so the settings are still written (the PIN lockout must count while the log is
    broken)."""
    if action is not None:
        try:
            return append(action).seq
        except AuditError as exc:
            if audit_required:
                raise
            log.warning("%s: not in the audit log (%s)", action, exc)
    newest = last()
    return newest.seq if newest else 0
