"""The gallery manager's list of people (ui.gallery_manager): one row each (thumbnail, name,
company, host, templates, last seen, delete-on), sortable, several selectable; each row carries
the person's id."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from kiosk.gallery.api import Person
from ui.enrollment_widgets import rgb_pixmap
from ui.person_details_panel import short_time

COLUMNS = ("Name", "Company", "Host", "Templates", "Last seen", "Delete on")
ICON = 48
SortKey = str | int


class _SortItem(QTableWidgetItem):
    """A cell that sorts by a key of its own (numbers as numbers, names case-insensitively)."""

    def __init__(self, text: str, key: SortKey) -> None:
        super().__init__(text)
        self.key = key

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.key, other.key if isinstance(other, _SortItem) else other.text()
        if isinstance(mine, int) and isinstance(theirs, int):
            return mine < theirs
        if isinstance(mine, str) and isinstance(theirs, str):
            return mine < theirs
        return self.text() < other.text()


class PeopleTable(QTableWidget):
    """The list; `thumbnail(person_id)` gives a person's picture (cached per person until they
    change)."""

    def __init__(self, thumbnail: Callable[[int], np.ndarray | None], parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self._thumbnail = thumbnail
        self._thumbs: dict[int, tuple[str, QIcon]] = {}
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setIconSize(QSize(ICON, ICON))
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(ICON + 6)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.setSortingEnabled(True)

    def fill(self, people: Sequence[Person], selected: Iterable[int]) -> None:
        """Show these people (in the table's sort order), with `selected` selected."""
        self.setSortingEnabled(False)
        self.setRowCount(len(people))
        for row, person in enumerate(people):
            shown = f"{person.name} (edited outside face-kiosk)" if getattr(person, "edited", False) else person.name
            name = _SortItem(shown, person.name.lower())
            name.setIcon(self._icon(person))
            name.setData(Qt.ItemDataRole.UserRole, person.id)
            name.setToolTip(f"{person.n_samples} samples, {person.n_templates} templates"
                            + ("; changed outside face-kiosk: not recognised until an admin checks and saves "
                               "the details" if getattr(person, "edited", False) else ""))
            cells = (
                name,
                _SortItem(person.company, person.company.lower()),
                _SortItem(person.host, person.host.lower()),
                _SortItem(str(person.n_templates), person.n_templates),
                _SortItem(short_time(person.last_seen), person.last_seen or ""),
                _SortItem(person.retention_until or "", person.retention_until or "9999"),
            )
            for col, item in enumerate(cells):
                self.setItem(row, col, item)
        self.setSortingEnabled(True)
        self.select_ids(list(selected))

    def forget_others(self, people: Sequence[Person]) -> None:
        """Drop the cached pictures of people no longer listed."""
        shown = {p.id for p in people}
        self._thumbs = {pid: icon for pid, icon in self._thumbs.items() if pid in shown}

    def _icon(self, person: Person) -> QIcon:
        cached = self._thumbs.get(person.id)
        if cached is not None and cached[0] == person.updated_at:
            return cached[1]
        rgb = self._thumbnail(person.id)
        icon = QIcon(rgb_pixmap(rgb, ICON)) if rgb is not None else QIcon()
        self._thumbs[person.id] = (person.updated_at, icon)
        return icon

    def selected_ids(self) -> list[int]:
        """Ids of the selected people, in list order."""
        rows = sorted({index.row() for index in self.selectionModel().selectedRows()})
        return [pid for r in rows if (pid := self._row_id(r)) is not None]

    def _row_id(self, row: int) -> int | None:
        item = self.item(row, 0)
        return int(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def select_ids(self, ids: set[int] | list[int]) -> None:
        """Select these people in the list."""
        wanted = set(ids)
        self.clearSelection()
        mode = self.selectionMode()
        self.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in range(self.rowCount()):
            if self._row_id(row) in wanted:
                self.selectRow(row)
        self.setSelectionMode(mode)
