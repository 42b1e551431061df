"""Turning label maps into pictures: colour masks, overlays, side by side, error maps, legend, metrics text.

numpy and OpenCV only, keyword-only options, no state: the window, the exporter and the tests
all draw frames with these functions. Every function returns a new BGR uint8 image and leaves
its inputs untouched.

Usage::

    from camvid_viewer.rendering.views import render_view
    from model.classes import CLASS_NAMES, palette_bgr

    image = render_view("overlay", frame, labels, truth, palette_bgr=palette_bgr(), opacity=0.5,
                        hidden=frozenset(), legend=True, class_names=CLASS_NAMES)
"""

from __future__ import annotations

__all__ = [
    "VIEWS",
    "colourise",
    "blend",
    "side_by_side",
    "error_map",
    "draw_legend",
    "draw_metrics_text",
    "render_view",
]

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

#: The views ``render_view`` draws.
VIEWS = ("overlay", "side-by-side", "mask", "error")

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_VOID_GREY = np.array([128, 128, 128], dtype=np.uint8)


def _lut(palette_bgr: np.ndarray, hidden: Iterable[int] = ()) -> np.ndarray:
    """A 256-entry BGR lookup table (labels past the palette draw black)."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    palette = np.asarray(palette_bgr, dtype=np.uint8).reshape(-1, 3)
    lut[: len(palette)] = palette
    for c in hidden:
        lut[int(c)] = 0
    return lut


def _hidden_mask(labels: np.ndarray, hidden: Iterable[int]) -> np.ndarray | None:
    hidden = [int(c) for c in hidden]
    if not hidden:
        return None
    table = np.zeros(256, dtype=bool)
    table[hidden] = True
    return table[labels]


def _check(frame: np.ndarray, labels: np.ndarray) -> None:
    if frame.shape[:2] != labels.shape[:2]:
        raise ValueError(f"labels {labels.shape[1]}x{labels.shape[0]} do not match the frame {frame.shape[1]}x{frame.shape[0]}")


def colourise(labels: np.ndarray, *, palette_bgr: np.ndarray, hidden: Iterable[int] = frozenset()) -> np.ndarray:
    """The label map in class colours (hidden classes black)."""
    labels = np.asarray(labels, dtype=np.uint8)
    # cv2.LUT over a 3-channel view of the labels: ~5x faster than numpy fancy indexing.
    return cv2.LUT(cv2.merge((labels, labels, labels)), _lut(palette_bgr, hidden).reshape(256, 1, 3))


def blend(
    frame: np.ndarray,
    labels: np.ndarray,
    *,
    palette_bgr: np.ndarray,
    opacity: float = 0.5,
    hidden: Iterable[int] = frozenset(),
) -> np.ndarray:
    """Class colours laid over the frame at ``opacity`` (0 = frame only, 1 = colours only).

    Pixels of hidden classes show the frame unchanged.
    """
    _check(frame, labels)
    opacity = float(min(max(opacity, 0.0), 1.0))
    colours = colourise(labels, palette_bgr=palette_bgr)
    out = cv2.addWeighted(colours, opacity, frame, 1.0 - opacity, 0.0)
    mask = _hidden_mask(labels, hidden)
    if mask is not None:
        out[mask] = frame[mask]
    return out


def side_by_side(
    frame: np.ndarray,
    labels: np.ndarray,
    truth: np.ndarray | None,
    *,
    palette_bgr: np.ndarray,
    hidden: Iterable[int] = frozenset(),
    gap: int = 0,
) -> np.ndarray:
    """``frame | prediction | truth`` in one row (``frame | prediction`` without truth).

    The result is two or three frames wide; ``gap`` pixels of black separate the panels.
    """
    _check(frame, labels)
    panels = [frame, colourise(labels, palette_bgr=palette_bgr, hidden=hidden)]
    if truth is not None:
        _check(frame, truth)
        panels.append(colourise(truth, palette_bgr=palette_bgr, hidden=hidden))
    if gap > 0:
        spacer = np.zeros((frame.shape[0], gap, 3), dtype=np.uint8)
        panels = [p for panel in panels for p in (panel, spacer)][:-1]
    return np.ascontiguousarray(np.hstack(panels))


def error_map(
    frame: np.ndarray,
    labels: np.ndarray,
    truth: np.ndarray,
    *,
    palette_bgr: np.ndarray,
    void_index: int | None = 11,
    mode: str = "truth",
) -> np.ndarray:
    """Where the prediction is wrong.

    Wrong pixels take the colour of the true class (``mode="truth"``) or of the predicted
    class (``mode="prediction"``); correct pixels show the frame dimmed; void pixels are grey.
    """
    if mode not in ("truth", "prediction"):
        raise ValueError(f"error map mode must be 'truth' or 'prediction', got {mode!r}")
    _check(frame, labels)
    _check(frame, truth)
    out = (frame.astype(np.uint16) * 3 // 10).astype(np.uint8)  # dimmed to 30%
    wrong = labels != truth
    colours = _lut(palette_bgr)[truth if mode == "truth" else labels]
    out[wrong] = colours[wrong]
    if void_index is not None:
        out[truth == void_index] = _VOID_GREY
    return out


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
    void_index: int | None = 11,
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


def render_view(
    view: str,
    frame: np.ndarray,
    labels: np.ndarray,
    truth: np.ndarray | None,
    *,
    palette_bgr: np.ndarray,
    opacity: float = 0.5,
    hidden: Iterable[int] = frozenset(),
    legend: bool = True,
    class_names: Sequence[str] = (),
    void_index: int | None = 11,
) -> np.ndarray:
    """One frame as the named view (see :data:`VIEWS`), with the legend when asked.

    ``"error"`` needs truth; without it the overlay is drawn instead.
    """
    if view == "overlay" or (view == "error" and truth is None):
        out = blend(frame, labels, palette_bgr=palette_bgr, opacity=opacity, hidden=hidden)
    elif view == "side-by-side":
        out = side_by_side(frame, labels, truth, palette_bgr=palette_bgr, hidden=hidden)
    elif view == "mask":
        out = colourise(labels, palette_bgr=palette_bgr, hidden=hidden)
    elif view == "error":
        out = error_map(frame, labels, truth, palette_bgr=palette_bgr, void_index=void_index)
    else:
        raise ValueError(f"unknown view {view!r}; choose from {', '.join(VIEWS)}")
    if legend and class_names:
        out = draw_legend(out, class_names=class_names, palette_bgr=palette_bgr, hidden=hidden, void_index=void_index)
    return out
