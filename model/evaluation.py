"""Scoring a model (or saved label maps) on a folder of frames with annotations: the ``eval`` command."""

from __future__ import annotations

__all__ = ["FolderEvaluation", "evaluate_folder", "evaluate_matrix", "format_table"]

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.class_mapping import scored_classes, scored_labels
from model.classes import CAMVID, LabelSet
from model.data import DataError, list_images, read_image, read_label
from model.drives import drive_of, drive_relations
from model.external_model import external_scored_classes, is_external_model
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
    precision: str = "auto",
    progress: bool = True,
    card: str | Path | None = None,
    mapping: str | Path | None = None,
    mode: str = "fast",
) -> dict:
    """Pooled scores (one confusion matrix) over every frame that has an annotation.

    Frames without one are not scored; their count is the result's ``frames_without_truth``
    (present when there are any). With ``predictions``, label PNGs paired by file stem are scored
    instead of running a model (the classes are ``model``'s when given, else CamVid's).
    The model's classes must cover the truth: a truth (or predicted) value the model has no
    class for raises :class:`DataError` rather than being silently dropped from the scores.
    """
    evaluation = evaluate_matrix(images=images, annotations=annotations, model=model, predictions=predictions,
                                 include_void=include_void, backend=backend, device=device,
                                 precision=precision, progress=progress, card=card, mapping=mapping, mode=mode)
    return evaluation.to_json()


@dataclass
class FolderEvaluation:
    """What :func:`evaluate_matrix` counted: the pooled matrix and the frames behind it."""

    matrix: ConfusionMatrix  # truth x prediction over every scored frame
    frames: int  # frames scored (those with an annotation)
    frames_without_truth: int  # frames not scored
    by_drive: DriveTally | None = None  # the same scores per drive (a frame name's prefix)

    def to_json(self) -> dict:
        """The ``eval --json`` schema (``drives``: per-drive scores, when frames name their drives)."""
        result = self.matrix.compute().to_json(frames=self.frames)
        if self.frames_without_truth:
            result["frames_without_truth"] = self.frames_without_truth
        if self.by_drive is not None and self.by_drive.named():
            result["drives"] = self.by_drive.to_json()
        return result


@dataclass
class DriveTally:
    """One confusion matrix per drive, and what the model's card says of each drive.

    Frames of a drive the model trained on flatter it: the report says which drives those are."""

    make_matrix: Callable[[], ConfusionMatrix]
    card: dict
    matrices: dict = field(default_factory=dict)
    frames: dict = field(default_factory=dict)

    def update(self, image_path: Path, prediction: np.ndarray, truth: np.ndarray) -> None:
        drive = drive_of(image_path) or "?"
        if drive not in self.matrices:
            self.matrices[drive], self.frames[drive] = self.make_matrix(), 0
        self.matrices[drive].update(prediction, truth)
        self.frames[drive] += 1

    def named(self) -> bool:
        return any(d != "?" for d in self.matrices)

    def to_json(self) -> dict:
        relations = drive_relations(self.frames, self.card)
        out = {}
        for drive, cm in self.matrices.items():
            scores = cm.compute().to_json(frames=self.frames[drive])
            out[drive] = {"frames": self.frames[drive], "relation": relations[drive],
                          **{k: scores[k] for k in ("pixel_accuracy", "mean_iou", "mean_dice")}}
        return out


