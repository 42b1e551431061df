"""What a batch did per source, kept beside its outputs, and the batch's ``summary.json`` / ``.csv``.

Each finished source leaves a record ``OUT_DIR/.batch/<name>.json`` (frames, seconds, node,
outputs, and the truth x prediction confusion matrix when the source had annotations), written
after its outputs, so a record means "complete": a re-run skips the source and still counts it.
Pooled scores come from one matrix summed over every scored frame of every source, so the
batch's IoU/Dice equal ``eval`` over the union of the sources. Sources without truth carry the
model's own signals instead (``batch eval``; ``batch export --metrics-csv``): each source's mean
confidence, low-confidence share and flicker, pooled too, and the sources listed least confident
first, so a fleet's videos can be sorted by where the model struggles.
"""

from __future__ import annotations

__all__ = ["RECORDS", "SourceResult", "load_record", "pooled_matrix", "record_path", "write_record", "write_summary"]

import csv
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from camvid_viewer.export.video_writer import temp_path_for
from model.metrics import scores_from_matrix
from model.signals import SignalTotals

RECORDS = ".batch"  #: the folder in OUT_DIR that holds the per-source records


@dataclass
class SourceResult:
    """One source's outcome in a batch."""

    source: str  # the input as named
    name: str  # its outputs' base name in OUT_DIR
    status: str  # done | skipped (complete from an earlier run) | failed
    frames: int = 0  # frames written (export, predict) or scored (eval)
    seconds: float = 0.0  # time on its worker, model already loaded
    node: str | None = None  # Ray node id of the worker that ran it
    outputs: list[str] = field(default_factory=list)  # names in OUT_DIR
    message: str | None = None  # why it failed, or notes
    matrix: list[list[int]] | None = None  # truth x prediction, when the source had annotations
    scored_frames: int = 0  # frames with truth, behind ``matrix``
    class_names: list[str] | None = None  # the matrix's classes (the model's)
    void_index: int | None = None  # the class not scored
    attempts: int = 1  # workers it was given (more than one: a worker died under it)
    signals: dict | None = None  # the model's own signals (``SignalTotals.to_record()``), when made

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def scores(self) -> dict | None:
        """``eval --json``-style scores of this source alone, or None without annotations."""
        if self.matrix is None or self.class_names is None:
            return None
        scores = scores_from_matrix(np.asarray(self.matrix), tuple(self.class_names), self.void_index)
        return scores.to_json(frames=self.scored_frames)

    def signal_totals(self) -> SignalTotals | None:
        return SignalTotals.from_record(self.signals) if self.signals is not None else None

    def signals_json(self) -> dict | None:
        totals = self.signal_totals()
        return totals.to_json(tuple(self.class_names or ())) if totals is not None else None


def record_path(out_dir: Path, name: str) -> Path:
    return Path(out_dir) / RECORDS / f"{name}.json"


def write_record(out_dir: Path, result: SourceResult) -> None:
    data = asdict(result)
    data["status"] = "done"
    _write_atomic(record_path(out_dir, result.name), json.dumps(data, indent=1))


