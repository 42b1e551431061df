"""Aggregations and tables of an evaluation: per-frame rows, worst frames, confused pairs.

Two aggregations, never to be confused:

* **pooled** (:func:`pooled_scores`): one confusion matrix summed over every frame,
  then IoU per class. The CamVid convention, and what ``python main.py eval`` prints.
* **mean of frames** (:func:`mean_of_frames`): IoU computed per frame, then averaged
  over frames (a frame where a class is n/a does not count for that class).
"""

from __future__ import annotations

__all__ = ["pooled_scores", "MeanOfFrames", "mean_of_frames", "FrameRow", "frame_rows", "worst_frames", "row_normalised", "ConfusedPair", "most_confused_pairs", "class_choices", "label_choices", "default_class"]

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from camvid_viewer.analysis.evaluation import SourceEvaluation
from model.metrics import SegmentationScores, scores_from_matrix


def pooled_scores(evaluation: SourceEvaluation) -> SegmentationScores:
    """Pooled over the source: IoU from ONE confusion matrix summed over all frames (= ``eval``)."""
    total = evaluation.matrices.sum(axis=0) if len(evaluation) else np.zeros((len(evaluation.class_names),) * 2, np.int64)
    return scores_from_matrix(total, evaluation.class_names, evaluation.ignore_index)


@dataclass(frozen=True)
class MeanOfFrames:
    """Mean of per-frame scores: each frame scored alone, then averaged; n/a frames skipped."""

    class_names: tuple[str, ...]
    iou: tuple[float | None, ...]  # per class: mean IoU over the frames where the class is scored
    dice: tuple[float | None, ...]
    class_frames: tuple[int, ...]  # per class: how many frames count
    pixel_accuracy: float | None
    mean_iou: float | None  # mean over frames of each frame's mIoU
    mean_dice: float | None
    frames: int  # frames with a score

    def to_json(self) -> dict:
        """The ``eval --json`` layout, for the mean-of-frames figures."""
        return {
            "pixel_accuracy": self.pixel_accuracy,
            "mean_iou": self.mean_iou,
            "mean_dice": self.mean_dice,
            "per_class": {
                name: (None if iou is None else {"iou": iou, "dice": dice, "frames": n})
                for name, iou, dice, n in zip(self.class_names, self.iou, self.dice, self.class_frames, strict=True)
            },
            "frames": self.frames,
        }


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def mean_of_frames(evaluation: SourceEvaluation) -> MeanOfFrames:
    """Mean over frames of per-frame scores (mIoU, pixel accuracy, per-class IoU/Dice)."""
    scores = evaluation.frame_scores
    n_classes = len(evaluation.class_names)
    return MeanOfFrames(
        class_names=evaluation.class_names,
        iou=tuple(_mean(s.iou[c] for s in scores) for c in range(n_classes)),
        dice=tuple(_mean(s.dice[c] for s in scores) for c in range(n_classes)),
        class_frames=tuple(sum(s.iou[c] is not None for s in scores) for c in range(n_classes)),
        pixel_accuracy=_mean(s.pixel_accuracy for s in scores),
        mean_iou=_mean(s.mean_iou for s in scores),
        mean_dice=_mean(s.mean_dice for s in scores),
        frames=sum(s.mean_iou is not None for s in scores),
    )


@dataclass(frozen=True)
class FrameRow:
    """One row of the per-frame table."""

    index: int
    name: str
    mean_iou: float | None
    pixel_accuracy: float | None
    iou: tuple[float | None, ...]  # per class
    flicker: float | None
    flicker_compensated: float | None
    truth_change: float | None
    class_names: tuple[str, ...] = ()  # the evaluation's classes: what ``iou`` is indexed by


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def frame_rows(evaluation: SourceEvaluation) -> list[FrameRow]:
    """The per-frame table: frame index, name, mIoU, pixel accuracy, per-class IoU, flicker."""
    return [
        FrameRow(
            index=int(evaluation.indices[k]),
            name=evaluation.names[k],
            mean_iou=s.mean_iou,
            pixel_accuracy=s.pixel_accuracy,
            iou=s.iou,
            flicker=_finite(evaluation.flicker[k]),
            flicker_compensated=_finite(evaluation.flicker_compensated[k]),
            truth_change=_finite(evaluation.truth_change[k]),
            class_names=evaluation.class_names,
        )
        for k, s in enumerate(evaluation.frame_scores)
    ]


def worst_frames(rows: Sequence[FrameRow], *, by: str | int = "mean_iou", count: int | None = None) -> list[FrameRow]:
    """Rows sorted worst first by ``"mean_iou"``, ``"pixel_accuracy"`` or a class (index or name).

    Frames where that figure is n/a are left out; a class name is looked up in the rows' classes.
    """
    if isinstance(by, str) and by not in ("mean_iou", "pixel_accuracy"):
        names = rows[0].class_names if rows else ()
        if by not in names:
            raise ValueError(f"no class named {by!r} in this evaluation ({', '.join(names) or 'no rows'})")
        by = names.index(by)

    def value(row: FrameRow) -> float | None:
        return row.iou[by] if isinstance(by, int) else getattr(row, by)

    scored = [r for r in rows if value(r) is not None]
    scored.sort(key=lambda r: (value(r), r.index))
    return scored[:count] if count is not None else scored


def class_choices(evaluation: SourceEvaluation) -> list[tuple[int, str]]:
    """(index, name) of the evaluation's scored classes (its model's label set, void left out)."""
    return [(c, name) for c, name in enumerate(evaluation.class_names) if c != evaluation.ignore_index]


def label_choices(label_set) -> list[tuple[int, str]]:
    """(index, name) of a label set's scored classes: what the pickers offer before any evaluation."""
    if label_set is None:
        return []
    return [(c, label_set.names[c]) for c in label_set.scored]


def default_class(choices: Sequence[tuple[int, str]], *, keep: str | None = None, prefer: str = "road") -> int | None:
    """The class a picker shows: ``keep`` (shown before) if offered, else ``prefer``, else the
    first one; ``None`` when there is no class to offer (a model without a road class still works)."""
    for wanted in (keep, prefer):
        for c, name in choices:
            if name == wanted:
                return c
    return choices[0][0] if choices else None


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """Each truth row divided by its total: entry (t, p) = share of class-t pixels predicted p."""
    m = np.asarray(matrix, dtype=np.float64)
    totals = m.sum(axis=1, keepdims=True)
    return np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)


@dataclass(frozen=True)
class ConfusedPair:
    """Class ``truth`` predicted as ``prediction`` for ``share`` of its pixels."""

    truth: int
    prediction: int
    truth_name: str
    prediction_name: str
    share: float  # of the truth class's scored pixels
    pixels: int


def most_confused_pairs(
    matrix: np.ndarray, *, class_names: Sequence[str], ignore_index: int | None, top: int = 5
) -> list[ConfusedPair]:
    """Off-diagonal cells of the row-normalised matrix, largest first (``class_names`` and the
    void ``ignore_index`` are the matrix's: its model's label set)."""
    m = np.asarray(matrix, dtype=np.int64)
    norm = row_normalised(m)
    pairs = [
        ConfusedPair(t, p, class_names[t], class_names[p], float(norm[t, p]), int(m[t, p]))
        for t in range(m.shape[0])
        for p in range(m.shape[1])
        if t != p and t != ignore_index and m[t, p] > 0
    ]
    pairs.sort(key=lambda c: (-c.share, -c.pixels))
    return pairs[:top]
