"""The views of a frame: overlay, side by side, mask only and error map, with the legend.

Each returns a new BGR uint8 image and leaves its inputs untouched.
"""

from __future__ import annotations

__all__ = ["VIEWS", "blend", "side_by_side", "error_map", "render_view"]

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from camvid_viewer.rendering.colour import colour_table, colourise, hidden_mask
from camvid_viewer.rendering.text import draw_legend

#: The views ``render_view`` draws.
VIEWS = ("overlay", "side-by-side", "mask", "error")

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_VOID_GREY = np.array([128, 128, 128], dtype=np.uint8)


def _check(frame: np.ndarray, labels: np.ndarray) -> None:
    if frame.shape[:2] != labels.shape[:2]:
        raise ValueError(f"labels {labels.shape[1]}x{labels.shape[0]} do not match the frame {frame.shape[1]}x{frame.shape[0]}")


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
    mask = hidden_mask(labels, hidden)
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
    void_index: int | None,
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
    colours = colour_table(palette_bgr)[truth if mode == "truth" else labels]
    out[wrong] = colours[wrong]
    if void_index is not None:
        out[truth == void_index] = _VOID_GREY
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
    void_index: int | None,
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
