"""Editing tools as pure functions on label maps: which pixels a tool touches, and painting them.

Each tool returns a :class:`Box` and a boolean mask of that box only (never of the whole
frame), so a brush stroke on a 960x540 frame costs a few small arrays; :func:`paint` writes a
class into the masked pixels and returns the :class:`~camvid_viewer.editing.history.Change`
that undoes it.

Usage::

    box, mask = stroke_mask(labels.shape, start=(10, 20), end=(60, 25), radius=6)
    change = paint(labels, box, mask, value=3)       # labels edited in place
    box, mask = region_mask(superpixels, point=(100, 40))
    box, mask = polygon_mask(labels.shape, [(5, 5), (80, 10), (40, 70)])
"""

from __future__ import annotations

__all__ = ["Box", "stroke_mask", "polygon_mask", "region_mask", "paint"]

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from camvid_viewer.editing.history import Change


@dataclass(frozen=True)
class Box:
    """Rows ``top:bottom`` and columns ``left:right`` of a label map (bottom/right excluded)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    @property
    def empty(self) -> bool:
        return self.bottom <= self.top or self.right <= self.left

    def union(self, other: Box | None) -> Box:
        if other is None or other.empty:
            return self
        if self.empty:
            return other
        return Box(min(self.top, other.top), min(self.left, other.left), max(self.bottom, other.bottom), max(self.right, other.right))


def _clipped(shape: tuple[int, ...], top: float, left: float, bottom: float, right: float) -> Box:
    h, w = shape[:2]
    return Box(max(0, int(np.floor(top))), max(0, int(np.floor(left))), min(h, int(np.ceil(bottom))), min(w, int(np.ceil(right))))


def stroke_mask(shape: tuple[int, ...], *, start: tuple[float, float], end: tuple[float, float] | None = None,
                radius: float) -> tuple[Box, np.ndarray]:
    """A round brush of ``radius`` pixels dragged from ``start`` to ``end`` (x, y); a dot without ``end``."""
    end = start if end is None else end
    r = max(0.5, float(radius))
    box = _clipped(shape, min(start[1], end[1]) - r - 1, min(start[0], end[0]) - r - 1,
                   max(start[1], end[1]) + r + 2, max(start[0], end[0]) + r + 2)
    if box.empty:
        return box, np.zeros((0, 0), bool)
    patch = np.zeros((box.bottom - box.top, box.right - box.left), np.uint8)
    shift = 4  # sub-pixel positions: cv2 takes fixed-point coordinates with this many fraction bits
    scale = 1 << shift
    a = (round((start[0] - box.left) * scale), round((start[1] - box.top) * scale))
    b = (round((end[0] - box.left) * scale), round((end[1] - box.top) * scale))
    thickness = max(1, round(2 * r))
    cv2.line(patch, a, b, 1, thickness=thickness, lineType=cv2.LINE_8, shift=shift)  # thick lines have round caps
    cv2.circle(patch, a, round(r * scale), 1, thickness=-1, lineType=cv2.LINE_8, shift=shift)
    cv2.circle(patch, b, round(r * scale), 1, thickness=-1, lineType=cv2.LINE_8, shift=shift)
    return box, patch.astype(bool)


def polygon_mask(shape: tuple[int, ...], vertices: Sequence[tuple[float, float]]) -> tuple[Box, np.ndarray]:
    """The inside (and outline) of the polygon through ``vertices`` (x, y); empty under 3 vertices."""
    if len(vertices) < 3:
        return Box(0, 0, 0, 0), np.zeros((0, 0), bool)
    points = np.asarray(vertices, dtype=np.float64)
    box = _clipped(shape, points[:, 1].min(), points[:, 0].min(), points[:, 1].max() + 1, points[:, 0].max() + 1)
    if box.empty:
        return box, np.zeros((0, 0), bool)
    patch = np.zeros((box.bottom - box.top, box.right - box.left), np.uint8)
    local = np.round(points - (box.left, box.top)).astype(np.int32)
    cv2.fillPoly(patch, [local], 1, lineType=cv2.LINE_8)
    return box, patch.astype(bool)


def region_mask(regions: np.ndarray, *, point: tuple[int, int], connected: bool = True) -> tuple[Box, np.ndarray]:
    """The region of ``regions`` (an integer map: superpixel ids or class labels) under ``point`` (x, y).

    ``connected=True`` keeps only the 4-connected part that holds ``point`` (a class's region,
    not every pixel of that class in the frame); superpixels are connected already.
    """
    h, w = regions.shape[:2]
    x, y = int(point[0]), int(point[1])
    if not (0 <= x < w and 0 <= y < h):
        return Box(0, 0, 0, 0), np.zeros((0, 0), bool)
    same = regions == regions[y, x]
    if connected:
        count, components = cv2.connectedComponents(same.view(np.uint8), connectivity=4)
        same = components == components[y, x]
    rows = np.flatnonzero(same.any(axis=1))
    cols = np.flatnonzero(same.any(axis=0))
    box = Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)
    return box, same[box.slices]


def paint(labels: np.ndarray, box: Box, mask: np.ndarray, *, value: int) -> Change | None:
    """Write ``value`` into ``labels`` (in place) where ``mask`` (of ``box``) is set.

    Returns the change (the box's pixels before and after) or ``None`` when no pixel changed.
    """
    if box.empty or not mask.any():
        return None
    region = labels[box.slices]
    touched = mask & (region != value)
    if not touched.any():
        return None
    before = region.copy()
    region[touched] = value
    return Change(box=(box.top, box.left, box.bottom, box.right), before=before, after=region.copy())
