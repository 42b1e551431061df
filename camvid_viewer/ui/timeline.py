"""The metrics timeline: per-frame mIoU, one class's IoU and flicker against frame index.

A pyqtgraph view of a :class:`~camvid_viewer.analysis.evaluation.SourceEvaluation`. A vertical
playhead follows the current frame; a click anywhere in the plots asks for a seek to
the nearest evaluated frame through ``seek_requested(int)`` (the window decides).

The axes (which draw the grid across the whole plot) are cached as pixmaps, so moving the
playhead repaints a line over cached pictures instead of redrawing every tick and grid line.
"""

from __future__ import annotations

__all__ = ["MetricsTimeline", "nearest_index", "style_plot"]

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.analysis.evaluation import SourceEvaluation
from camvid_viewer.analysis.summaries import class_choices, default_class
from model.signals import worth_a_look

_MIOU_PEN = pg.mkPen((40, 110, 220), width=2)
_CLASS_PEN = pg.mkPen((230, 130, 20), width=2)
_FLICKER_PEN = pg.mkPen((90, 90, 90), width=1.5)
_TRUTH_PEN = pg.mkPen((60, 170, 90), width=1.5, style=Qt.PenStyle.DashLine)
_PLAYHEAD_PEN = pg.mkPen((220, 30, 30), width=2)
_CONFIDENCE_PEN = pg.mkPen((130, 60, 170), width=2)
_LOW_PEN = pg.mkPen((200, 60, 140), width=1.5, style=Qt.PenStyle.DotLine)
_LIVE_FLICKER_PEN = pg.mkPen((20, 150, 150), width=1.5)
MARKED = 3  # frames marked as the least confident and the most flickering


def nearest_index(x: float, indices: Sequence[int]) -> int | None:
    """The evaluated frame index closest to plot position ``x`` (ties go to the earlier one)."""
    if len(indices) == 0:
        return None
    values = np.asarray(indices)
    return int(values[int(np.argmin(np.abs(values - x)))])


