"""The per-frame metrics CSV: one row per frame, totals last, full float precision."""

from __future__ import annotations

__all__ = ["score_cells", "write_metrics_csv"]

import csv
from pathlib import Path

from model.metrics import SegmentationScores


def write_metrics_csv(path: Path, rows: list[list], *, class_names, void_index: int | None,
                      scores: SegmentationScores | None, labelled: int, bad: int) -> None:
    """Write ``rows`` (from :func:`frame_row`) under a header, then the totals row."""
    names = [n.replace("/", "_").replace(" ", "_") for i, n in enumerate(class_names) if i != void_index]
    header = ["frame", "name", "labelled", "bad", "pixel_accuracy", "mean_iou", "mean_dice",
              *(f"iou_{n}" for n in names), *(f"dice_{n}" for n in names)]
    total = ["total", f"{labelled} labelled frames", labelled, bad, *score_cells(scores, void_index, len(class_names))]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
        w.writerow(total)


def score_cells(scores: SegmentationScores | None, void_index: int | None, num_classes: int) -> list:
    """pixel accuracy, mean IoU, mean Dice, then IoU and Dice per class (void left out); blank = n/a.

    Full float precision (``repr``), so the totals row compares exactly with ``eval --json``.
    """
    keep = [i for i in range(num_classes) if i != void_index]
    if scores is None:
        return [""] * (3 + 2 * len(keep))

    def cell(v):
        return "" if v is None else repr(float(v))

    return [cell(scores.pixel_accuracy), cell(scores.mean_iou), cell(scores.mean_dice),
            *(cell(scores.iou[i]) for i in keep), *(cell(scores.dice[i]) for i in keep)]
