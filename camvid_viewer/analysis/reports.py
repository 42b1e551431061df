"""Writing an evaluation out: the eval-compatible JSON summary and the per-frame CSV."""

from __future__ import annotations

__all__ = ["summary_json", "write_summary_json", "write_frame_csv"]

import csv
import json
from pathlib import Path

from camvid_viewer.analysis.evaluation import SourceEvaluation
from camvid_viewer.analysis.summaries import frame_rows, mean_of_frames, pooled_scores
from model.checkpoint import atomic_write


def summary_json(evaluation: SourceEvaluation) -> dict:
    """``eval --json`` schema (pooled) plus ``mean_of_frames``, ``flicker`` and provenance."""
    out = pooled_scores(evaluation).to_json(frames=len(evaluation))
    out["aggregation"] = "pooled: one confusion matrix summed over all frames (CamVid convention, as eval)"
    mean = mean_of_frames(evaluation).to_json()
    mean["aggregation"] = "mean over frames of per-frame scores; frames where a class is n/a skipped"
    out["mean_of_frames"] = mean
    out["flicker"] = {
        "prediction": evaluation.flicker_total(),
        "prediction_motion_compensated": evaluation.flicker_total(compensated=True),
        "truth": evaluation.truth_change_total(),
        "truth_motion_compensated": evaluation.truth_change_total(compensated=True),
        "meaning": "mean share of pixels whose label changes from the previous frame",
    }
    out["model"] = evaluation.model_name
    out["source"] = evaluation.source_path
    return out


def write_summary_json(path: str | Path, evaluation: SourceEvaluation) -> Path:
    """Write :func:`summary_json` atomically."""
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(summary_json(evaluation), indent=2) + "\n")
    return path


def write_frame_csv(path: str | Path, evaluation: SourceEvaluation) -> Path:
    """Write the per-frame table as CSV (empty cell = n/a), atomically."""
    path = Path(path)
    classes = [(c, n) for c, n in enumerate(evaluation.class_names) if c != evaluation.ignore_index]

    def cell(v: float | None) -> str:
        return "" if v is None else f"{v:.6f}"

    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["frame_index", "frame_name", "mean_iou", "pixel_accuracy", "flicker", "flicker_motion_compensated", "truth_change"]
            + [f"iou_{n}" for _, n in classes]
        )
        for r in frame_rows(evaluation):
            writer.writerow(
                [r.index, r.name, cell(r.mean_iou), cell(r.pixel_accuracy), cell(r.flicker), cell(r.flicker_compensated), cell(r.truth_change)]
                + [cell(r.iou[c]) for c, _ in classes]
            )
    return path
