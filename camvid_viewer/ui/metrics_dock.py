"""The metrics dock: this frame's pixel accuracy and mIoU (large), a per-class table, running figures.

Every number derives from ``model.metrics`` confusion matrices held by the session:
the frame's own matrix and one matrix accumulated over every frame scored so far
(pooled, not an average of per-frame scores), exactly as ``python main.py eval`` scores.
During playback the dock redraws at display rate (``ui/throttle.py``), not per model frame,
and only the cells whose text changed; paused, stopped or stepping it shows each frame at once.
"""

from __future__ import annotations

__all__ = ["MetricsDock"]

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.session import ViewerSession, format_score
from camvid_viewer.ui.throttle import DisplayRefresh

COLUMNS = ("Class", "IoU", "Dice", "Truth share", "Run IoU", "Run Dice", "Share", "Run share", "Conf.")
TIPS = ("", "This frame", "This frame", "Share of the frame's scored truth pixels", "Pooled over scored frames",
        "Pooled over scored frames", "Share of the frame the model gives this class (no truth needed)",
        "Share over every frame played", "Mean winning-class probability of the class's pixels in this frame")
TRUTH_COLUMNS = (1, 2, 3, 4, 5)  # hidden while the source has no annotations


class MetricsDock(QDockWidget):
    """A view of the session's frame and running scores; ``Reset`` clears the running matrix.

    ``annotations_requested``: the user asked to open an annotations folder (the window does it);
    ``threshold_changed``: the low-confidence threshold changed (the window redraws the frame).
    """

    annotations_requested = pyqtSignal()
    threshold_changed = pyqtSignal()

    def __init__(self, session: ViewerSession, parent=None) -> None:
        super().__init__("Metrics", parent)
        self.setObjectName("metrics_dock")
        self.session = session
        body = QWidget()
        layout = QVBoxLayout(body)
        self._medium = QFont()
        self._medium.setPointSize(13)
        self._medium.setBold(True)
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
        self.frame_caption = QLabel("No truth for this frame")
        self.frame_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(self.frame_caption, 2, 0, 1, 2)
        self.truth_panel = QWidget()  # hidden while the source has no annotations at all
        self.truth_panel.setLayout(grid)
        layout.addWidget(self.truth_panel)
        layout.addLayout(self._build_signals())

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

    def _build_signals(self) -> QGridLayout:
        """The model's own signals: no truth needed (the only figures on a user's own footage)."""
        grid = QGridLayout()
        self.no_truth_label = QLabel("No truth: the model's own signals")
        self.annotations_button = QPushButton("Open annotations...")
        self.annotations_button.setToolTip("Score against ground truth: choose the folder of annotation PNGs")
        self.annotations_button.clicked.connect(self.annotations_requested)
        grid.addWidget(self.no_truth_label, 0, 0, 1, 2)
        grid.addWidget(self.annotations_button, 0, 2)
        self.confidence_label, self.low_share_label, self.flicker_label = QLabel("n/a"), QLabel("n/a"), QLabel("n/a")
        self.threshold_box = QSpinBox()
        self.threshold_box.setRange(1, 99)
        self.threshold_box.setSuffix("%")
        self.threshold_box.setValue(round(100 * self.session.low_confidence))
        self.threshold_box.setToolTip("A pixel whose winning class has a lower probability counts as low confidence")
        self.threshold_box.editingFinished.connect(self._threshold_changed)
        threshold = QHBoxLayout()
        threshold.addWidget(QLabel("Low confidence, under"))
        threshold.addWidget(self.threshold_box)
        self.motion_box = QCheckBox("motion-compensated")
        self.motion_box.setChecked(self.session.motion_flicker)
        self.motion_box.setToolTip("Warp the previous frame's labels by the optical flow first, so camera motion "
                                   "does not count as flicker (8 ms more per frame at 480x360, 30 ms at 960x540 on two cores)")
        self.motion_box.toggled.connect(self._motion_changed)
        flicker = QVBoxLayout()
        flicker.addWidget(QLabel("Flicker vs previous frame"), alignment=Qt.AlignmentFlag.AlignCenter)
        flicker.addWidget(self.motion_box, alignment=Qt.AlignmentFlag.AlignCenter)
        for column, (caption, value) in enumerate((("Mean confidence", self.confidence_label), (threshold, self.low_share_label),
                                                   (flicker, self.flicker_label))):
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            value.setFont(self._medium)
            grid.addWidget(value, 1, column)
            if isinstance(caption, str):
                label = QLabel(caption)
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                grid.addWidget(label, 2, column)
            else:
                grid.addLayout(caption, 2, column)
        return grid

    def _threshold_changed(self) -> None:
        value = self.threshold_box.value() / 100
        if abs(value - self.session.low_confidence) > 1e-9:
            self.session.set_low_confidence(value)
            self.threshold_changed.emit()

    def _motion_changed(self, on: bool) -> None:
        if on != self.session.motion_flicker:
            self.session.set_motion_flicker(on)
            self.threshold_changed.emit()  # the frame is measured again, the new way

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
        self._show_signals(result)
        # One row per class the session scores in: the model's label set (the truth's without a model).
        names, void = self.session.running.class_names, self.session.running.ignore_index
        signals = result.signals if result is not None else None
        totals = self.session.signal_totals if self.session.signals else None
        rows = [[name,
                 format_score(frame.iou[row]) if frame else "",
                 format_score(frame.dice[row]) if frame else "",
                 format_score(frame.pixel_share[row]) if frame and row != void else "",
                 format_score(running.iou[row]) if running else "",
                 format_score(running.dice[row]) if running else "",
                 _share(signals.class_share, row) if signals else "",
                 _share(totals.class_share, row) if totals else "",
                 format_score(signals.class_confidence[row]) if signals and row < len(signals.class_confidence) else "",
                 ] for row, name in enumerate(names)]
        self._show_rows(rows)
        if running is None:
            self.running_label.setText("Running: no frame scored yet" if self.session.truth is not None else self._running_signals())
        else:
            self.running_label.setText(
                f"Running over {len(self.session.scored_indices)} frame(s): pixel accuracy "
                f"{format_score(running.pixel_accuracy)}, mIoU {format_score(running.mean_iou)}, "
                f"mean Dice {format_score(running.mean_dice)}"
            )

    def _show_signals(self, result) -> None:
        signals = None if result is None else result.signals
        has_truth = self.session.truth is not None
        self.no_truth_label.setVisible(not has_truth and self.session.source is not None)
        self.annotations_button.setVisible(not has_truth and self.session.source is not None and not self.session.source.is_live)
        self.truth_panel.setVisible(has_truth or self.session.source is None)
        for column in TRUTH_COLUMNS:
            self.table.setColumnHidden(column, not has_truth)
        self.confidence_label.setText(format_score(signals.mean_confidence) if signals else "n/a")
        self.low_share_label.setText(format_score(signals.low_confidence_share) if signals else "n/a")
        flicker = signals.flicker if signals else None
        self.flicker_label.setText(format_score(flicker) if flicker is not None else "n/a")
        self.flicker_label.setToolTip("" if flicker is not None else "Needs the frame before it (play or step forward)")

    def _running_signals(self) -> str:
        totals = self.session.signal_totals
        if not self.session.signals:
            return "Running: no frame played yet"
        flicker = f", flicker {format_score(totals.mean_flicker)}" if totals.mean_flicker is not None else ""
        return (f"Over {totals.frames} frame(s) played: mean confidence {format_score(totals.mean_confidence)}, "
                f"low confidence {format_score(totals.low_confidence_share)}{flicker}")

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


def _share(shares, row: int) -> str:
    return format_score(shares[row]) if row < len(shares) else ""
