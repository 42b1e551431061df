"""The edit layer: a transparent widget over the canvas that draws the editable labels and takes the mouse.

The canvas keeps painting the plain frame (one pre-scaled image); this layer draws the label
colours over it at the session's opacity. A stroke recolours only its box of the colour
array and repaints only that box on screen (``show_boxes``), so editing a 960x540 frame
costs a few small arrays per mouse move, not a redraw of the view.
"""

from __future__ import annotations

__all__ = ["EditLayer"]

import numpy as np
from PyQt6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import QWidget

from camvid_viewer.ui.canvas import fit_rect


class EditLayer(QWidget):
    """Covers ``canvas``; shows ``labels`` coloured by a BGRA lookup table; reports mouse input in
    frame pixels: ``pressed(x, y, button)``, ``dragged(x, y)``, ``released()``, ``double_clicked(x, y)``,
    ``wheel_steps(n)`` (with Ctrl)."""

    pressed = pyqtSignal(float, float, object)
    dragged = pyqtSignal(float, float)
    released = pyqtSignal()
    double_clicked = pyqtSignal(float, float)
    wheel_steps = pyqtSignal(int)

    def __init__(self, canvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.labels: np.ndarray | None = None
        self._lut = np.zeros((256, 4), np.uint8)
        self._colours: np.ndarray | None = None  # HxWx4 premultiplied BGRA, the labels' colours
        self._image: QImage | None = None  # over _colours' memory
        self.opacity = 0.5
        self.overlay_shown = True
        self.brush_radius: float | None = None  # frame pixels; None: no brush outline
        self.polygon: list[tuple[float, float]] = []  # vertices of the polygon being drawn
        self._hover: QPointF | None = None
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setGeometry(canvas.rect())
        canvas.installEventFilter(self)
        self.hide()

    # -- what is drawn -------------------------------------------------------------------------
    def set_labels(self, labels: np.ndarray | None, *, palette_bgr: np.ndarray, hidden=frozenset()) -> None:
        """Show ``labels`` (kept, not copied: the edit changes them and calls :meth:`show_boxes`)."""
        self.labels = labels
        self._lut[:] = 0
        count = min(len(palette_bgr), 256)
        self._lut[:count, :3] = np.asarray(palette_bgr, np.uint8)[:count]
        self._lut[:count, 3] = 255
        for index in hidden:
            if 0 <= index < 256:
                self._lut[index] = 0  # premultiplied: a transparent pixel has no colour
        if labels is None:
            self._colours = self._image = None
        else:
            self._colours = np.ascontiguousarray(self._lut[labels])
            h, w = labels.shape
            self._image = QImage(self._colours.data, w, h, self._colours.strides[0], QImage.Format.Format_ARGB32_Premultiplied)
        self.update()

    def show_boxes(self, boxes) -> None:
        """Recolour and repaint only ``boxes`` (top, left, bottom, right) of the labels."""
        if self._colours is None:
            return
        for top, left, bottom, right in boxes:
            self._colours[top:bottom, left:right] = self._lut[self.labels[top:bottom, left:right]]
            self.update(self._screen_rect(top, left, bottom, right))

    def set_opacity(self, opacity: float, *, shown: bool) -> None:
        self.opacity, self.overlay_shown = float(opacity), bool(shown)
        self.update()

    # -- frame <-> screen ----------------------------------------------------------------------
    def _image_rect(self) -> tuple[int, int, int, int]:
        size = self.canvas.image_size() or ((self.labels.shape[1], self.labels.shape[0]) if self.labels is not None else (0, 0))
        return fit_rect(image_size=size, area=(self.width(), self.height()))

    def _scale(self) -> float:
        x, y, w, h = self._image_rect()
        return w / self.labels.shape[1] if self.labels is not None and w else 1.0

    def to_frame(self, pos: QPointF) -> tuple[float, float]:
        """A widget position in frame pixels (x, y), pixel centres at integers."""
        x, y, w, h = self._image_rect()
        scale = self._scale()
        return (pos.x() - x) / scale - 0.5, (pos.y() - y) / scale - 0.5

    def _to_screen(self, fx: float, fy: float) -> QPointF:
        x, y, _w, _h = self._image_rect()
        scale = self._scale()
        return QPointF(x + (fx + 0.5) * scale, y + (fy + 0.5) * scale)

    def _screen_rect(self, top: int, left: int, bottom: int, right: int) -> QRect:
        x, y, _w, _h = self._image_rect()
        scale = self._scale()
        return QRect(int(x + left * scale) - 1, int(y + top * scale) - 1,
                     int((right - left) * scale) + 3, int((bottom - top) * scale) + 3)

    # -- Qt ------------------------------------------------------------------------------------
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if watched is self.canvas and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.canvas.rect())
        return False

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._image is None:
            return
        painter = QPainter(self)
        x, y, w, h = self._image_rect()
        if self.overlay_shown and w and h:
            painter.setOpacity(self.opacity)
            painter.drawImage(QRectF(x, y, w, h), self._image)
            painter.setOpacity(1.0)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.polygon:
            painter.setPen(QPen(QColor(255, 255, 255), 1.5, Qt.PenStyle.DashLine))
            points = [self._to_screen(*p) for p in self.polygon]
            if self._hover is not None:
                points.append(self._hover)
            painter.drawPolyline(QPolygonF(points))
        if self.brush_radius is not None and self._hover is not None:
            radius = self.brush_radius * self._scale()
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            painter.drawEllipse(self._hover, radius, radius)

    def _hover_at(self, pos: QPointF) -> None:
        old = self._hover
        self._hover = pos
        if self.polygon:
            self.update()
        elif self.brush_radius is not None:
            reach = self.brush_radius * self._scale() + 3
            for point in (old, pos):
                if point is not None:
                    self.update(QRect(int(point.x() - reach), int(point.y() - reach), int(2 * reach) + 1, int(2 * reach) + 1))

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.pressed.emit(*self.to_frame(event.position()), event.button())

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._hover_at(event.position())
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.dragged.emit(*self.to_frame(event.position()))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self.released.emit()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.double_clicked.emit(*self.to_frame(event.position()))

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.wheel_steps.emit(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
        else:
            event.ignore()

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._hover = None
        self.update()
