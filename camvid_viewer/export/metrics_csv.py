"""The per-frame metrics CSV: one row per frame, totals last, full float precision.

Each row holds the frame's scores against its annotation (blank without one) and the model's
own signals, which need no truth: mean confidence, low-confidence share, flicker against the
previous frame and each class's share of the frame (the metrics dock's columns). A source
without annotations still gets a useful table: the signals say where the model struggles.
"""

from __future__ import annotations

__all__ = ["MetricsRows", "score_cells"]

import csv
from pathlib import Path

from model.metrics import SegmentationScores
from model.signals import FrameSignals, SignalTotals


def _column(name: str) -> str:
    return name.replace("/", "_").replace(" ", "_")


class MetricsRows:
    """The rows of one export, in frame order, in the scored classes (a mapping's when the model has one)."""

    def __init__(self, class_names, void_index: int | None) -> None:
        self.class_names = tuple(class_names)
        self.void_index = void_index
        self.rows: list[list] = []
        self.signals = SignalTotals(len(self.class_names))
        self.labelled = 0
        self.bad = 0

    def frame(self, index: int, name: str, scores: SegmentationScores | None, signals: FrameSignals | None) -> None:
        self.labelled += scores is not None
        if signals is not None:
            self.signals.add(signals)
        self.rows.append([index, name, int(scores is not None), 0, *self._score_cells(scores), *self._signal_cells(signals)])

    def bad_frame(self, index: int, name: str) -> None:
        self.bad += 1
        self.rows.append([index, name, 0, 1, *self._score_cells(None), *self._signal_cells(None)])

    def write(self, path: Path, scores: SegmentationScores | None) -> None:
        """The header, every row, then the totals: pooled scores and pooled signals (mean flicker)."""
        scored = [_column(n) for i, n in enumerate(self.class_names) if i != self.void_index]
        header = ["frame", "name", "labelled", "bad", "pixel_accuracy", "mean_iou", "mean_dice",
                  *(f"iou_{n}" for n in scored), *(f"dice_{n}" for n in scored),
                  "mean_confidence", "low_confidence_share", "flicker", *(f"share_{_column(n)}" for n in self.class_names)]
        totals = self.signals
        signal_totals = ([_cell(totals.mean_confidence), _cell(totals.low_confidence_share), _cell(totals.mean_flicker),
                          *(_cell(v) for v in totals.class_share)] if totals.frames else self._signal_cells(None))
        total = ["total", f"{self.labelled} labelled frames", self.labelled, self.bad, *self._score_cells(scores),
                 *signal_totals]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(self.rows)
            w.writerow(total)

    def _score_cells(self, scores: SegmentationScores | None) -> list:
        return score_cells(scores, self.void_index, len(self.class_names))

    def _signal_cells(self, signals: FrameSignals | None) -> list:
        return _signal_cells(signals, len(self.class_names))


def _cell(v) -> str:
    return "" if v is None else repr(float(v))


def _signal_cells(signals: FrameSignals | None, classes: int) -> list:
    if signals is None:
        return [""] * (3 + classes)
    return [_cell(signals.mean_confidence), _cell(signals.low_confidence_share), _cell(signals.flicker),
            *(_cell(v) for v in signals.class_share)]


def score_cells(scores: SegmentationScores | None, void_index: int | None, num_classes: int) -> list:
    """pixel accuracy, mean IoU, mean Dice, then IoU and Dice per class (void left out); blank = n/a.

    Full float precision (``repr``), so the totals row compares exactly with ``eval --json``.
    """
    keep = [i for i in range(num_classes) if i != void_index]
    if scores is None:
        return [""] * (3 + 2 * len(keep))
    return [_cell(scores.pixel_accuracy), _cell(scores.mean_iou), _cell(scores.mean_dice),
            *(_cell(scores.iou[i]) for i in keep), *(_cell(scores.dice[i]) for i in keep)]
