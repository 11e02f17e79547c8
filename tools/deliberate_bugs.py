"""Put issue 14's deliberate bugs back, one at a time, into a copy of the code and run the tests.

    .venv/bin/python tools/deliberate_bugs.py          # or: make bugs

Each bug is a one-line change that a rewrite of matching, tracking, the kiosk screen, the
gallery or the PIN could plausibly make. For each one the tool copies the tracked tree (git
ls-files) into a temporary folder, makes the change there (the text must occur exactly once),
checks that Python imports `kiosk` and `ui` from that copy (not from the editable install),
runs the named test files and prints which tests failed. It exits non-zero when a bug goes
uncaught, so it can run as a check of its own; it is not part of `make test` (a minute or two).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bug:
    """One deliberate bug: `old` becomes `new` in `path`; `tests` are expected to catch it."""

    title: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


BUGS = (
    Bug("winner by argmax(scores), not by margin over each person's threshold", "kiosk/recognition/matching.py",
        "best = np.argmax(margins, axis=1)", "best = np.argmax(scores, axis=1)",
        ("tests/test_matching.py", "tests/test_matching_decisions.py")),
    Bug("every face in a frame gets the first face's mask score", "kiosk/vision/pipeline.py",
        "masked=bool(mask_scores[i] >= self.mask_threshold),\n                mask_score=float(mask_scores[i])",
        "masked=bool(mask_scores[0] >= self.mask_threshold),\n                mask_score=float(mask_scores[0])",
        ("tests/test_pipeline.py",)),
    Bug("a shown name flips on one confident vote", "kiosk/recognition/tracking.py",
        "(confident and not current.known)", "confident",
        ("tests/test_tracking.py", "tests/test_tracking_and_mask_flag_edges.py")),
    Bug("'please lower your mask' and 'please look at the camera' swapped", "ui/kiosk_mode/window.py",
        "texts.lower_mask if screen is Screen.LOWER_MASK else", "texts.approach if screen is Screen.LOWER_MASK else",
        ("tests/test_gui_kiosk.py",)),
    Bug("masked probes given the bare thresholds", "kiosk/recognition/matching.py",
        "t, b = self._probe_thresholds(m, f)", "t, b = self._probe_thresholds(False, f)",
        ("tests/test_matching.py", "tests/test_matching_decisions.py")),
    Bug("ROLLBACK turned into COMMIT", "kiosk/gallery/sqlite_connection.py",
        'self._conn.execute("ROLLBACK")', 'self._conn.execute("COMMIT")',
        ("tests/test_gallery.py", "tests/test_gallery_sqlite_edits.py")),
    Bug("foreign keys off", "kiosk/gallery/sqlite_connection.py",
        'conn.execute("PRAGMA foreign_keys = ON")', 'conn.execute("PRAGMA foreign_keys = OFF")',
        ("tests/test_gallery.py", "tests/test_gallery_sqlite_edits.py")),
    Bug("PIN lockout off by one", "kiosk/gallery/admin_pin.py",
        "if extra < 0:", "if extra <= 0:",
        ("tests/test_admin_pin.py", "tests/test_admin_pin_edges.py")),
    Bug("vote majority off by one", "kiosk/recognition/tracking.py",
        "known_votes >= config.min_agree", "known_votes > config.min_agree",
        ("tests/test_tracking.py", "tests/test_kiosk_flow.py")),
    Bug("check-in cooldown < vs <=", "kiosk/checkin/visits.py",
        "if last is not None and now - last < self.cooldown:", "if last is not None and now - last <= self.cooldown:",
        ("tests/test_checkin.py", "tests/test_checkin_edges.py")),
)


def copy_tree(dest: Path) -> None:
    """The tracked files of the working tree (as they are now) into `dest`."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def run_one(bug: Bug, tree: Path) -> list[str]:
    """Put `bug` in, run its tests, take it out again; the ids of the tests that failed."""
    target = tree / bug.path
    text = target.read_text()
    if text.count(bug.old) != 1:
        raise SystemExit(f"{bug.path}: the line for '{bug.title}' is not there exactly once (the code moved?)")
    target.write_text(text.replace(bug.old, bug.new))
    try:
        where = subprocess.run([sys.executable, "-c", "import kiosk, ui; print(kiosk.__file__); print(ui.__file__)"],
                               cwd=tree, check=True, capture_output=True, text=True).stdout.split()
        if not all(Path(w).is_relative_to(tree) for w in where):
            raise SystemExit(f"the copy is not what Python imports: {where}")
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *bug.tests],
                             cwd=tree, env=env, capture_output=True, text=True).stdout
    finally:
        target.write_text(text)
    return [line.removeprefix("FAILED ").split(" - ")[0] for line in out.splitlines() if line.startswith("FAILED ")]


def main() -> int:
    """Run every bug; print the failing tests of each; 1 when some bug was not caught."""
    uncaught = 0
    with tempfile.TemporaryDirectory(prefix="face-kiosk-bugs-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        for bug in BUGS:
            failed = run_one(bug, tree)
            uncaught += not failed
            print(f"{'caught' if failed else 'NOT CAUGHT'}: {bug.title} ({bug.path})", flush=True)
            for test in failed:
                print(f"    {test}", flush=True)
    print(f"{len(BUGS) - uncaught} of {len(BUGS)} deliberate bugs caught")
    return 1 if uncaught else 0


if __name__ == "__main__":
    sys.exit(main())