def style_plot(plot, *, legend_columns: int) -> None:
    """A frame-index plot as the timelines draw it: grid, x-only panning, a legend, cached axes."""
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.setMouseEnabled(x=True, y=False)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getAxis("left").enableAutoSIPrefix(False)
    plot.getAxis("left").setWidth(48)
    plot.addLegend(offset=(50, 1), labelTextColor=(30, 30, 30), colCount=legend_columns, brush=(255, 255, 255, 200))
    for name in ("left", "bottom"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def _series(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


class MetricsTimeline(QWidget):
    """Two x-linked plots: scores (0..1) above, flicker below, with a playhead in both.

    The class picker offers the scored classes of the evaluation shown (its model's label set),
    road first when the model has a class called road."""

    seek_requested = pyqtSignal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.evaluation: SourceEvaluation | None = None
        self.class_index: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Class IoU:"))
        self.class_box = QComboBox()
        self.class_box.currentIndexChanged.connect(self._class_changed)
        bar.addWidget(self.class_box)
        self.compensated = QCheckBox("Flicker after motion compensation")
        self.compensated.setToolTip("Compare each frame with the previous one moved by optical flow, so camera motion does not count")
        self.compensated.toggled.connect(lambda _=None: self._redraw())
        bar.addWidget(self.compensated)
        bar.addStretch(1)
        self.caption = QLabel("Click a plot to jump to that frame")
        bar.addWidget(self.caption)
        layout.addLayout(bar)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.score_plot = self.graphics.addPlot(row=0, col=0)
        self.flicker_plot = self.graphics.addPlot(row=1, col=0)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 2)
        self.flicker_plot.setXLink(self.score_plot)
        self.score_plot.setYRange(0, 1, padding=0.02)
        self.score_plot.setLabel("left", "IoU, confidence")
        self.flicker_plot.setLabel("left", "flicker %")
        self.flicker_plot.setLabel("bottom", "frame index")
        for plot in (self.score_plot, self.flicker_plot):
            style_plot(plot, legend_columns=3)
        self.miou_curve = self.score_plot.plot([], [], pen=_MIOU_PEN, name="frame mIoU", symbol="o", symbolSize=4,
                                               symbolBrush=(40, 110, 220), symbolPen=None)
        self.class_curve = self.score_plot.plot([], [], pen=_CLASS_PEN, name="class IoU")
        self.flicker_curve = self.flicker_plot.plot([], [], pen=_FLICKER_PEN, name="prediction changes")
        self.truth_curve = self.flicker_plot.plot([], [], pen=_TRUTH_PEN, name="truth changes")
        # Filled in as frames play, no truth needed: the model's own signals (``set_live``).
        self.live_indices = np.zeros(0, dtype=np.int64)
        self._live_ranges: tuple | None = None  # (x from, x to, flicker ceiling) last set by set_live
        self.confidence_curve = self.score_plot.plot([], [], pen=_CONFIDENCE_PEN, name="mean confidence")
        self.low_curve = self.score_plot.plot([], [], pen=_LOW_PEN, name="low-confidence share")
        self.live_flicker_curve = self.flicker_plot.plot([], [], pen=_LIVE_FLICKER_PEN, name="flicker (played)")
        self.confidence_marks = pg.ScatterPlotItem(size=10, symbol="t", brush=(130, 60, 170), pen=None)
        self.flicker_marks = pg.ScatterPlotItem(size=10, symbol="t1", brush=(20, 150, 150), pen=None)
        self.score_plot.addItem(self.confidence_marks)
        self.flicker_plot.addItem(self.flicker_marks)
        self.playheads = [pg.InfiniteLine(pos=0, angle=90, movable=False, pen=_PLAYHEAD_PEN) for _ in range(2)]
        self.score_plot.addItem(self.playheads[0], ignoreBounds=True)
        self.flicker_plot.addItem(self.playheads[1], ignoreBounds=True)
        self.graphics.scene().sigMouseClicked.connect(self._clicked)
        layout.addWidget(self.graphics, 1)
        self.setMinimumHeight(240)

    # -- data ---------------------------------------------------------------------------------
    def set_evaluation(self, evaluation: SourceEvaluation | None) -> None:
        """Show ``evaluation`` (None clears the plots)."""
        self.evaluation = evaluation
        if evaluation is not None:
            self.offer_classes(class_choices(evaluation))
            self.flicker_plot.enableAutoRange(axis="y")
            self._live_ranges = None
        self._redraw()
        if evaluation is not None and len(evaluation):
            self.score_plot.setXRange(float(evaluation.indices[0]), float(evaluation.indices[-1]), padding=0.01)

    def set_live(self, signals: dict, frame_count: int | None = None) -> None:
        """Show the signals of the frames played so far (``{index: FrameSignals}``), marking the
        ``MARKED`` least confident frames and the most flickering ones (one per bad moment).

        The axes span the whole source (``frame_count``) and the flicker axis grows in steps, so
        a new point redraws curves, not axes (their ticks and grid cost more than the curves)."""
        indices = np.array(sorted(signals), dtype=np.int64)
        self.live_indices = indices
        x = indices.astype(np.float64)
        rows = [signals[i] for i in indices]
        confidence = np.array([s.mean_confidence for s in rows], dtype=np.float64)
        low = np.array([s.low_confidence_share for s in rows], dtype=np.float64)
        flicker = _series(s.flicker for s in rows)
        self.confidence_curve.setData(x, confidence, connect="finite")
        self.low_curve.setData(x, low, connect="finite")
        self.live_flicker_curve.setData(x, 100 * flicker, connect="finite")
        position = {int(i): k for k, i in enumerate(indices)}
        least = [position[i] for i in worth_a_look(signals, by="confidence", count=MARKED)]
        most = [position[i] for i in worth_a_look(signals, by="flicker", count=MARKED)]
        self.confidence_marks.setData(x[least], confidence[least])
        self.flicker_marks.setData(x[most], 100 * flicker[most])
        if len(x) and self.evaluation is None:
            self._keep_live_ranges(x, flicker, frame_count)

    def _keep_live_ranges(self, x: np.ndarray, flicker: np.ndarray, frame_count: int | None) -> None:
        last = float(frame_count - 1) if frame_count else float(max(x[-1], x[0] + 1))
        top = float(np.nanmax(100 * flicker)) if np.isfinite(flicker).any() else 0.0
        ceiling = next((step for step in (5.0, 10.0, 20.0, 50.0) if top <= step), 100.0)
        ranges = (0.0 if frame_count else float(x[0]), max(last, 1.0), ceiling)
        if ranges != self._live_ranges:
            self._live_ranges = ranges
            self.score_plot.setXRange(ranges[0], ranges[1], padding=0.01)
            self.flicker_plot.setYRange(0.0, ceiling, padding=0.02)

    @property
    def marked_frames(self) -> tuple[list[int], list[int]]:
        """(least confident, most flickering) frame indices marked on the plots."""
        least = [int(v) for v in self.confidence_marks.data["x"]]
        most = [int(v) for v in self.flicker_marks.data["x"]]
        return least, most

    def set_class(self, class_index: int) -> None:
        self.class_box.setCurrentIndex(self.class_box.findData(class_index))

    def set_current_index(self, index: int) -> None:
        """Move the playhead to source frame ``index``."""
        if self.playhead == index:
            return
        for line in self.playheads:
            line.setValue(index)

    @property
    def playhead(self) -> float:
        return float(self.playheads[0].value())

    def curve_data(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """What each curve shows, as (x, y) arrays; for tests and screenshots."""
        curves = {"mean_iou": self.miou_curve, "class_iou": self.class_curve,
                  "flicker": self.flicker_curve, "truth_change": self.truth_curve}
        return {k: tuple(np.asarray(a) for a in c.getData()) for k, c in curves.items()}

    def offer_classes(self, choices: list[tuple[int, str]]) -> None:
        """Fill the class picker, keeping the class shown when the new evaluation has it."""
        if [(self.class_box.itemData(i), self.class_box.itemText(i)) for i in range(self.class_box.count())] == choices:
            return
        shown = self.class_box.currentText() or None
        self.class_box.blockSignals(True)
        self.class_box.clear()
        for c, name in choices:
            self.class_box.addItem(name, c)
        self.class_index = default_class(choices, keep=shown)
        self.class_box.setCurrentIndex(self.class_box.findData(self.class_index))
        self.class_box.blockSignals(False)

    def _class_changed(self) -> None:
        data = self.class_box.currentData()
        self.class_index = None if data is None else int(data)
        self._redraw()

    def _redraw(self) -> None:
        ev = self.evaluation
        name = self.class_box.currentText() or "class"
        self.class_curve.opts["name"] = f"{name} IoU"
        _rename_legend(self.score_plot, self.class_curve, f"{name} IoU")
        if ev is None or not len(ev):
            for curve in (self.miou_curve, self.class_curve, self.flicker_curve, self.truth_curve):
                curve.setData([], [])
            return
        x = ev.indices.astype(np.float64)
        scores = ev.frame_scores
        self.miou_curve.setData(x, _series(s.mean_iou for s in scores), connect="finite")
        c = self.class_index
        self.class_curve.setData(x, _series(s.iou[c] for s in scores) if c is not None else np.full(len(x), np.nan), connect="finite")
        compensated = self.compensated.isChecked()
        flicker = ev.flicker_compensated if compensated else ev.flicker
        truth = ev.truth_change_compensated if compensated else ev.truth_change
        self.flicker_curve.setData(x, 100 * flicker, connect="finite")
        self.truth_curve.setData(x, 100 * truth, connect="finite")
        self.truth_curve.setVisible(bool(np.isfinite(truth).any()))

    def _clicked(self, event) -> None:
        evaluated = self.evaluation.indices if self.evaluation is not None else np.zeros(0, dtype=np.int64)
        indices = np.union1d(evaluated, self.live_indices)
        if not len(indices):
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.scenePos()
        for plot in (self.score_plot, self.flicker_plot):
            if plot.sceneBoundingRect().contains(pos):
                x = plot.vb.mapSceneToView(pos).x()
                index = nearest_index(x, indices)
                if index is not None:
                    self.seek_requested.emit(index)
                return


def _rename_legend(plot, curve, text: str) -> None:
    legend = plot.legend
    if legend is None:
        return
    for sample, label in legend.items:
        if sample.item is curve:
            label.setText(text)
