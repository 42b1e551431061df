"""Scoring two models on the same frames: ``eval --model A --compare B``.

Each model is scored by ``eval``'s own code (``evaluate_matrix``: its classes or its mapping's,
one pooled confusion matrix, the per-drive scores) on the same frames, so the ``a`` and ``b``
blocks equal two separate ``eval --json`` runs; each model uses all its lanes in turn. The
difference is B - A, per class by class name (a class only one model has has no difference),
and the frames where the two models' frame mIoU differ most show where to look.
"""

from __future__ import annotations

__all__ = ["compare_folder", "score_difference", "format_comparison", "FRAMES_LISTED"]

from pathlib import Path

from model.class_mapping import scored_classes
from model.evaluation import evaluate_matrix
from model.metrics import ConfusionMatrix, scores_from_matrix

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
    mode: str = "fast",
    progress: bool = True,
    card: str | Path | None = None,
    mapping: str | Path | None = None,
    segmenters: tuple | None = None,
) -> dict:
    """The ``eval --compare --json`` object: ``a``, ``b`` (each ``eval --json``), ``difference``
    (B - A) and ``frames_differing_most`` (largest ``|B - A|`` frame mIoU first; frames where the
    two are equal are not listed).

    ``card`` and ``mapping`` are model A's (as for ``eval``); B is opened with what lies beside it.
    ``segmenters`` (A, B, already loaded) replace the paths.
    """
    if segmenters is None:
        from model.inference import Segmenter, note_precision

        options = {"backend": backend, "device": device, "precision": precision, "mode": mode}
        segmenters = (Segmenter(model, card=card, mapping=mapping, **options), Segmenter(compare, **options))
        for segmenter in segmenters:
            note_precision(segmenter)
    results, per_frame = [], []
    for segmenter in segmenters:  # each exactly as eval scores it alone (mapping, drives and all)
        recorder = _FrameRecorder(segmenter, include_void)
        evaluation = evaluate_matrix(images=images, annotations=annotations, include_void=include_void,
                                     progress=progress, segmenter=recorder)
        result = evaluation.to_json()
        result["model"] = str(getattr(segmenter, "name", segmenter.path))
        results.append(result)
        per_frame.append(recorder.mean_iou)
    a, b = results
    frames = [_frame_entry(name, per_frame[0].get(name), per_frame[1].get(name)) for name in per_frame[0]]
    ranked = sorted((f for f in frames if f["difference"]), key=lambda f: -abs(f["difference"]))
    return {"a": a, "b": b, "difference": score_difference(a, b), "frames_differing_most": ranked[:FRAMES_LISTED]}


class _FrameRecorder:
    """A segmenter as ``evaluate_matrix`` drives it, noting each frame's mIoU on the way.

    ``evaluate_matrix`` streams ``((image path, truth), frame)`` and maps the labels it gets back
    into its scored classes before it asks for the next frame, so a frame's labels are read
    (scored) when the next one is asked for, or at the end.
    """

    def __init__(self, segmenter, include_void: bool) -> None:
        self.segmenter, self.include_void = segmenter, include_void
        self.mean_iou: dict[str, float | None] = {}

    def __getattr__(self, name: str):
        return getattr(self.segmenter, name)  # path, card, label_set, mapping, name...

    def segment_stream(self, items):
        last = None
        for key, prediction in self.segmenter.segment_stream(items):
            self._note(last)
            last = (key, prediction)
            yield key, prediction
        self._note(last)

    def _note(self, entry) -> None:
        if entry is None:
            return
        (image_path, truth), prediction = entry
        classes = scored_classes(self.segmenter)
        ignore = None if self.include_void else classes.void_index
        matrix = ConfusionMatrix(classes.count, ignore_index=ignore, class_names=classes.names).matrix_of(prediction.labels, truth)
        self.mean_iou[Path(image_path).stem] = scores_from_matrix(matrix, classes.names, ignore).mean_iou


def _frame_entry(name: str, a: float | None, b: float | None) -> dict:
    return {"frame": name, "mean_iou_a": a, "mean_iou_b": b, "difference": _minus(b, a)}


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
