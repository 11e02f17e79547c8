"""Every visitor-facing text in the code, found by reading the source (no import, no Qt).

A text is visitor-facing when it is marked: `_("...")` (translated where it is shown) or
`N_("...")` (defined here, translated where it is shown), with a literal string and an optional
literal `context="..."`. A comment `# i18n: ...` on the line above, or at the end of the line,
goes to the translators (how long a button may be, what a placeholder holds).
`tools/i18n_update.py` writes them to `resources/i18n/messages.pot` and merges that into each
language; tests/test_i18n.py checks that nothing is missing.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polib

MARKERS = ("_", "N_")
SOURCE_ROOTS = ("kiosk", "ui")


@dataclass
class Message:
    """One text to translate: its English source, context, where it is used and notes."""

    msgid: str
    context: str = ""
    locations: list[tuple[str, int]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _comment(lines: list[str], lineno: int) -> str:
    """The `# i18n:` note at the end of line `lineno` or on the line above (1-based)."""
    same, above = lineno - 1, lineno - 2
    if 0 <= same < len(lines) and "# i18n:" in lines[same]:
        return lines[same].split("# i18n:", 1)[1].strip()
    if 0 <= above < len(lines) and lines[above].strip().startswith("# i18n:"):
        return lines[above].split("# i18n:", 1)[1].strip()
    return ""


def messages_in_source(text: str, relpath: str) -> Iterator[Message]:
    """The marked texts of one Python source file, in order."""
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text, filename=relpath)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKERS):
            continue
        msgid = _literal(node.args[0]) if node.args else None
        if not msgid:
            continue  # a variable, translated here and marked where it was defined
        context = ""
        for keyword in node.keywords:
            if keyword.arg == "context":
                context = _literal(keyword.value) or ""
        note = _comment(lines, node.lineno)
        yield Message(msgid, context, [(relpath, node.lineno)], [note] if note else [])


def collect(root: Path, packages: Iterable[str] = SOURCE_ROOTS) -> list[Message]:
    """Every marked text under `root`'s packages, merged by (context, text), sorted by first use."""
    found: dict[tuple[str, str], Message] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relpath = path.relative_to(root).as_posix()
            for message in messages_in_source(path.read_text(encoding="utf-8"), relpath):
                key = (message.context, message.msgid)
                if key in found:
                    found[key].locations += message.locations
                    found[key].comments += [c for c in message.comments if c not in found[key].comments]
                else:
                    found[key] = message
    return sorted(found.values(), key=lambda m: m.locations[0])


def _files(message: Message) -> list[tuple[str, str]]:
    # Files only, no line numbers: the catalogs then change only when their texts do.
    return [(path, "") for path in dict.fromkeys(path for path, _ in message.locations)]


def template(messages: Iterable[Message]) -> polib.POFile:
    """The catalog template (`messages.pot`) for `messages`."""
    pot = polib.POFile(wrapwidth=100)
    pot.metadata = {
        "Project-Id-Version": "face-kiosk",
        "POT-Creation-Date": dt.date(2026, 1, 1).isoformat(),  # fixed: the file changes only with its texts
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    for message in messages:
        pot.append(polib.POEntry(msgid=message.msgid, msgstr="", msgctxt=message.context or None,
                                 occurrences=_files(message),
                                 comment="\n".join(message.comments)))
    return pot
