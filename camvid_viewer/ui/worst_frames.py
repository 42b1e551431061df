"""Worst frames: the per-frame table, sortable by mIoU or a class's IoU; a click seeks there."""

from __future__ import annotations

__all__ = ["WorstFramesView", "FrameTableModel"]

import math

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.analysis import FrameRow, frame_rows
from camvid_viewer.analysis.evaluation import SourceEvaluation
from model.classes import CLASS_NAMES, VOID_INDEX

SORT_ROLE = Qt.ItemDataRole.UserRole  # numeric value; n/a sorts after every number
FRAME_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's source frame index
_ROOT = QModelIndex()
_FIXED = ("Frame", "Name", "mIoU", "Pixel acc.", "Flicker")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}"


class FrameTableModel(QAbstractTableModel):
    """Rows of :func:`camvid_viewer.analysis.evaluation.frame_rows` plus one chosen class's IoU column."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[FrameRow] = []
        self.class_index = CLASS_NAMES.index("road")

    def set_rows(self, rows: list[FrameRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def set_class(self, class_index: int) -> None:
        self.class_index = class_index
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, len(_FIXED), len(_FIXED))
        if self.rows:
            self.dataChanged.emit(self.index(0, len(_FIXED)), self.index(len(self.rows) - 1, len(_FIXED)))

    def rowCount(self, parent=_ROOT) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=_ROOT) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(_FIXED) + 1

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        if section < len(_FIXED):
            return _FIXED[section]
        return f"{CLASS_NAMES[self.class_index]} IoU"

    def value(self, row: FrameRow, column: int):
        return (row.index, row.name, row.mean_iou, row.pixel_accuracy, row.flicker, row.iou[self.class_index])[column]

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        value = self.value(row, index.column())
        if role == FRAME_ROLE:
            return row.index
        if role == SORT_ROLE:
            if index.column() == 1:
                return row.index
            return math.inf if value is None else float(value)
        if role == Qt.ItemDataRole.DisplayRole:
            return str(value) if index.column() < 2 else _percent(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() != 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Frame {row.index} ({row.name}): click to show it"
        return None


class WorstFramesView(QWidget):
    """Frames worst first by the chosen figure; click a row to ``seek_requested(frame index)``."""

    seek_requested = pyqtSignal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Worst first by:"))
        self.sort_box = QComboBox()
        self.sort_box.addItem("frame mIoU", "mean_iou")
        for c, name in enumerate(CLASS_NAMES):
            if c != VOID_INDEX:
                self.sort_box.addItem(f"{name} IoU", c)
        self.sort_box.currentIndexChanged.connect(self._sort_choice_changed)
        bar.addWidget(self.sort_box, 1)
        layout.addLayout(bar)

        self.model = FrameTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.clicked.connect(self._row_clicked)
        self.table.activated.connect(self._row_clicked)
        layout.addWidget(self.table, 1)
        self.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)

    def set_evaluation(self, evaluation: SourceEvaluation | None) -> None:
        self.model.set_rows(frame_rows(evaluation) if evaluation is not None else [])
        self._sort_choice_changed()

    def sort_by(self, key: str | int) -> None:
        """``"mean_iou"`` or a class index: show that figure and sort worst first."""
        self.sort_box.setCurrentIndex(self.sort_box.findData(key))

    def frame_at_row(self, row: int) -> int:
        """Source frame index shown in table row ``row`` (after sorting)."""
        return int(self.proxy.data(self.proxy.index(row, 0), FRAME_ROLE))

    def _sort_choice_changed(self) -> None:
        key = self.sort_box.currentData()
        if isinstance(key, int):
            self.model.set_class(key)
            column = len(_FIXED)
        else:
            column = 2
        self.table.sortByColumn(column, Qt.SortOrder.AscendingOrder)

    def _row_clicked(self, index) -> None:
        if index.isValid():
            self.seek_requested.emit(int(self.proxy.data(index, FRAME_ROLE)))
