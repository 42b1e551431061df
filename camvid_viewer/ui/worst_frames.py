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
    QListWidget,
    QListWidgetItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.analysis import FrameRow, class_choices, default_class, frame_rows
from camvid_viewer.analysis.evaluation import SourceEvaluation
from model.signals import worth_a_look

SORT_ROLE = Qt.ItemDataRole.UserRole  # numeric value; n/a sorts after every number
FRAME_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's source frame index
_ROOT = QModelIndex()
_FIXED = ("Frame", "Name", "mIoU", "Pixel acc.", "Flicker")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}"


class FrameTableModel(QAbstractTableModel):
    """Rows of :func:`camvid_viewer.analysis.evaluation.frame_rows` plus one chosen class's IoU column
    (the rows' own classes: the evaluated model's)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[FrameRow] = []
        self.class_index: int | None = None

    def set_rows(self, rows: list[FrameRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def set_class(self, class_index: int | None) -> None:
        self.class_index = class_index
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, len(_FIXED), len(_FIXED))
        if self.rows:
            self.dataChanged.emit(self.index(0, len(_FIXED)), self.index(len(self.rows) - 1, len(_FIXED)))

    def rowCount(self, parent=_ROOT) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=_ROOT) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(_FIXED) + 1

    @property
    def class_name(self) -> str | None:
        """The name of the class in the IoU column (the rows' classes), None before any rows."""
        names, c = (self.rows[0].class_names if self.rows else ()), self.class_index
        return names[c] if c is not None and c < len(names) else None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        if section < len(_FIXED):
            return _FIXED[section]
        return f"{self.class_name or 'Class'} IoU"

    def value(self, row: FrameRow, column: int):
        class_iou = row.iou[self.class_index] if self.class_index is not None else None
        return (row.index, row.name, row.mean_iou, row.pixel_accuracy, row.flicker, class_iou)[column]

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
        layout.addLayout(self._build_look())

    def _build_look(self) -> QVBoxLayout:
        """Without truth: the frames played that are worth a look, by the model's own signals."""
        box = QVBoxLayout()
        bar = QHBoxLayout()
        self.look_caption = QLabel("Frames worth a look (no truth needed), played so far, by:")
        bar.addWidget(self.look_caption)
        self.look_box = QComboBox()
        self.look_box.addItem("lowest confidence", "confidence")
        self.look_box.addItem("highest flicker", "flicker")
        self.look_box.currentIndexChanged.connect(lambda _=None: self.set_signals(self._signals))
        bar.addWidget(self.look_box, 1)
        box.addLayout(bar)
        self.look_list = QListWidget()
        self.look_list.setMaximumHeight(120)
        self.look_list.itemClicked.connect(lambda item: self.seek_requested.emit(int(item.data(FRAME_ROLE))))
        self.look_list.itemActivated.connect(lambda item: self.seek_requested.emit(int(item.data(FRAME_ROLE))))
        box.addWidget(self.look_list)
        self._signals: dict = {}
        return box

    def set_signals(self, signals: dict) -> None:
        """The frames played (``{index: FrameSignals}``): list the ones worth a look, near-duplicates skipped."""
        self._signals = signals
        by = str(self.look_box.currentData())
        self.look_list.clear()
        for index in worth_a_look(signals, by=by):
            s = signals[index]
            figure = f"confidence {_percent(s.mean_confidence)}%" if by == "confidence" else f"flicker {_percent(s.flicker)}%"
            item = QListWidgetItem(f"Frame {index}: {figure}, low-confidence pixels {_percent(s.low_confidence_share)}%")
            item.setData(FRAME_ROLE, index)
            self.look_list.addItem(item)

    def looked_frames(self) -> list[int]:
        return [int(self.look_list.item(i).data(FRAME_ROLE)) for i in range(self.look_list.count())]

    def set_evaluation(self, evaluation: SourceEvaluation | None) -> None:
        """Show ``evaluation``'s frames; the sort choices are its scored classes (None clears)."""
        if evaluation is not None:
            self.offer_classes(class_choices(evaluation))
        self.model.set_rows(frame_rows(evaluation) if evaluation is not None else [])
        self._sort_choice_changed()

    def offer_classes(self, choices: list[tuple[int, str]]) -> None:
        """One "<class> IoU" sort choice per class; the choice and the class column are kept when
        the new classes have them, else the column shows road, or the first class."""
        offered = [(self.sort_box.itemData(i), self.sort_box.itemText(i)) for i in range(1, self.sort_box.count())]
        if offered == [(c, f"{name} IoU") for c, name in choices]:
            return
        sorted_by = self.sort_box.currentText() if isinstance(self.sort_box.currentData(), int) else None
        column = self.model.class_name
        self.sort_box.blockSignals(True)
        while self.sort_box.count() > 1:
            self.sort_box.removeItem(1)
        for c, name in choices:
            self.sort_box.addItem(f"{name} IoU", c)
        self.sort_box.setCurrentIndex(max(0, self.sort_box.findText(sorted_by)) if sorted_by else 0)
        self.sort_box.blockSignals(False)
        self.model.class_index = default_class(choices, keep=column)

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
