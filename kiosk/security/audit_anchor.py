"""What this computer last saw of a gallery, kept outside it: a restored older copy shows.

The audit log's chain and its sealed head show an edited, deleted or cut-off record, but a
whole older copy of the gallery (a backup written back over it, a file-system snapshot, a
PostgreSQL restore) is consistent in itself: its records, head, PIN hash and lockout state all
verify. So each computer keeps, per gallery, a small file in its key folder (never next to the
gallery): the newest audit record it has seen (seq and mac) and the admin PIN's failure count
and wait as it last wrote them. `GalleryGuard` holds it for one open gallery:

- on open, `check` compares the gallery's log with it: a newest record older than the one seen
  ("rolled back"), or another record at the seen seq ("replaced": a copy that went its own
  way) sets `problem`. The backend then refuses audited writes, `audit verify` says so, and the
  PIN lockout keeps the count seen here (a restored copy does not reset it), until an admin
  accepts the gallery as it is now (`face-kiosk audit recover`, which calls `accept`);
- after every audited write, and whenever the lockout is written, the file moves on
  (`seen`, `set_lockout`); it only ever moves forward, so two processes on one gallery agree.

The file is named by the gallery's own id (kept inside it) and where it is (its path, or the
server and database), so a copy of the gallery elsewhere starts a record of its own.

Limits, said plainly: the first open on a computer trusts what it finds; whoever can write both
the gallery and the key folder can roll both back together; a kiosk of a shared gallery knows
only what it saw itself (a restore to a point after its last look is not noticed); writing the
file is best effort (a read-only key folder is logged, and the check then has less to go on).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import KioskError
from kiosk.security.keys import default_keys_dir
from kiosk.security.private_files import atomic_write, ensure_private_dir, shred_file

log = logging.getLogger(__name__)

_FORMAT = "face-kiosk-audit-anchor"


@dataclass(frozen=True)
class Anchor:
    """The newest audit record seen (seq 0: none yet), and the PIN lockout as last written."""

    seq: int = 0
    mac: str = ""
    failures: int = 0
    locked_until: float = 0.0


def anchor_path(gallery_id: str, where: str, keys_dir: Path | None = None) -> Path:
    """The anchor file of the gallery `gallery_id` found at `where` (a resolved path or a server)."""
    digest = hashlib.sha256(f"{gallery_id}|{where}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return (keys_dir or default_keys_dir()) / f"{digest}.seen"


def load_anchor(path: Path) -> Anchor | None:
    """The anchor in `path`, or None when there is none (or it is damaged: logged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError("not a face-kiosk anchor file")
        anchor = Anchor(int(data["seq"]), str(data["mac"]), int(data.get("failures", 0)),
                        float(data.get("locked_until", 0.0)))
        if anchor.seq < 0 or anchor.failures < 0 or not math.isfinite(anchor.locked_until):
            raise ValueError("values out of range")
        return anchor
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: unreadable (%s); what this computer saw of the gallery starts again", path, exc)
        return None


class GalleryGuard:
    """The anchor of one open gallery (see the module docstring). `where` names the gallery in
    messages; `path=None` keeps nothing (a gallery that must leave no trace, e.g. in tests)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.problem = ""  # why the gallery is not what this computer saw last, or ""
        self._anchor = (load_anchor(path) if path is not None else None) or Anchor()

    @property
    def anchor(self) -> Anchor:
        """What was seen last (the file's newer copy when another process moved it on)."""
        if self.path is not None:
            on_disk = load_anchor(self.path)
            if on_disk is not None and on_disk.seq > self._anchor.seq:
                self._anchor = on_disk
        return self._anchor

    def check(self, last_seq: int, mac_at: Callable[[int], str | None],
              resigned_since: Callable[[int], bool] | None = None) -> str:
        """Compare the gallery's newest record (`last_seq`; `mac_at(seq)` reads a record's mac)
        with the anchor; sets and returns `problem` ("" when the gallery is as seen or newer).
        `resigned_since(seq)`: whether the log was re-signed under a new key after record `seq`
        (a shared gallery's `gallery rekey`, done elsewhere): its macs then differ from those
        seen, so only the sequence numbers are compared (a forged rekey record breaks the
        chain, which `audit verify` shows)."""
        seen = self.anchor
        if seen.seq and last_seq < seen.seq:
            self.problem = (f"the gallery is older than this computer last saw it (audit record {last_seq} is its "
                            f"newest, {seen.seq} was seen): a restored copy?")
        elif seen.seq and mac_at(seen.seq) != seen.mac and not (resigned_since and resigned_since(seen.seq)):
            self.problem = (f"audit record {seen.seq} is not the one this computer saw: the gallery was replaced "
                            "by another copy")
        return self.problem

    def seen(self, seq: int, mac: str) -> None:
        """The gallery's newest record is now (seq, mac): remember it (forward only)."""
        current = self.anchor
        if seq > current.seq or (seq == current.seq and not current.mac):
            self._save(Anchor(seq, mac, current.failures, current.locked_until))

    def lockout(self) -> tuple[int, float]:
        """The PIN failures and wait as this computer last wrote them."""
        seen = self.anchor
        return seen.failures, seen.locked_until

    def set_lockout(self, failures: int, locked_until: float) -> None:
        """Remember the lockout just written to the gallery."""
        current = self.anchor
        self._save(Anchor(current.seq, current.mac, failures, locked_until))

    def accept(self, seq: int, mac: str) -> None:
        """An admin accepted the gallery as it is (audit recover): it is what was seen now."""
        current = self.anchor
        self.problem = ""
        self._save(Anchor(seq, mac, current.failures, current.locked_until), force=True)

    def forget(self) -> None:
        """Remove the file (the gallery is gone for good)."""
        if self.path is not None:
            shred_file(self.path)

    def _save(self, anchor: Anchor, *, force: bool = False) -> None:
        self._anchor = anchor
        if self.path is None:
            return
        if not force:
            on_disk = load_anchor(self.path)
            if on_disk is not None and on_disk.seq > anchor.seq:  # another process saw more: keep its record
                anchor = Anchor(on_disk.seq, on_disk.mac, anchor.failures, anchor.locked_until)
                self._anchor = anchor
        record = {"format": _FORMAT, "version": 1, "seq": anchor.seq, "mac": anchor.mac,
                  "failures": anchor.failures, "locked_until": anchor.locked_until}
        try:
            ensure_private_dir(self.path.parent)
            atomic_write(self.path, json.dumps(record) + "\n", overwrite=True)
        except (KioskError, OSError) as exc:
            log.warning("%s: cannot record what this computer saw of the gallery (%s)", self.path, exc)


def forget_anchors(gallery_id: str, where: str, keys_dir: Path | None = None) -> None:
    """Remove the anchor of a gallery that is gone (a throw-away gallery)."""
    with contextlib.suppress(OSError):
        shred_file(anchor_path(gallery_id, where, keys_dir))


def resolved(path: str | os.PathLike[str]) -> str:
    """How a gallery file is named in its anchor: its resolved, case-normalised path."""
    return os.path.normcase(os.path.realpath(os.fspath(path)))
