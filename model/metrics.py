"""Confusion-matrix scoring: every IoU, Dice and accuracy figure derives from one matrix.

numpy only (no torch), so the viewer can score frames without loading a framework.
A class absent from both prediction and truth has no score ("n/a", ``None``),
never a perfect 1.0.
"""

from __future__ import annotations

__all__ = ["ConfusionMatrix", "SegmentationScores"]

from dataclasses import dataclass

import numpy as np

from model.classes import CLASS_NAMES, NUM_CLASSES, VOID_INDEX


@dataclass(frozen=True)
class SegmentationScores:
    """Scores derived from one confusion matrix; ``None`` marks a class that is n/a."""

    class_names: tuple[str, ...]
    iou: tuple[float | None, ...]
    dice: tuple[float | None, ...]
    pixel_share: tuple[float, ...]  # share of scored truth pixels per class
    pixel_accuracy: float | None
    mean_iou: float | None
    mean_dice: float | None
    pixels: int  # scored pixels

    def to_json(self, frames: int | None = None) -> dict:
        """The ``eval --json`` schema."""
        out = {
            "pixel_accuracy": self.pixel_accuracy,
            "mean_iou": self.mean_iou,
            "mean_dice": self.mean_dice,
            "per_class": {
                name: (None if iou is None else {"iou": iou, "dice": dice})
                for name, iou, dice in zip(self.class_names, self.iou, self.dice, strict=True)
            },
        }
        if frames is not None:
            out["frames"] = frames
        return out


class ConfusionMatrix:
    """An int64 ``truth x prediction`` matrix filled by ``bincount`` over scored pixels.

    Args:
        num_classes: number of label values.
        ignore_index: truth value whose pixels are not scored (void), or ``None`` to score all.
        class_names: names for reports.
    """

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        *,
        ignore_index: int | None = VOID_INDEX,
        class_names: tuple[str, ...] = CLASS_NAMES,
    ) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = tuple(class_names[:num_classes])
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def reset(self) -> None:
        self.matrix[:] = 0

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
        """Add one frame (or batch) and return that frame's own matrix."""
        prediction = np.asarray(prediction)
        truth = np.asarray(truth)
        if prediction.shape != truth.shape:
            raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
        frame = self.matrix_of(prediction, truth)
        self.matrix += frame
        return frame

    def matrix_of(self, prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
        """The confusion matrix of one frame, without accumulating it."""
        n = self.num_classes
        if truth.dtype == np.uint8 and prediction.dtype == np.uint8 and n <= 255:
            return self._matrix_of_uint8(prediction.reshape(-1), truth.reshape(-1))
        t = truth.reshape(-1).astype(np.int64, copy=False)
        p = prediction.reshape(-1).astype(np.int64, copy=False)
        valid = (t >= 0) & (t < n) & (p >= 0) & (p < n)
        if self.ignore_index is not None:
            valid &= t != self.ignore_index
        return np.bincount(n * t[valid] + p[valid], minlength=n * n).reshape(n, n)

    def _matrix_of_uint8(self, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The same counts for uint8 maps (every label map here), in 16-bit codes: the window
        scores each labelled frame on its playback thread, and int64 copies cost 3x the time."""
        n = self.num_classes
        code = t.astype(np.uint16) * n + p  # < 255 * 255 + 255: fits 16 bits
        invalid = (t >= n) | (p >= n)
        if self.ignore_index is not None:
            invalid |= t == self.ignore_index
        code[invalid] = n * n  # one bin past the matrix, dropped below
        return np.bincount(code, minlength=n * n + 1)[: n * n].reshape(n, n)

    def add_matrix(self, matrix: np.ndarray) -> None:
        """Accumulate a matrix computed elsewhere (another process, a cache)."""
        self.matrix += np.asarray(matrix, dtype=np.int64)

    def compute(self) -> SegmentationScores:
        return scores_from_matrix(self.matrix, self.class_names, self.ignore_index)


def scores_from_matrix(
    matrix: np.ndarray, class_names: tuple[str, ...] = CLASS_NAMES, ignore_index: int | None = VOID_INDEX
) -> SegmentationScores:
    """IoU, Dice, pixel accuracy and their means from a ``truth x prediction`` matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    true_positive = np.diag(m)
    truth_count = m.sum(axis=1)
    predicted_count = m.sum(axis=0)
    union = truth_count + predicted_count - true_positive
    total = m.sum()
    ious: list[float | None] = []
    dices: list[float | None] = []
    for c in range(m.shape[0]):
        if c == ignore_index or union[c] == 0:
            ious.append(None)
            dices.append(None)
            continue
        ious.append(float(true_positive[c] / union[c]))
        dices.append(float(2 * true_positive[c] / (truth_count[c] + predicted_count[c])))
    scored_iou = [v for v in ious if v is not None]
    scored_dice = [v for v in dices if v is not None]
    share = truth_count / total if total else np.zeros_like(truth_count)
    return SegmentationScores(
        class_names=tuple(class_names[: m.shape[0]]),
        iou=tuple(ious),
        dice=tuple(dices),
        pixel_share=tuple(float(s) for s in share),
        pixel_accuracy=float(true_positive.sum() / total) if total else None,
        mean_iou=float(np.mean(scored_iou)) if scored_iou else None,
        mean_dice=float(np.mean(scored_dice)) if scored_dice else None,
        pixels=int(total),
    )
