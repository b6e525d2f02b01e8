"""The step list: one row per finished step — thumbnail, UI-TARS action, target text, result, latency.

``StepTableModel`` holds the plain rows from `ui.payloads.step_payload`; thumbnails become pixmaps here,
in the GUI thread. Mismatched replay steps and errors are tinted red, matches green.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from ui.payloads import THUMB_SIDE, result_text
from ui.screen_view import pixmap_from_array

COLUMNS = ("#", "frame", "action", "target", "latency", "result")
MATCH_BG = QColor("#d7f5dd")
MISMATCH_BG = QColor("#fbd5d5")

Index = QModelIndex | QPersistentModelIndex


class StepTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        self._thumbs: list[QPixmap | None] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                "#": str(row["index"] + 1),
                "action": row["uitars"],
                "target": row["target_text"],
                "result": result_text(row),
                "latency": row.get("timings_short", row["timings_text"]),
            }.get(col)
        if role == Qt.ItemDataRole.DecorationRole and col == "frame":
            return self._thumbs[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(
                x for x in (row["uitars"], row["target_text"], result_text(row), row["timings_text"]) if x
            )
        if role == Qt.ItemDataRole.BackgroundRole:
            if not row["ok"] or row["match"] is False:
                return MISMATCH_BG
            if row["match"] is True:
                return MATCH_BG
        return None

    def append(self, row: dict[str, Any]) -> None:
        n = len(self.rows)
        self.beginInsertRows(QModelIndex(), n, n)
        self.rows.append(row)
        thumb = row.get("thumb")
        self._thumbs.append(pixmap_from_array(thumb) if thumb is not None else None)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.rows = []
        self._thumbs = []
        self.endResetModel()


class StepList(QTableView):
    """The table view over a StepTableModel; follows the newest row while the run goes on."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("stepList")
        self.steps = StepTableModel(self)
        self.setModel(self.steps)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(THUMB_SIDE * 2 // 3 + 4)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in zip(COLUMNS, (28, THUMB_SIDE + 8, 190, 110, 220, 80), strict=True):
            self.setColumnWidth(COLUMNS.index(col), width)
        self.setWordWrap(False)

    def append(self, row: dict[str, Any]) -> None:
        self.steps.append(row)
        self.scrollToBottom()

    def clear(self) -> None:
        self.steps.clear()
