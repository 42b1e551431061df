"""The winning class's probability, on every second pixel of the working frame.

Why a grid: the softmax's reductions across the 12 class maps at full resolution added about a
fifth to the model's time (38.2 -> 46.1 ms at 480x360, docs/BENCHMARKS.md), which the window's
confidence panels must not. On every second row and column the values are exact, and each 2x2
block takes its top-left pixel's value, so the figures built from the map are means over a
regular sample of a quarter of the pixels: a frame's mean confidence moved by at most 0.0003
against the full map on the CamVid frames measured.
The exact per-pixel probabilities stay one call away: ``Segmenter.segment(probabilities=True)``.
"""

from __future__ import annotations

import numpy as np

CONFIDENCE_STRIDE = 2  #: confidence is exact on pixels (STRIDE*i, STRIDE*j) of the working frame


def winning_probability_grid(logits):
    """(N, C, H, W) torch logits -> (N, ceil(H/S), ceil(W/S)) winning-class probability.

    Written as elementwise Max / Sub / Exp / Add over the class planes: exported to ONNX these
    are single passes, where ReduceMax / ReduceSum over the class axis stride through memory
    (measured 2x slower here).
    """
    import torch

    grid = logits[:, :, ::CONFIDENCE_STRIDE, ::CONFIDENCE_STRIDE]
    planes = torch.split(grid, 1, dim=1)
    top = planes[0]
    for plane in planes[1:]:
        top = torch.maximum(top, plane)
    total = torch.exp(planes[0] - top)
    for plane in planes[1:]:
        total = total + torch.exp(plane - top)
    return (1.0 / total)[:, 0]


def winning_probability_grid_numpy(logits: np.ndarray) -> np.ndarray:
    """The same grid from (N, C, H, W) numpy logits (ONNX models of other projects)."""
    grid = logits[:, :, ::CONFIDENCE_STRIDE, ::CONFIDENCE_STRIDE]
    return (1.0 / np.exp(grid - grid.max(1, keepdims=True)).sum(1)).astype(np.float32)


def confidence_at(grid: np.ndarray, working_hw: tuple[int, int]) -> np.ndarray:
    """A (h', w') grid back at the working size: each pixel takes its block's sample."""
    h, w = working_hw
    if grid.shape == (h, w):
        return grid
    s = CONFIDENCE_STRIDE
    if grid.shape != (-(-h // s), -(-w // s)):
        raise ValueError(f"a confidence grid of {grid.shape} does not match a {h}x{w} working frame")
    return np.repeat(np.repeat(grid, s, axis=0), s, axis=1)[:h, :w]
