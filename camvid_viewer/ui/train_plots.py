"""The training dialog's plots: loss per step, validation scores per epoch, per-class IoU bars."""

from __future__ import annotations

__all__ = ["TrainingPlots"]

import pyqtgraph as pg
from PyQt6.QtWidgets import QGridLayout, QWidget

from model.classes import LabelSet


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w", title=title)
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    w.showGrid(x=True, y=True, alpha=0.25)
    return w


class TrainingPlots(QWidget):
    """Training loss (top), validation pixel accuracy and mIoU (bottom left), latest per-class IoU
    (bottom right). The curves and bars are attributes, so a caller can read what is drawn.

    The bars are the scored classes of :meth:`set_classes` (the training dataset's, or the card of
    the checkpoint a run resumes); none until then.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = _plot("Training loss", "loss", "step")
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen("#1f77b4", width=1.5))
        self.val_plot = _plot("Validation", "score", "epoch")
        self.val_plot.setYRange(0, 1)
        self.val_plot.addLegend(offset=(-10, -10))
        symbol = {"symbol": "o", "symbolSize": 6}
        self.acc_curve = self.val_plot.plot(pen=pg.mkPen("#2ca02c", width=2), symbolBrush="#2ca02c", name="pixel accuracy", **symbol)
        self.miou_curve = self.val_plot.plot(pen=pg.mkPen("#d62728", width=2), symbolBrush="#d62728", name="mIoU", **symbol)
        self.class_plot = _plot("Per-class val IoU (latest epoch)", "", "IoU")
        self.class_plot.setXRange(0, 1)
        self.class_plot.invertY(True)
        self.classes: list[str] = []  # the bars' class names, top to bottom
        self.class_bars = pg.BarGraphItem(x0=0, y=[], height=0.7, width=[], brushes=[])
        self.class_plot.addItem(self.class_bars)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.loss_plot, 0, 0, 1, 2)
        grid.addWidget(self.val_plot, 1, 0)
        grid.addWidget(self.class_plot, 1, 1)

    def set_classes(self, label_set: LabelSet | None) -> None:
        """One bar per scored class of ``label_set``, in its colour (None: no bars)."""
        scored = label_set.scored if label_set is not None else ()
        names = [label_set.names[i] for i in scored]
        if names == self.classes:
            return
        self.classes = names
        self.class_plot.getAxis("left").setTicks([list(enumerate(names))])
        self.class_plot.setYRange(-0.6, max(len(names), 1) - 0.4)
        self.class_bars.setOpts(y=list(range(len(names))), width=[0] * len(names),
                                brushes=[pg.mkBrush(*label_set.palette_rgb[i]) for i in scored])

    def clear(self) -> None:
        """Empty every curve and bar (a new run starts)."""
        for curve in (self.loss_curve, self.acc_curve, self.miou_curve):
            curve.setData([], [])
        self.class_bars.setOpts(width=[0] * len(self.classes))

    def show_losses(self, losses) -> None:
        """``losses``: (step, loss) pairs so far."""
        steps, loss = zip(*losses, strict=True)
        self.loss_curve.setData(list(steps), list(loss))

    def show_validation(self, val, *, epochs: int) -> None:
        """``val``: (epoch, pixel accuracy, mIoU) triples so far; ``epochs``: the run's length."""
        done, acc, miou = zip(*val, strict=True)
        self.acc_curve.setData(list(done), list(acc))
        self.miou_curve.setData(list(done), list(miou))
        self.val_plot.setXRange(0.5, max(epochs, 2) + 0.5)

    def show_class_iou(self, class_iou: dict) -> None:
        """Bars of the latest epoch's IoU per class name (a missing or n/a class shows 0)."""
        self.class_bars.setOpts(width=[class_iou.get(n) or 0.0 for n in self.classes])
