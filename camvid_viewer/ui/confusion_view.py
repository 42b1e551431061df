"""The confusion matrix as a row-normalised heat map, with the most confused class pairs.

Rows are true classes, columns predicted classes; a cell shows the share of the row
class's pixels predicted as the column class. Hovering a cell shows the pixel count.
"""

from __future__ import annotations

__all__ = ["ConfusionHeatMap", "ConfusionMatrixView", "cell_tooltip"]

import numpy as np
from PyQt6.QtCore import QPoint, QRect, Qt
from PyQt6.QtGui import QColor, QFont, QPainter
from PyQt6.QtWidgets import QLabel, QListWidget, QToolTip, QVBoxLayout, QWidget

from camvid_viewer.analysis import most_confused_pairs, row_normalised


def cell_tooltip(matrix: np.ndarray, truth: int, prediction: int, *, class_names) -> str:
    """Hover text of one cell: the share of the true class and the raw pixel count."""
    m = np.asarray(matrix, dtype=np.int64)
    total = int(m[truth].sum())
    share = m[truth, prediction] / total if total else 0.0
    verdict = "correct" if truth == prediction else "confused"
    return (f"true {class_names[truth]} -> predicted {class_names[prediction]} ({verdict})\n"
            f"{share:.1%} of {class_names[truth]} pixels: {int(m[truth, prediction]):,} of {total:,}")


def _heat_colour(value: float) -> QColor:
    """White (0) to deep blue (1), with a steep start so small confusions still show."""
    v = float(np.clip(value, 0, 1)) ** 0.5
    return QColor(round(255 - 225 * v), round(255 - 175 * v), round(255 - 75 * v))


class ConfusionHeatMap(QWidget):
    """Paints the row-normalised matrix for the non-void classes (void column only if predicted).

    Empty until :meth:`set_matrix` gives it a matrix and its classes (the model's label set).
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.class_names: tuple[str, ...] = ()
        self.matrix = np.zeros((0, 0), np.int64)
        self.rows: list[int] = []
        self.columns: list[int] = []
        self.setMouseTracking(True)
        self.setMinimumSize(320, 280)

    def set_matrix(self, matrix: np.ndarray, *, class_names, ignore_index: int | None) -> None:
        self.matrix = np.asarray(matrix, dtype=np.int64)
        self.class_names = tuple(class_names)
        n = self.matrix.shape[0]
        self.rows = [c for c in range(n) if c != ignore_index]
        void_predicted = ignore_index is not None and self.matrix[:, ignore_index].sum() > 0
        self.columns = self.rows + ([ignore_index] if void_predicted else [])
        self.update()

    def normalised(self) -> np.ndarray:
        return row_normalised(self.matrix)

    def value_at(self, truth: int, prediction: int) -> float:
        """The share painted in the cell of (true class, predicted class)."""
        return float(self.normalised()[truth, prediction])

    # -- geometry -----------------------------------------------------------------------------
    def _layout(self) -> tuple[int, int, float, float]:
        metrics = self.fontMetrics()
        left = max((metrics.horizontalAdvance(self.class_names[c]) for c in self.rows), default=0) + 10
        top = max((metrics.horizontalAdvance(self.class_names[c]) for c in self.columns), default=0) + 10
        cell_w = max(1.0, (self.width() - left - 4) / max(1, len(self.columns)))
        cell_h = max(1.0, (self.height() - top - 4) / max(1, len(self.rows)))
        return left, top, cell_w, cell_h

    def cell_rect(self, truth: int, prediction: int) -> QRect:
        left, top, cw, ch = self._layout()
        r, c = self.rows.index(truth), self.columns.index(prediction)
        return QRect(round(left + c * cw), round(top + r * ch), max(1, round(cw)), max(1, round(ch)))

    def cell_at(self, point: QPoint) -> tuple[int, int] | None:
        """(true class, predicted class) under a widget point, or None outside the grid."""
        left, top, cw, ch = self._layout()
        c = int((point.x() - left) // cw)
        r = int((point.y() - top) // ch)
        if point.x() < left or point.y() < top or not (0 <= r < len(self.rows) and 0 <= c < len(self.columns)):
            return None
        return self.rows[r], self.columns[c]

    # -- painting and hover -------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(255, 255, 255))
        norm = self.normalised()
        left, top, cw, ch = self._layout()
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, min(self.font().pointSizeF(), ch * 0.38)))
        for r, t in enumerate(self.rows):
            painter.setPen(QColor(20, 20, 20))
            painter.drawText(QRect(0, round(top + r * ch), left - 6, round(ch)),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self.class_names[t])
            for c, p in enumerate(self.columns):
                rect = QRect(round(left + c * cw), round(top + r * ch), max(1, round(cw)), max(1, round(ch)))
                value = norm[t, p]
                painter.fillRect(rect, _heat_colour(value))
                if t == p:
                    painter.setPen(QColor(40, 40, 40))
                    painter.drawRect(rect.adjusted(0, 0, -1, -1))
                if value >= 0.005 and cw >= 26:
                    painter.setFont(small)
                    painter.setPen(QColor(255, 255, 255) if value > 0.45 else QColor(30, 30, 30))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"{value * 100:.0f}")
                    painter.setFont(self.font())
        painter.setPen(QColor(20, 20, 20))
        for c, p in enumerate(self.columns):
            painter.save()
            painter.translate(round(left + (c + 0.5) * cw) + 4, top - 6)
            painter.rotate(-90)
            painter.drawText(0, 0, self.class_names[p])
            painter.restore()
        painter.end()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        cell = self.cell_at(event.position().toPoint())
        if cell is None:
            QToolTip.hideText()
            return
        QToolTip.showText(event.globalPosition().toPoint(), cell_tooltip(self.matrix, *cell, class_names=self.class_names), self)

    def tooltip_at(self, point: QPoint) -> str:
        cell = self.cell_at(point)
        return "" if cell is None else cell_tooltip(self.matrix, *cell, class_names=self.class_names)


class ConfusionMatrixView(QWidget):
    """Heat map (rows: true class, columns: predicted class, % of the row) and a list of the
    most confused pairs."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        caption = QLabel("Rows: true class. Columns: predicted class. Cell: % of the row's pixels "
                         "(pooled over all evaluated frames). Hover for pixel counts.")
        caption.setWordWrap(True)
        layout.addWidget(caption)
        self.heat_map = ConfusionHeatMap()
        layout.addWidget(self.heat_map, 3)
        layout.addWidget(QLabel("Most confused (true -> predicted, share of the true class):"))
        self.pairs = QListWidget()
        self.pairs.setMaximumHeight(90)
        layout.addWidget(self.pairs, 1)

    def set_matrix(self, matrix: np.ndarray | None, *, class_names, ignore_index: int | None) -> None:
        """Show ``matrix`` (None: an empty one) of the classes ``class_names`` with void ``ignore_index``."""
        if matrix is None:
            matrix = np.zeros((len(class_names),) * 2, np.int64)
        self.heat_map.set_matrix(matrix, class_names=class_names, ignore_index=ignore_index)
        self.pairs.clear()
        for pair in most_confused_pairs(matrix, class_names=class_names, ignore_index=ignore_index, top=8):
            self.pairs.addItem(f"{pair.truth_name} -> {pair.prediction_name}: {pair.share:.1%} ({pair.pixels:,} px)")