def load_record(out_dir: Path, name: str) -> SourceResult | None:
    """The record of a complete source: it exists, parses and every output it names is there."""
    path = record_path(out_dir, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        result = SourceResult(**data)
    except (OSError, ValueError, TypeError):
        return None
    if not result.outputs or not all((Path(out_dir) / o).exists() for o in result.outputs):
        return None
    return result


def pooled_matrix(results: list[SourceResult]) -> tuple[np.ndarray, list[str], int | None] | None:
    """The sum of every scored source's matrix, with its classes; None when no source had truth."""
    scored = [r for r in results if r.matrix is not None and r.status != "failed"]
    if not scored:
        return None
    first = scored[0]
    for r in scored[1:]:
        if r.class_names != first.class_names:
            raise ValueError(f"{r.source}: scored with other classes than {first.source}; cannot pool them")
    total = np.sum([np.asarray(r.matrix, dtype=np.int64) for r in scored], axis=0)
    return total, list(first.class_names), first.void_index


def write_summary(out_dir: Path, *, command: str, results: list[SourceResult], wall_s: float) -> dict:
    """``summary.json`` and ``summary.csv`` in ``out_dir`` (each written to a temp file, then renamed)."""
    pooled = pooled_matrix(results)
    scores = None
    if pooled is not None:
        matrix, names, void = pooled
        scores = scores_from_matrix(matrix, tuple(names), void).to_json(
            frames=sum(r.scored_frames for r in results if r.matrix is not None and r.status != "failed"))
    ran = [r for r in results if r.status == "done"]
    frames_run = sum(r.frames for r in ran)
    summary = {
        "command": command,
        "sources": len(results),
        "done": len(ran),
        "skipped": sum(r.status == "skipped" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "frames": sum(r.frames for r in results if r.status != "failed"),
        "frames_this_run": frames_run,
        "wall_seconds": round(wall_s, 3),
        "fps_this_run": round(frames_run / wall_s, 3) if wall_s > 0 else 0.0,
        "nodes": sorted({r.node for r in ran if r.node}),
        "scores": scores,
        "signals": _pooled_signals(results),
        "least_confident_first": _least_confident_first(results),
        "per_source": [_source_json(r) for r in results],
    }
    _write_atomic(Path(out_dir) / "summary.json", json.dumps(summary, indent=1))
    _write_atomic(Path(out_dir) / "summary.csv", _summary_csv(results, summary, pooled))
    return summary


def _source_json(r: SourceResult) -> dict:
    return {"source": r.source, "name": r.name, "status": r.status, "frames": r.frames, "seconds": round(r.seconds, 3),
            "fps": round(r.fps, 3), "node": r.node, "attempts": r.attempts, "outputs": r.outputs,
            "message": r.message, "scores": r.scores(), "signals": r.signals_json()}


def _with_signals(results: list[SourceResult]) -> list[SourceResult]:
    return [r for r in results if r.signals is not None and r.status != "failed"]


def _pooled_signals(results: list[SourceResult]) -> dict | None:
    """Every source's signals pooled (pixel-weighted), or None when no source made any."""
    sources = _with_signals(results)
    if not sources:
        return None
    pooled = sources[0].signal_totals()
    for r in sources[1:]:
        if r.class_names != sources[0].class_names:
            raise ValueError(f"{r.source}: signals in other classes than {sources[0].source}; cannot pool them")
        pooled.merge(r.signal_totals())
    return pooled.to_json(tuple(sources[0].class_names or ()))


def _least_confident_first(results: list[SourceResult]) -> list[str]:
    """The names of the sources with signals, the one the model is least sure of first."""
    scored = [(r.signal_totals().mean_confidence, r.name) for r in _with_signals(results)]
    return [name for confidence, name in sorted((c, n) for c, n in scored if c is not None)]


def _summary_csv(results: list[SourceResult], summary: dict, pooled) -> str:
    names = pooled[1] if pooled is not None else []
    void = pooled[2] if pooled is not None else None
    scored = [n for i, n in enumerate(names) if i != void]
    header = ["source", "name", "status", "frames", "seconds", "fps", "node", "pixel_accuracy", "mean_iou", "mean_dice",
              *[f"iou_{n}" for n in scored], *[f"dice_{n}" for n in scored],
              "mean_confidence", "low_confidence_share", "mean_flicker", "message"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for r in results:
        base = [r.source, r.name, r.status, r.frames, f"{r.seconds:.3f}", f"{r.fps:.3f}", r.node or ""]
        writer.writerow(base + _score_cells(r.scores(), scored) + _signal_cells(r.signals_json()) + [r.message or ""])
    total = ["ALL", "", f"{summary['done']} done, {summary['skipped']} skipped, {summary['failed']} failed",
             summary["frames"], f"{summary['wall_seconds']:.3f}", f"{summary['fps_this_run']:.3f}", ""]
    writer.writerow(total + _score_cells(summary["scores"], scored) + _signal_cells(summary["signals"]) + [""])
    return buffer.getvalue()


def _score_cells(scores: dict | None, names: list[str]) -> list[str]:
    if scores is None:
        return [""] * (3 + 2 * len(names))

    def cell(v):
        return "" if v is None else f"{v:.6f}"

    per = scores["per_class"]
    return ([cell(scores["pixel_accuracy"]), cell(scores["mean_iou"]), cell(scores["mean_dice"])]
            + [cell(per[n]["iou"] if per.get(n) else None) for n in names]
            + [cell(per[n]["dice"] if per.get(n) else None) for n in names])


def _signal_cells(signals: dict | None) -> list[str]:
    if signals is None:
        return ["", "", ""]
    return ["" if signals[k] is None else f"{signals[k]:.6f}" for k in ("mean_confidence", "low_confidence_share", "mean_flicker")]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path, suffix=path.suffix)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
