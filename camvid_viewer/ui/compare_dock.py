"""The comparison metrics: A, B and B - A per class, for the frame shown and pooled over the frames scored.

A view of the session (A's scores) and a :class:`~camvid_viewer.analysis.compare.ComparisonState`
(B's); the figures are the same matrices the metrics dock and ``eval --compare`` derive from.
Redrawn at display rate during playback (``ui/throttle.py``).
"""

from __future__ import annotations

__all__ = ["CompareDock", "format_difference"]

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QDockWidget,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.analysis.compare import ClassDifference, ComparisonState, class_differences
from camvid_viewer.session import ViewerSession, format_score
from camvid_viewer.ui.throttle import DisplayRefresh

COLUMNS = ("Class", "IoU A", "IoU B", "B - A", "Run A", "Run B", "Run B - A")
_GAIN, _DROP = QColor(30, 110, 200), QColor(210, 100, 0)  # the difference view's blue and orange


def format_difference(value: float | None) -> str:
    """B - A in percentage points with its sign (``+1.25``), or ``n/a``."""
    return "n/a" if value is None else f"{100 * value:+.2f}"


class CompareDock(QDockWidget):
    """Per class: this frame's IoU under A and B and B - A, then the same pooled (running)."""

    def __init__(self, session: ViewerSession, state: ComparisonState, parent=None) -> None:
        super().__init__("Compare A / B", parent)
        self.setObjectName("compare_dock")
        self.session, self.state = session, state
        body = QWidget()
        layout = QVBoxLayout(body)
        self.models_label = QLabel(wordWrap=True)
        self.frame_label = QLabel(wordWrap=True)
        self.running_label = QLabel(wordWrap=True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for column in (3, 6):
            self.table.horizontalHeaderItem(column).setToolTip("Percentage points: positive where B is better")
        for widget in (self.models_label, self.frame_label):
            layout.addWidget(widget)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.running_label)
        self.setWidget(body)
        self.setMinimumWidth(440)
        self.display = DisplayRefresh(self.refresh, session, self)
        self.visibilityChanged.connect(self.display.shown)
        session.events.metrics.connect(self.display.request)
        state.changed.connect(self.display.request)
        self.refresh()

    def cell_text(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return "" if item is None else item.text()

    def refresh(self) -> None:
        """Redraw now from the session and the comparison."""
        s, state = self.session, self.state
        if not state.active:
            self.models_label.setText("Not comparing: Model > Compare with...")
            self.table.setRowCount(0)
            self.frame_label.setText("")
            self.running_label.setText("")
            return
        self.models_label.setText(f"A: {getattr(s.model, 'name', 'none')}    B: {state.name}")
        a_frame, b_frame = s.frame_scores, state.frame_scores(s.result)
        a_run, b_run = s.running_scores, state.running_scores
        frame = class_differences(a_frame, b_frame)
        running = class_differences(a_run, b_run)
        scored = s.running  # A's scored classes (a class mapping's target when A has one)
        names = [n for i, n in enumerate(scored.class_names) if i != scored.ignore_index]
        frame_by, running_by = {d.name: d for d in frame}, {d.name: d for d in running}
        self.table.setRowCount(len(names))
        for row, name in enumerate(names):
            cells = [name, *_three(frame_by.get(name)), *_three(running_by.get(name))]
            for column, text in enumerate(cells):
                self._set(row, column, text)
        self.frame_label.setText(self._summary("This frame", a_frame, b_frame) if a_frame else
                                 "This frame has no truth: the difference view shows where A and B disagree")
        self.running_label.setText(self._summary(f"Running over {len(state.frames)} frame(s)", a_run, b_run) if b_run
                                   else "Running: no frame scored by both yet")

    @staticmethod
    def _summary(title: str, a, b) -> str:
        diff = None if a is None or b is None or a.mean_iou is None or b.mean_iou is None else b.mean_iou - a.mean_iou
        return (f"{title}: mIoU A {format_score(a.mean_iou if a else None)}, B {format_score(b.mean_iou if b else None)}, "
                f"B - A {format_difference(diff)} points")

    def _set(self, row: int, column: int, text: str) -> None:
        item = self.table.item(row, column)
        if item is None:
            item = QTableWidgetItem(text)
            if column:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)
        elif item.text() != text:
            item.setText(text)
        if column in (3, 6):
            item.setForeground(_GAIN if text.startswith("+") and text != "+0.00" else
                               _DROP if text.startswith("-") and text != "-0.00" else QColor(0, 0, 0))


def _three(d: ClassDifference | None) -> list[str]:
    if d is None:
        return ["", "", ""]
    return [format_score(d.a), format_score(d.b), format_difference(d.difference)]