def evaluate_matrix(
    *,
    images: str | Path,
    annotations: str | Path,
    model: str | Path | None = None,
    predictions: str | Path | None = None,
    include_void: bool = False,
    backend: str = "auto",
    device: str = "auto",
    precision: str = "auto",
    progress: bool = True,
    segmenter=None,
    on_frame=None,
    card: str | Path | None = None,
    mapping: str | Path | None = None,
    mode: str = "fast",
) -> FolderEvaluation:
    """:func:`evaluate_folder`'s confusion matrix; ``segmenter`` (already loaded) replaces ``model``.

    ``on_frame()`` is called after each scored frame (a batch's progress bar).

    A batch loads its model once per worker and scores many folders with it; summing the
    matrices of several folders gives the scores of their union.
    """
    pairs, without_truth = _pairs_with_truth(images, annotations)
    if predictions is not None:
        classes = _card_classes(model, card=card, mapping=mapping)
        cm = _matrix(classes, include_void)
        by_drive = DriveTally(lambda: _matrix(classes, include_void), _card_of(model))
        saved = {p.stem: p for p in list_images(predictions)}
        missing = [img for img, _ in pairs if img.stem not in saved]
        if missing:
            raise DataError(f"{missing[0]}: no predicted label map with this name in {predictions}")
        for image, truth_path in _progress(pairs, progress, "scoring"):
            truth, pred = _read_labels(truth_path, classes, "truth"), _read_labels(saved[image.stem], classes, "predicted")
            _check_size(saved[image.stem], pred, truth_path, truth)
            cm.update(pred, truth)
            by_drive.update(image, pred, truth)
            if on_frame is not None:
                on_frame()
    else:
        if segmenter is None:
            from model.inference import Segmenter, note_precision

            segmenter = Segmenter(model, backend=backend, device=device, precision=precision, card=card, mapping=mapping,
                                  mode=mode)
            note_precision(segmenter)
        classes = _Classes(segmenter.path, scored_classes(segmenter))  # a mapping's target, else the model's own
        cm = _matrix(classes, include_void)
        by_drive = DriveTally(lambda: _matrix(classes, include_void), getattr(segmenter, "card", None) or {})

        def truth_and_frames():
            for image_path, truth_path in _progress(pairs, progress, "evaluating"):
                frame, truth = read_image(image_path), _read_labels(truth_path, classes, "truth")
                _check_size(image_path, frame[..., 0], truth_path, truth)
                yield (image_path, truth), frame

        for (image_path, truth), prediction in segmenter.segment_stream(truth_and_frames()):
            prediction.labels = scored_labels(segmenter, prediction.labels)
            cm.update(prediction.labels, truth)
            by_drive.update(image_path, prediction.labels, truth)
            if on_frame is not None:
                on_frame()
    return FolderEvaluation(matrix=cm, frames=len(pairs), frames_without_truth=without_truth, by_drive=by_drive)


@dataclass(frozen=True)
class _Classes:
    """The label set scores are computed over, and whose it is (named in errors)."""

    source: str | Path
    labels: LabelSet

    @property
    def names(self) -> tuple[str, ...]:
        return self.labels.names

    @property
    def void_index(self) -> int | None:
        return self.labels.void_index


def _pairs_with_truth(images, annotations) -> tuple[list[tuple[Path, Path]], int]:
    """(frame, annotation) pairs by file stem, and how many frames have no annotation."""
    frames = list_images(images)
    if not frames:
        raise DataError(f"{images}: no image files (png/jpg) in this folder")
    truth = {p.stem: p for p in list_images(annotations)}
    pairs = [(f, truth[f.stem]) for f in frames if f.stem in truth]
    if not pairs:
        raise DataError(f"{images}: nothing to score: each of its {len(frames)} frames has no annotation "
                        f"in {annotations} (annotations pair with frames by file stem)")
    return pairs, len(frames) - len(pairs)


def _card_of(model) -> dict:
    if model is None or is_external_model(model):  # an ONNX model's card names no training drives
        return {}
    from model.checkpoint import read_card

    return read_card(model)


def _card_classes(model, *, card=None, mapping=None) -> _Classes:
    if model is None:
        return _Classes("CamVid", CAMVID)
    if is_external_model(model):  # saved labels of an ONNX model: in its mapping's classes, as predict writes them
        return _Classes(model, external_scored_classes(model, card, mapping))
    from model.checkpoint import read_card

    return _Classes(model, LabelSet.from_card(read_card(model)))


def _matrix(classes: _Classes, include_void: bool) -> ConfusionMatrix:
    ignore = None if include_void else classes.void_index
    return ConfusionMatrix(len(classes.names), ignore_index=ignore, class_names=classes.names)


def _read_labels(path: Path, classes: _Classes, what: str):
    """A label map whose every value is one of ``classes`` (void included)."""
    labels = read_label(path, num_classes=256)
    n = len(classes.names)
    if int(labels.max(initial=0)) >= n:
        extra = [int(v) for v in np.unique(labels[labels >= n])]
        shown = ", ".join(map(str, extra[:8])) + (", ..." if len(extra) > 8 else "")
        raise DataError(f"{path}: {what} label values {shown} are not among the {n} classes (0..{n - 1}) "
                        f"of {classes.source}; the model's classes do not match these labels")
    return labels


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
        *([f"no truth        {result['frames_without_truth']} frames (not scored)"] if result.get("frames_without_truth") else []),
        f"pixel accuracy  {pct(result['pixel_accuracy'])}",
        f"mean IoU        {pct(result['mean_iou'])}",
        f"mean Dice       {pct(result['mean_dice'])}",
    ]
    if result.get("drives"):
        lines += ["", f"{'drive':<10}{'frames':>7}{'pixel acc':>11}{'mIoU':>8}  model"]
        for drive, scores in result["drives"].items():
            lines.append(f"{drive:<10}{scores['frames']:>7}{pct(scores['pixel_accuracy']):>11}"
                         f"{pct(scores['mean_iou']):>8}  {scores['relation']}")
    return "\n".join(lines)
