"""The metrics dock: this frame's pixel accuracy and mIoU (large), a per-class table, running figures.

Every number derives from ``model.metrics`` confusion matrices held by the session:
the frame's own matrix and one matrix accumulated over every frame scored so far
(pooled, not an average of per-frame scores), exactly as ``python main.py eval`` scores.
During playback the dock redraws at display rate (``ui/throttle.py``), not per model frame,
and only the cells whose text changed; paused, stopped or stepping it shows each frame at once.
"""

from __future__ import annotations

__all__ = ["MetricsDock"]

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QDockWidget,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.session import ViewerSession, format_score
from camvid_viewer.ui.throttle import DisplayRefresh

COLUMNS = ("Class", "IoU", "Dice", "Share", "Run IoU", "Run Dice")
TIPS = ("", "This frame", "This frame", "Share of the frame's scored pixels", "Pooled over scored frames", "Pooled over scored frames")


class MetricsDock(QDockWidget):
    """A view of the session's frame and running scores; ``Reset`` clears the running matrix."""

    def __init__(self, session: ViewerSession, parent=None) -> None:
        super().__init__("Metrics", parent)
        self.setObjectName("metrics_dock")
        self.session = session
        body = QWidget()
        layout = QVBoxLayout(body)
        big = QFont()
        big.setPointSize(20)
        big.setBold(True)
        grid = QGridLayout()
        self.pixel_accuracy_label = QLabel("n/a")
        self.mean_iou_label = QLabel("n/a")
        for column, (title, value) in enumerate((("Pixel accuracy", self.pixel_accuracy_label), ("mIoU", self.mean_iou_label))):
            value.setFont(big)
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption = QLabel(title)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(value, 0, column)
            grid.addWidget(caption, 1, column)
        layout.addLayout(grid)
        self.frame_caption = QLabel("No truth for this frame")
        self.frame_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.frame_caption)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for column, tip in enumerate(TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.setMinimumWidth(440)
        layout.addWidget(self.table, 1)

        running = QHBoxLayout()
        self.running_label = QLabel()
        self.running_label.setWordWrap(True)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Forget the running figures and start pooling again from the next scored frame")
        self.reset_button.clicked.connect(session.reset_running)
        running.addWidget(self.running_label, 1)
        running.addWidget(self.reset_button)
        layout.addLayout(running)
        self.setWidget(body)

        self.frame_scores = None
        self.running_scores = None
        self.display = DisplayRefresh(self.refresh, session, self)
        self.visibilityChanged.connect(self.display.shown)
        session.events.metrics.connect(self.display.request)
        session.events.source.connect(self.refresh)
        session.events.model.connect(self.refresh)
        session.events.truth.connect(self.refresh)
        self.refresh()

    def cell_text(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return "" if item is None else item.text()

    def refresh(self) -> None:
        """Redraw from the session now (``display.request()`` is the throttled way)."""
        frame = self.frame_scores = self.session.frame_scores
        running = self.running_scores = self.session.running_scores
        self.pixel_accuracy_label.setText(format_score(frame.pixel_accuracy) if frame else "n/a")
        self.mean_iou_label.setText(format_score(frame.mean_iou) if frame else "n/a")
        result = self.session.result
        if frame is not None:
            self.frame_caption.setText(f"Frame {result.index}: {frame.pixels:,} scored pixels")
        elif result is not None and result.labels is None:
            self.frame_caption.setText("No model loaded")
        else:
            self.frame_caption.setText("No truth for this frame")
        # One row per class the session scores in: the model's label set (the truth's without a model).
        names, void = self.session.running.class_names, self.session.running.ignore_index
        rows = [[name,
                 format_score(frame.iou[row]) if frame else "",
                 format_score(frame.dice[row]) if frame else "",
                 format_score(frame.pixel_share[row]) if frame and row != void else "",
                 format_score(running.iou[row]) if running else "",
                 format_score(running.dice[row]) if running else ""] for row, name in enumerate(names)]
        self._show_rows(rows)
        if running is None:
            self.running_label.setText("Running: no frame scored yet")
        else:
            self.running_label.setText(
                f"Running over {len(self.session.scored_indices)} frame(s): pixel accuracy "
                f"{format_score(running.pixel_accuracy)}, mIoU {format_score(running.mean_iou)}, "
                f"mean Dice {format_score(running.mean_dice)}"
            )

    def _show_rows(self, rows: list[list[str]]) -> None:
        """Put ``rows`` in the table, touching only the cells whose text changed."""
        table = self.table
        if table.rowCount() != len(rows):
            table.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for column, text in enumerate(values):
                item = table.item(row, column)
                if item is None:
                    item = QTableWidgetItem(text)
                    if column:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    table.setItem(row, column, item)
                elif item.text() != text:
                    item.setText(text)
