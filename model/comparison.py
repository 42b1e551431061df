"""Scoring two models on the same frames: ``eval --model A --compare B``.

Both models run on each decoded frame (a :class:`~model.pair.SegmenterPair`); each is scored in
its own classes exactly as ``eval`` scores it alone (one pooled confusion matrix each), so the
``a`` and ``b`` blocks equal two separate ``eval --json`` runs. The difference is B - A, per class
by class name (a class only one model has has no difference), and the frames where the two
models' frame mIoU differ most show where to look.
"""

from __future__ import annotations

__all__ = ["compare_folder", "score_difference", "format_comparison", "FRAMES_LISTED"]

from pathlib import Path

from model.evaluation import (
    FolderEvaluation,
    _check_size,
    _Classes,
    _matrix,
    _pairs_with_truth,
    _progress,
    _read_labels,
)
from model.metrics import scores_from_matrix

FRAMES_LISTED = 10  # frames named in "frames_differing_most"


def compare_folder(
    *,
    images: str | Path,
    annotations: str | Path,
    model: str | Path | None,
    compare: str | Path,
    include_void: bool = False,
    backend: str = "auto",
    device: str = "auto",
    precision: str = "auto",
    progress: bool = True,
    segmenters: tuple | None = None,
) -> dict:
    """The ``eval --compare --json`` object: ``a``, ``b`` (each ``eval --json``), ``difference``
    (B - A) and ``frames_differing_most`` (largest ``|B - A|`` frame mIoU first; frames where the
    two are equal are not listed). ``segmenters`` (A, B, already loaded) replace the paths."""
    from model.pair import SegmenterPair

    if segmenters is None:
        from model.inference import Segmenter, note_precision

        segmenters = tuple(Segmenter(path, backend=backend, device=device, precision=precision) for path in (model, compare))
        for segmenter in segmenters:
            note_precision(segmenter)
    first, second = segmenters
    pairs, without_truth = _pairs_with_truth(images, annotations)
    classes = [_Classes(s.path, s.label_set) for s in segmenters]
    matrices = [_matrix(c, include_void) for c in classes]
    frames: list[dict] = []

    def truth_and_frames():
        from model.data import read_image

        for image_path, truth_path in _progress(pairs, progress, "comparing"):
            frame = read_image(image_path)
            truth = _read_labels(truth_path, classes[0], "truth")
            _read_labels(truth_path, classes[1], "truth")  # B's classes must cover the truth too
            _check_size(image_path, frame[..., 0], truth_path, truth)
            yield (image_path.stem, truth), frame

    for (name, truth), prediction in SegmenterPair(first, second).segment_stream(truth_and_frames()):
        scores = [scores_from_matrix(cm.update(p.labels, truth), cm.class_names, cm.ignore_index)
                  for cm, p in zip(matrices, (prediction, prediction.second), strict=True)]
        frames.append(_frame_entry(name, *scores))
    a, b = (FolderEvaluation(matrix=cm, frames=len(pairs), frames_without_truth=without_truth).to_json() for cm in matrices)
    a["model"], b["model"] = str(first.name), str(second.name)
    ranked = sorted((f for f in frames if f["difference"]), key=lambda f: -abs(f["difference"]))
    return {"a": a, "b": b, "difference": score_difference(a, b), "frames_differing_most": ranked[:FRAMES_LISTED]}


def _frame_entry(name: str, a, b) -> dict:
    diff = None if a.mean_iou is None or b.mean_iou is None else b.mean_iou - a.mean_iou
    return {"frame": name, "mean_iou_a": a.mean_iou, "mean_iou_b": b.mean_iou, "difference": diff}


def _minus(b: float | None, a: float | None) -> float | None:
    return None if a is None or b is None else b - a


def score_difference(a: dict, b: dict) -> dict:
    """B - A of two ``eval --json`` objects: the summary figures, and per class of A's by name
    (``None`` where either has no score)."""
    per_class = {}
    for name, sa in a["per_class"].items():
        sb = b["per_class"].get(name)
        per_class[name] = None if sa is None or sb is None else {k: sb[k] - sa[k] for k in ("iou", "dice")}
    return {
        "pixel_accuracy": _minus(b["pixel_accuracy"], a["pixel_accuracy"]),
        "mean_iou": _minus(b["mean_iou"], a["mean_iou"]),
        "mean_dice": _minus(b["mean_dice"], a["mean_dice"]),
        "per_class": per_class,
    }


def format_comparison(result: dict) -> str:
    """The human-readable ``eval --compare`` report: per class A, B and B - A, then the frames."""
    a, b, d = result["a"], result["b"], result["difference"]

    def pct(v, signed=False):
        return "n/a" if v is None else (f"{v * 100:+.2f}" if signed else f"{v * 100:.2f}")

    def cell(scores, key, signed=False):
        return pct(None if scores is None else scores[key], signed)

    lines = [f"A: {a['model']}", f"B: {b['model']}", "",
             f"{'class':<15}{'IoU A':>8}{'IoU B':>8}{'B - A':>8}{'Dice A':>9}{'Dice B':>8}{'B - A':>8}"]
    for name, sa in a["per_class"].items():
        sb, sd = b["per_class"].get(name), d["per_class"].get(name)
        lines.append(f"{name:<15}{cell(sa, 'iou'):>8}{cell(sb, 'iou'):>8}{cell(sd, 'iou', True):>8}"
                     f"{cell(sa, 'dice'):>9}{cell(sb, 'dice'):>8}{cell(sd, 'dice', True):>8}")
    lines.append("")
    for label, key in (("pixel accuracy", "pixel_accuracy"), ("mean IoU", "mean_iou"), ("mean Dice", "mean_dice")):
        lines.append(f"{label:<15}{pct(a[key]):>8}{pct(b[key]):>8}{pct(d[key], True):>8}")
    lines.append(f"frames          {a['frames']}" + (f" ({a['frames_without_truth']} without truth, not scored)"
                                                     if a.get("frames_without_truth") else ""))
    if not result["frames_differing_most"]:
        lines += ["", "the two models' frame mIoU are equal on every frame"]
    else:
        lines += ["", "frames where they differ most (frame mIoU, %):", f"{'frame':<24}{'A':>8}{'B':>8}{'B - A':>8}"]
        for f in result["frames_differing_most"]:
            lines.append(f"{f['frame']:<24}{pct(f['mean_iou_a']):>8}{pct(f['mean_iou_b']):>8}{pct(f['difference'], True):>8}")
    return "\n".join(lines)
