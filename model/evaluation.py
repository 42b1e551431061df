"""Scoring a model (or saved label maps) on a folder of frames with annotations: the ``eval`` command."""

from __future__ import annotations

__all__ = ["evaluate_folder", "format_table"]

from pathlib import Path

from model.classes import CLASS_NAMES, NUM_CLASSES, VOID_INDEX
from model.data import DataError, list_images, pair_by_stem, read_image, read_label
from model.metrics import ConfusionMatrix


def evaluate_folder(
    *,
    images: str | Path,
    annotations: str | Path,
    model: str | Path | None = None,
    predictions: str | Path | None = None,
    include_void: bool = False,
    backend: str = "auto",
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Pooled scores (one confusion matrix) over every frame that has an annotation.

    With ``predictions``, label PNGs paired by file stem are scored instead of running a model.
    """
    cm = ConfusionMatrix(NUM_CLASSES, ignore_index=None if include_void else VOID_INDEX, class_names=CLASS_NAMES)
    pairs = pair_by_stem(images, annotations)
    if predictions is not None:
        saved = {p.stem: p for p in list_images(predictions)}
        missing = [img for img, _ in pairs if img.stem not in saved]
        if missing:
            raise DataError(f"{missing[0]}: no predicted label map with this name in {predictions}")
        for image, truth_path in _progress(pairs, progress, "scoring"):
            pred, truth = read_label(saved[image.stem]), read_label(truth_path)
            _check_size(saved[image.stem], pred, truth_path, truth)
            cm.update(pred, truth)
    else:
        from model.inference import Segmenter

        segmenter = Segmenter(model, backend=backend, device=device)

        def truth_and_frames():
            for image_path, truth_path in _progress(pairs, progress, "evaluating"):
                frame, truth = read_image(image_path), read_label(truth_path)
                _check_size(image_path, frame[..., 0], truth_path, truth)
                yield truth, frame

        for truth, prediction in segmenter.segment_stream(truth_and_frames()):
            cm.update(prediction.labels, truth)
    return cm.compute().to_json(frames=len(pairs))


def _check_size(a_path, a, b_path, b) -> None:
    if a.shape[:2] != b.shape[:2]:
        raise DataError(f"{b_path}: annotation is {b.shape[1]}x{b.shape[0]}, {Path(a_path).name} is {a.shape[1]}x{a.shape[0]}")


def _progress(items, enabled: bool, desc: str):
    if not enabled:
        return items
    import sys

    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="frame", file=sys.stderr, leave=False, disable=not sys.stderr.isatty())


def format_table(result: dict) -> str:
    """The human-readable ``eval`` report: per-class IoU/Dice, then the summary figures."""
    lines = [f"{'class':<15}{'IoU':>8}{'Dice':>8}"]
    for name, scores in result["per_class"].items():
        if scores is None:
            lines.append(f"{name:<15}{'n/a':>8}{'n/a':>8}")
        else:
            lines.append(f"{name:<15}{scores['iou'] * 100:>7.2f}%{scores['dice'] * 100:>7.2f}%")

    def pct(v):
        return "n/a" if v is None else f"{v * 100:.2f}%"

    lines += [
        "",
        f"frames          {result['frames']}",
        f"pixel accuracy  {pct(result['pixel_accuracy'])}",
        f"mean IoU        {pct(result['mean_iou'])}",
        f"mean Dice       {pct(result['mean_dice'])}",
    ]
    return "\n".join(lines)
