"""Two models' views of one frame: A | B panels, each named, and the map of where they differ.

The window and ``export --compare`` draw with these; each returns a new BGR uint8 image.
"""

from __future__ import annotations

__all__ = ["DIFFERENCE_CLASSES", "DIFFERENCE_PALETTE_BGR", "DIFFERENCE_LEGEND_NAMES", "difference_classes",
           "difference_view", "a_b_view", "draw_panel_name", "PANEL_GAP"]

import cv2
import numpy as np

from camvid_viewer.rendering.text import _shade, _text_scale, draw_legend

PANEL_GAP = 4  # black pixels between the A and B panels

#: What each pixel of the difference view says, in legend order (index = colour row).
DIFFERENCE_CLASSES = ("A right, B wrong", "B right, A wrong", "both wrong, differently", "A and B disagree")
# Orange and blue stay apart for every common colour-vision deficiency; disagreement without
# truth is yellow; both wrong a dark red.
DIFFERENCE_PALETTE_BGR = np.array([[0, 120, 255], [255, 150, 0], [40, 40, 150], [0, 220, 255]], dtype=np.uint8)
DIFFERENCE_LEGEND_NAMES = {True: DIFFERENCE_CLASSES[:3], False: DIFFERENCE_CLASSES[3:]}
_VOID_GREY = np.array([128, 128, 128], dtype=np.uint8)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def difference_classes(labels_a: np.ndarray, labels_b: np.ndarray, truth: np.ndarray | None, *,
                       void_index: int | None) -> np.ndarray:
    """Per pixel: 0 A right and B wrong, 1 B right and A wrong, 2 both wrong and disagreeing,
    3 A and B disagree (no truth), 255 nothing to show (A and B agree, or void truth)."""
    out = np.full(labels_a.shape, 255, dtype=np.uint8)
    if truth is None:
        out[labels_a != labels_b] = 3
        return out
    a_right, b_right = labels_a == truth, labels_b == truth
    out[a_right & ~b_right] = 0
    out[b_right & ~a_right] = 1
    out[~a_right & ~b_right & (labels_a != labels_b)] = 2
    if void_index is not None:
        out[truth == void_index] = 255
    return out


def difference_view(frame: np.ndarray, labels_a: np.ndarray, labels_b: np.ndarray, truth: np.ndarray | None, *,
                    void_index: int | None, legend: bool = True) -> np.ndarray:
    """The frame dimmed to 30%, with the pixels where A and B differ in colour.

    With truth: orange where A is right and B wrong, blue where B is right and A wrong, dark
    red where both are wrong and disagree, void grey; without truth: yellow wherever A and B
    disagree. Where A and B agree the frame shows dimmed, so a model compared with itself
    shows no colour at all.
    """
    for labels in (labels_a, labels_b):
        if labels.shape != frame.shape[:2]:
            raise ValueError(f"labels {labels.shape[1]}x{labels.shape[0]} do not match the frame {frame.shape[1]}x{frame.shape[0]}")
    kinds = difference_classes(labels_a, labels_b, truth, void_index=void_index)
    out = (frame.astype(np.uint16) * 3 // 10).astype(np.uint8)
    shown = kinds != 255
    out[shown] = DIFFERENCE_PALETTE_BGR[kinds[shown]]
    if truth is not None and void_index is not None:
        out[truth == void_index] = _VOID_GREY
    if legend:
        offset = 0 if truth is not None else 3
        names = DIFFERENCE_LEGEND_NAMES[truth is not None]
        out = draw_legend(out, class_names=names, palette_bgr=DIFFERENCE_PALETTE_BGR[offset:offset + len(names)], void_index=None)
    return out


def draw_panel_name(image: np.ndarray, text: str) -> np.ndarray:
    """``text`` in white on a dark band at the top right of ``image`` (the top left holds the metrics)."""
    out = image.copy()
    scale, thickness, row = _text_scale(out.shape[0])
    (tw, th), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(3, row // 4)
    x0 = max(0, out.shape[1] - tw - 3 * pad)
    _shade(out, x0, 0, out.shape[1], th + baseline + 2 * pad, alpha=0.65)
    cv2.putText(out, text, (x0 + pad + pad // 2, pad + th), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def a_b_view(left: np.ndarray, right: np.ndarray, *, names: tuple[str, str], gap: int = PANEL_GAP) -> np.ndarray:
    """Model A's picture | model B's, each named in its top-right corner, ``gap`` black pixels apart."""
    if left.shape != right.shape:
        raise ValueError(f"the A panel is {left.shape[1]}x{left.shape[0]}, the B panel {right.shape[1]}x{right.shape[0]}")
    spacer = np.zeros((left.shape[0], gap, 3), dtype=np.uint8)
    panels = [draw_panel_name(left, f"A: {names[0]}"), spacer, draw_panel_name(right, f"B: {names[1]}")]
    return np.ascontiguousarray(np.hstack(panels))
