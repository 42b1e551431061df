"""The comparison timeline: each scored frame's mIoU under A and B, B - A beneath, and the
frames B lost or won most, sorted by the largest drop or gain; a click seeks there.

Filled in as frames are scored (playing, stepping or seeking), from the
:class:`~camvid_viewer.analysis.compare.ComparisonState`; redrawn at display rate.
"""

from __future__ import annotations

__all__ = ["CompareTimelineDock"]

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.analysis.compare import ComparisonState
from camvid_viewer.session import ViewerSession
from camvid_viewer.ui.compare_dock import format_difference
from camvid_viewer.ui.throttle import DisplayRefresh
from camvid_viewer.ui.timeline import nearest_index, style_plot

_A_PEN = pg.mkPen((40, 110, 220), width=2)
_B_PEN = pg.mkPen((230, 130, 20), width=2)
_DIFF_PEN = pg.mkPen((90, 90, 90), width=1.5)
_PLAYHEAD_PEN = pg.mkPen((220, 30, 30), width=2)
FRAMES_LISTED = 20
ORDERS = {"drop": "Largest drop (B worse) first", "gain": "Largest gain (B better) first"}


class CompareTimelineDock(QDockWidget):
    """Plots of A's and B's frame mIoU and of B - A, and the ranked frames; ``seek_requested(index)``."""

    seek_requested = pyqtSignal(int)

    def __init__(self, session: ViewerSession, state: ComparisonState, parent=None) -> None:
        super().__init__("Compare timeline", parent)
        self.setObjectName("compare_timeline_dock")
        self.session, self.state = session, state
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.score_plot = self.graphics.addPlot(row=0, col=0)
        self.diff_plot = self.graphics.addPlot(row=1, col=0)
        self.diff_plot.setXLink(self.score_plot)
        self.score_plot.setYRange(0, 1, padding=0.02)
        self.score_plot.setLabel("left", "frame mIoU")
        self.diff_plot.setLabel("left", "B - A (points)")
        self.diff_plot.setLabel("bottom", "frame index")
        for plot in (self.score_plot, self.diff_plot):
            style_plot(plot, legend_columns=2)
        self.a_curve = self.score_plot.plot([], [], pen=_A_PEN, name="A", symbol="o", symbolSize=4, symbolPen=None,
                                            symbolBrush=(40, 110, 220))
        self.b_curve = self.score_plot.plot([], [], pen=_B_PEN, name="B", symbol="o", symbolSize=4, symbolPen=None,
                                            symbolBrush=(230, 130, 20))
        self.diff_curve = self.diff_plot.plot([], [], pen=_DIFF_PEN, name="B - A", symbol="o", symbolSize=4,
                                              symbolPen=None, symbolBrush=(90, 90, 90))
        self.diff_plot.addItem(pg.InfiniteLine(pos=0, angle=0, movable=False, pen=pg.mkPen((160, 160, 160))), ignoreBounds=True)
        self.playheads = [pg.InfiniteLine(pos=0, angle=90, movable=False, pen=_PLAYHEAD_PEN) for _ in range(2)]
        self.score_plot.addItem(self.playheads[0], ignoreBounds=True)
        self.diff_plot.addItem(self.playheads[1], ignoreBounds=True)
        self.graphics.scene().sigMouseClicked.connect(self._clicked)

        self.order_box = QComboBox()
        for key, text in ORDERS.items():
            self.order_box.addItem(text, key)
        self.order_box.currentIndexChanged.connect(lambda _=None: self.refresh())
        self.frame_list = QListWidget()
        self.frame_list.itemClicked.connect(lambda item: self.seek_requested.emit(int(item.data(Qt.ItemDataRole.UserRole))))
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Frames:"))
        bar.addWidget(self.order_box, 1)
        side_layout.addLayout(bar)
        side_layout.addWidget(self.frame_list, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.graphics)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        self.setWidget(splitter)
        self.setMinimumHeight(200)
        self.display = DisplayRefresh(self.refresh, session, self)
        self.visibilityChanged.connect(self.display.shown)
        state.changed.connect(self.display.request)
        session.events.index.connect(self._move_playhead)

    @property
    def order(self) -> str:
        return self.order_box.currentData()

    def set_order(self, order: str) -> None:
        self.order_box.setCurrentIndex(self.order_box.findData(order))

    def listed_frames(self) -> list[int]:
        """The frame indices in the list, in its order."""
        return [int(self.frame_list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.frame_list.count())]

    def curve_data(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """What each curve shows, as (x, y) arrays; for tests and screenshots."""
        curves = {"a": self.a_curve, "b": self.b_curve, "difference": self.diff_curve}
        return {k: tuple(np.asarray(v) for v in c.getData()) for k, c in curves.items()}

    def refresh(self) -> None:
        frames = [self.state.frames[i] for i in sorted(self.state.frames)]
        x = np.array([f.index for f in frames], dtype=np.float64)
        a = np.array([np.nan if f.a is None else f.a for f in frames], dtype=np.float64)
        b = np.array([np.nan if f.b is None else f.b for f in frames], dtype=np.float64)
        self.a_curve.setData(x, a, connect="finite")
        self.b_curve.setData(x, b, connect="finite")
        self.diff_curve.setData(x, 100 * (b - a), connect="finite")
        self.frame_list.clear()
        for f in self.state.ranked(self.order)[:FRAMES_LISTED]:
            name = self.session.source.frame_name(f.index) if self.session.source is not None else str(f.index)
            item = QListWidgetItem(f"{f.index}  {name}: {format_difference(f.difference)}")
            item.setData(Qt.ItemDataRole.UserRole, f.index)
            self.frame_list.addItem(item)

    def _move_playhead(self, index: int) -> None:
        for line in self.playheads:
            line.setValue(index)

    def _clicked(self, event) -> None:
        indices = sorted(self.state.frames)
        if not indices or event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.scenePos()
        for plot in (self.score_plot, self.diff_plot):
            if plot.sceneBoundingRect().contains(pos):
                index = nearest_index(plot.vb.mapSceneToView(pos).x(), indices)
                if index is not None:
                    self.seek_requested.emit(index)
                return
