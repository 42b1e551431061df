"""The canvas: shows the rendered view (a BGR numpy image), scaled to fit, aspect kept."""

from __future__ import annotations

__all__ = ["FrameCanvas", "bgr_to_qimage"]

from pathlib import Path

import numpy as np
from PyQt6.QtCore import QRect, QSize, Qt
from PyQt6.QtGui import QColor, QImage, QPainter
from PyQt6.QtWidgets import QSizePolicy, QWidget

from model.checkpoint import atomic_write


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """A deep-copied ``QImage`` of a BGR (or grey) uint8 array."""
    image = np.ascontiguousarray(image)
    if image.ndim == 2:
        h, w = image.shape
        return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_Grayscale8).copy()
    h, w, _ = image.shape
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_BGR888).copy()


def fit_rect(*, image_size: tuple[int, int], area: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x, y, w, h) of an image of ``image_size`` scaled to fit ``area``, centred, aspect kept."""
    iw, ih = image_size
    aw, ah = area
    if iw <= 0 or ih <= 0 or aw <= 0 or ah <= 0:
        return 0, 0, 0, 0
    scale = min(aw / iw, ah / ih)
    w, h = max(1, round(iw * scale)), max(1, round(ih * scale))
    return (aw - w) // 2, (ah - h) // 2, w, h


class FrameCanvas(QWidget):
    """Paints one image; ``set_image(None)`` shows ``placeholder`` text instead."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self.placeholder = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 200)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def set_image(self, image: np.ndarray | None) -> None:
        self._image = None if image is None else bgr_to_qimage(image)
        self.update()

    def image(self) -> QImage | None:
        """The full-resolution image shown (what Save/Copy view write)."""
        return self._image

    def save_png(self, path: str | Path) -> None:
        """Write the full-resolution image as PNG through a temp file beside ``path`` (atomic)."""
        target = Path(path)
        with atomic_write(target, suffix=".png") as tmp:
            if self._image is None or not self._image.save(str(tmp), "PNG"):
                raise OSError(f"{target}: cannot write the PNG file")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(960, 540)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(32, 32, 32))
        if self._image is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        x, y, w, h = fit_rect(image_size=(self._image.width(), self._image.height()), area=(self.width(), self.height()))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, w < self._image.width())
        painter.drawImage(QRect(x, y, w, h), self._image)
