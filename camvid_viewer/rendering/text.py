"""Text drawn on frames: the class legend and the metrics line, readable at any frame size."""

from __future__ import annotations

__all__ = ["draw_legend", "draw_metrics_text"]

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text_scale(height: int) -> tuple[float, int, int]:
    """Font scale, stroke thickness and line height that read well on a frame ``height`` tall."""
    scale = min(max(height / 720.0, 0.35), 1.6)
    thickness = 1 if scale < 0.8 else 2
    (_, th), baseline = cv2.getTextSize("Ag", _FONT, scale, thickness)
    return scale, thickness, th + baseline + max(2, int(4 * scale))


def _shade(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, alpha: float = 0.6) -> None:
    """Darken a rectangle in place so white text on it stays readable on any frame."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 > x0 and y1 > y0:
        region = image[y0:y1, x0:x1]
        region[:] = (region.astype(np.float32) * (1 - alpha)).astype(np.uint8)


def draw_legend(
    image: np.ndarray,
    *,
    class_names: Sequence[str],
    palette_bgr: np.ndarray,
    hidden: Iterable[int] = frozenset(),
    void_index: int | None,
) -> np.ndarray:
    """A box of colour swatches and class names in the bottom-left corner.

    Hidden classes and void are left out; the box wraps into columns on short frames.
    """
    out = image.copy()
    hidden = {int(c) for c in hidden}
    entries = [i for i in range(min(len(class_names), len(palette_bgr))) if i not in hidden and i != void_index]
    if not entries:
        return out
    h, w = out.shape[:2]
    scale, thickness, row = _text_scale(h)
    scale, row = scale * 0.8, max(10, int(row * 0.8))
    pad = max(3, row // 3)
    swatch = max(6, row - pad)
    # keep the top band free for the metrics text
    rows_fit = max(1, (h - 3 * pad - _text_scale(h)[2] - pad) // row)
    columns = [entries[i : i + rows_fit] for i in range(0, len(entries), rows_fit)]
    widths = [max(cv2.getTextSize(class_names[i], _FONT, scale, thickness)[0][0] for i in col) + swatch + 3 * pad for col in columns]
    box_w = sum(widths) + pad
    box_h = len(columns[0]) * row + 2 * pad
    x0, y0 = pad, h - box_h - pad
    _shade(out, x0, y0, x0 + box_w, y0 + box_h, alpha=0.65)
    palette = np.asarray(palette_bgr, dtype=np.uint8)
    x = x0 + pad
    for col, col_w in zip(columns, widths, strict=True):
        for r, c in enumerate(col):
            top = y0 + pad + r * row
            colour = tuple(int(v) for v in palette[c])
            cv2.rectangle(out, (x, top + 1), (x + swatch, top + swatch), colour, -1)
            cv2.rectangle(out, (x, top + 1), (x + swatch, top + swatch), (255, 255, 255), 1)
            cv2.putText(out, class_names[c], (x + swatch + pad, top + swatch), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
        x += col_w
    return out


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def draw_metrics_text(
    image: np.ndarray,
    *,
    mean_iou: float | None,
    pixel_accuracy: float | None,
) -> np.ndarray:
    """``mIoU 61.2%  pixel acc 88.0%`` in white on a dark band in the top-left corner."""
    out = image.copy()
    text = f"mIoU {_percent(mean_iou)}   pixel acc {_percent(pixel_accuracy)}"
    h = out.shape[0]
    scale, thickness, row = _text_scale(h)
    (tw, th), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(3, row // 4)
    _shade(out, 0, 0, tw + 3 * pad, th + baseline + 2 * pad, alpha=0.65)
    cv2.putText(out, text, (pad + pad // 2, pad + th), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out
