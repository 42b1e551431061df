"""The canvas: shows the rendered view (a BGR numpy image), scaled to fit, aspect kept.

Painting costs one blit per frame: the image is scaled to the displayed size once with OpenCV
(much cheaper than Qt's smooth scaling inside ``drawImage``) and handed to Qt as a ``QImage``
over the scaled array's own memory, no copy. The full-resolution ``QImage`` that Save and
Copy view use is only built when asked for.
"""

from __future__ import annotations

__all__ = ["FrameCanvas", "bgr_to_qimage", "scaled_for_display"]

from pathlib import Path

import cv2
import numpy as np
from PyQt6.QtCore import QPoint, QRect, QSize, Qt
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


def _wrap(image: np.ndarray) -> QImage:
    """A ``QImage`` over a BGRA ``image``'s memory (no copy): keep ``image`` alive while it is used.

    ``Format_RGB32`` is B, G, R, 0xFF in memory on little-endian machines: Qt blits it to the
    window's backing store without converting each pixel, as it must for ``Format_BGR888``.
    """
    h, w = image.shape[:2]
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_RGB32)


def scaled_for_display(image: np.ndarray, *, size: tuple[int, int]) -> np.ndarray:
    """``image`` (BGR or grey uint8) at ``size`` (w, h) as a BGRA array ready to paint.

    Shrinking uses bilinear filtering (area averaging beyond 2x, where bilinear would alias);
    enlarging uses nearest pixels, so class boundaries stay sharp, as Qt's unsmoothed scaling drew them.
    """
    w, h = size
    to_bgra = cv2.COLOR_GRAY2BGRA if image.ndim == 2 else cv2.COLOR_BGR2BGRA
    if (w, h) == (image.shape[1], image.shape[0]):
        return cv2.cvtColor(image, to_bgra)
    shrink = image.shape[1] / max(1, w)
    if shrink < 1:  # convert the smaller image: enlarge after, shrink before converting
        return cv2.resize(cv2.cvtColor(image, to_bgra), (w, h), interpolation=cv2.INTER_NEAREST)
    interpolation = cv2.INTER_LINEAR if shrink < 2 else cv2.INTER_AREA
    return cv2.cvtColor(cv2.resize(image, (w, h), interpolation=interpolation), to_bgra)


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
        self._array: np.ndarray | None = None  # the rendered view, full resolution
        self._full: QImage | None = None  # built on demand for Save / Copy view
        self._shown: tuple[tuple[int, int, float], np.ndarray, QImage] | None = None  # (size, scaled array, its QImage)
        self.placeholder = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 200)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def set_image(self, image: np.ndarray | None) -> None:
        """Show ``image`` (BGR or grey uint8; the canvas keeps it, so do not change it afterwards)."""
        self._array = None if image is None else image
        self._full = None
        self._shown = None
        self.update()

    def image(self) -> QImage | None:
        """The full-resolution image shown (what Save/Copy view write)."""
        if self._array is not None and self._full is None:
            self._full = bgr_to_qimage(self._array)
        return self._full

    def image_size(self) -> tuple[int, int] | None:
        """(w, h) of the full-resolution image shown, or None."""
        return None if self._array is None else (self._array.shape[1], self._array.shape[0])

    def _display_image(self, w: int, h: int) -> QImage:
        """The image scaled to ``w`` x ``h`` device-independent pixels, cached until the next image or size."""
        ratio = self.devicePixelRatioF()
        key = (w, h, ratio)
        if self._shown is None or self._shown[0] != key:
            scaled = scaled_for_display(self._array, size=(max(1, round(w * ratio)), max(1, round(h * ratio))))
            qimage = _wrap(scaled)
            qimage.setDevicePixelRatio(ratio)
            self._shown = (key, scaled, qimage)  # the array stays alive as long as its QImage
        return self._shown[2]

    def save_png(self, path: str | Path) -> None:
        """Write the full-resolution image as PNG through a temp file beside ``path`` (atomic)."""
        target = Path(path)
        with atomic_write(target, suffix=".png") as tmp:
            image = self.image()
            if image is None or not image.save(str(tmp), "PNG"):
                raise OSError(f"{target}: cannot write the PNG file")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(960, 540)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        background = QColor(32, 32, 32)
        if self._array is None:
            painter.fillRect(self.rect(), background)
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        x, y, w, h = fit_rect(image_size=self.image_size(), area=(self.width(), self.height()))
        # Each pixel once: the margins around the image, then the image itself.
        for margin in (QRect(0, 0, self.width(), y), QRect(0, y + h, self.width(), self.height() - y - h),
                       QRect(0, y, x, h), QRect(x + w, y, self.width() - x - w, h)):
            if not margin.isEmpty():
                painter.fillRect(margin, background)
        if w and h:
            painter.drawImage(QPoint(x, y), self._display_image(w, h))
