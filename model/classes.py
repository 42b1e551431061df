"""CamVid class names, colours and the void index: the one place they are defined."""

from __future__ import annotations

__all__ = ["CLASS_NAMES", "NUM_CLASSES", "VOID_INDEX", "PALETTE_RGB", "palette_bgr"]

import numpy as np

#: Label value -> class name (SegNet's 11 classes + void), as in the CamVid README.
CLASS_NAMES: tuple[str, ...] = (
    "sky",
    "building",
    "column/pole",
    "road",
    "sidewalk",
    "vegetation",
    "traffic light",
    "fence",
    "vehicle",
    "pedestrian",
    "cyclist",
    "void",
)
NUM_CLASSES = len(CLASS_NAMES)
#: Pixels labelled void are ignored by training and (by default) by scoring.
VOID_INDEX = 11

#: SegNet's CamVid colours, RGB, indexed by label value.
PALETTE_RGB: tuple[tuple[int, int, int], ...] = (
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (60, 40, 222),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
    (0, 0, 0),
)


def palette_bgr(palette_rgb=PALETTE_RGB) -> np.ndarray:
    """The palette as a (N, 3) uint8 BGR lookup table, ready for ``lut[labels]`` on OpenCV frames."""
    return np.asarray(palette_rgb, dtype=np.uint8)[:, ::-1].copy()
