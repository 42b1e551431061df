"""One frame's labels being corrected: the tools applied to one map, with undo, redo and a dirty flag.

The window's edit mode drives a :class:`LabelEdit`; it never touches the pixels itself. Each
method returns the boxes it changed so the overlay redraws only those.

Usage::

    edit = LabelEdit(prediction, frame=frame, void_index=11)
    edit.begin_stroke(); edit.brush((10, 10), (40, 12), radius=5, value=3); edit.end_stroke()
    edit.fill((200, 100), value=5, by="superpixel")
    edit.undo(); edit.redo(); edit.dirty
"""

from __future__ import annotations

__all__ = ["LabelEdit", "FILL_MODES", "union_box"]

from collections.abc import Sequence

import numpy as np

from camvid_viewer.editing.history import Change, EditHistory
from camvid_viewer.editing.superpixels import superpixels
from camvid_viewer.editing.tools import Box, paint, polygon_mask, region_mask, stroke_mask

#: What one fill click fills: a superpixel of the frame, or the connected region of one class.
FILL_MODES: tuple[str, ...] = ("superpixel", "class-region")

BoxTuple = tuple[int, int, int, int]


class LabelEdit:
    """Editable labels of frame ``index`` (a copy of ``labels``; the original is kept for reference).

    Args:
        labels: HxW uint8 class indices to start from (the prediction, or the existing truth).
        frame: the BGR frame, for the superpixels (computed on the first superpixel fill).
        void_index: the label set's void class, what the eraser writes; ``None``: no eraser.
        index: the frame's index in its source.
    """

    def __init__(self, labels: np.ndarray, *, frame: np.ndarray | None = None, void_index: int | None = None,
                 index: int = 0, from_truth: bool = False) -> None:
        if labels.ndim != 2:
            raise ValueError(f"labels must be HxW class indices, got shape {labels.shape}")
        self.labels = np.array(labels, dtype=np.uint8, copy=True)
        self.frame = frame
        self.void_index = void_index
        self.index = index
        self.from_truth = from_truth  # started from an existing annotation (saving replaces it)
        self.history = EditHistory()
        self._stroke: list[Change] | None = None
        self._superpixels: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    @property
    def dirty(self) -> bool:
        return self.history.dirty

    # -- strokes (a drag is one undo step) -----------------------------------------------------
    def begin_stroke(self) -> None:
        self._stroke = []

    def end_stroke(self) -> None:
        stroke, self._stroke = self._stroke, None
        if stroke:
            self.history.push(stroke)

    def _record(self, change: Change | None) -> list[BoxTuple]:
        if change is None:
            return []
        if self._stroke is not None:
            self._stroke.append(change)
        else:
            self.history.push([change])
        return [change.box]

    # -- tools ---------------------------------------------------------------------------------
    def brush(self, start: tuple[float, float], end: tuple[float, float] | None = None, *, radius: float,
              value: int) -> list[BoxTuple]:
        """Paint a round stroke of ``radius`` from ``start`` to ``end`` (x, y) with class ``value``."""
        box, mask = stroke_mask(self.shape, start=start, end=end, radius=radius)
        return self._record(paint(self.labels, box, mask, value=value))

    def erase(self, start: tuple[float, float], end: tuple[float, float] | None = None, *, radius: float) -> list[BoxTuple]:
        """The brush writing void (pixels nobody scores); nothing without a void class."""
        if self.void_index is None:
            return []
        return self.brush(start, end, radius=radius, value=self.void_index)

    def fill(self, point: tuple[int, int], *, value: int, by: str = "superpixel") -> list[BoxTuple]:
        """Fill the superpixel (``by="superpixel"``) or the connected region of one class under ``point``."""
        if by == "superpixel":
            if self.frame is None:
                raise ValueError("a superpixel fill needs the frame")
            box, mask = region_mask(self.superpixels(), point=point, connected=False)
        elif by == "class-region":
            box, mask = region_mask(self.labels, point=point, connected=True)
        else:
            raise ValueError(f"unknown fill {by!r} (expected one of {', '.join(FILL_MODES)})")
        return self._record(paint(self.labels, box, mask, value=value))

    def polygon(self, vertices: Sequence[tuple[float, float]], *, value: int) -> list[BoxTuple]:
        """Fill the polygon through ``vertices`` (x, y) with class ``value``."""
        box, mask = polygon_mask(self.shape, vertices)
        return self._record(paint(self.labels, box, mask, value=value))

    def class_at(self, point: tuple[int, int]) -> int | None:
        x, y = int(point[0]), int(point[1])
        h, w = self.shape
        return int(self.labels[y, x]) if 0 <= x < w and 0 <= y < h else None

    def superpixels(self) -> np.ndarray:
        """The frame's superpixel map, computed once."""
        if self._superpixels is None:
            self._superpixels = superpixels(self.frame)
        return self._superpixels

    @property
    def has_superpixels(self) -> bool:
        return self._superpixels is not None

    def set_superpixels(self, regions: np.ndarray) -> None:
        """Superpixels computed elsewhere (the window computes them off the GUI thread)."""
        if regions.shape != self.shape:
            raise ValueError(f"superpixels are {regions.shape} but the labels are {self.shape}")
        self._superpixels = regions

    # -- history -------------------------------------------------------------------------------
    def undo(self) -> list[BoxTuple]:
        return self.history.undo(self.labels)

    def redo(self) -> list[BoxTuple]:
        return self.history.redo(self.labels)

    def mark_saved(self) -> None:
        self.history.mark_saved()


def union_box(boxes: Sequence[BoxTuple]) -> Box | None:
    """The smallest :class:`Box` holding every box (``None`` for none)."""
    result: Box | None = None
    for top, left, bottom, right in boxes:
        box = Box(top, left, bottom, right)
        result = box if result is None else result.union(box)
    return result
