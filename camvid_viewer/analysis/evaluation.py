"""Whole-source evaluation: per-frame confusion matrices and flicker, both aggregations, exports.

Headless (numpy + OpenCV; no Qt, no torch): the analysis dock, ``export`` and the
benchmarks drive the same functions. A *segmenter* is anything with
``.segment(frame_bgr, probabilities=False) -> prediction`` whose prediction has
``.labels`` (HxW uint8) and, when asked, ``.probabilities`` (C,H,W float32).
Flicker measures and :class:`TemporalSmoother` live in :mod:`camvid_viewer.analysis.temporal`,
the results cache in :mod:`camvid_viewer.analysis.cache`.

Two aggregations, never to be confused:

* **pooled** (:func:`pooled_scores`): one confusion matrix summed over every frame,
  then IoU per class. The CamVid convention, and what ``python main.py eval`` prints.
* **mean of frames** (:func:`mean_of_frames`): IoU computed per frame, then averaged
  over frames (a frame where a class is n/a does not count for that class).

Example::

    from camvid_viewer.sources import open_source
    from camvid_viewer.sources.truth import TruthIndex, find_annotations
    from model.inference import Segmenter
    source = open_source("../shared/camvid/val")
    truth = TruthIndex.for_source(source, find_annotations(source))
    ev = evaluate_source(source, truth, Segmenter())
    print(pooled_scores(ev).mean_iou, mean_of_frames(ev).mean_iou, ev.flicker_total())
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "SourceEvaluation",
    "FrameRow",
    "MeanOfFrames",
    "ConfusedPair",
    "TemporalSmoother",
    "evaluate_source",
    "evaluate_path",
    "SerialisedSegmenter",
    "pixel_confidence",
    "default_cache_dir",
    "cache_key",
    "model_identity",
    "pooled_scores",
    "mean_of_frames",
    "frame_rows",
    "worst_frames",
    "row_normalised",
    "most_confused_pairs",
    "summary_json",
    "write_frame_csv",
    "write_summary_json",
    "motion_flow",
    "warp_previous",
    "label_change_rate",
    "sequence_flicker",
]

import csv
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

# The cache and the temporal code have modules of their own; their public names stay importable here.
from camvid_viewer.analysis.cache import (
    cache_key,
    default_cache_dir,
    model_identity,
    model_name,
    read_cache,
    write_cache,
)
from camvid_viewer.analysis.temporal import (
    TemporalSmoother,
    label_change_rate,
    motion_flow,
    sequence_flicker,
    warp_previous,
)
from model.checkpoint import atomic_write
from model.classes import CLASS_NAMES, NUM_CLASSES, VOID_INDEX
from model.metrics import SegmentationScores, scores_from_matrix


class AnalysisError(Exception):
    """A source or cache that cannot be analysed; the message names the file."""


# ---------------------------------------------------------------------------------------------
# The evaluation record


@dataclass
class SourceEvaluation:
    """Per-frame confusion matrices (and flicker) of one model on the labelled frames of a source.

    Arrays are aligned: entry ``k`` belongs to source frame ``indices[k]``. NaN marks a
    flicker value that has no comparable previous frame.
    """

    source_path: str
    model_name: str
    indices: np.ndarray  # (N,) int64 source frame indices, ascending
    names: tuple[str, ...]  # frame names (file stem / zero-padded index)
    matrices: np.ndarray  # (N, C, C) int64 truth x prediction per frame
    flicker: np.ndarray  # (N,) share of pixels whose predicted label changed since frame index-1
    flicker_compensated: np.ndarray  # (N,) same after warping frame index-1 by optical flow
    truth_change: np.ndarray  # (N,) the truth's change rate vs the previous labelled frame if adjacent
    truth_change_compensated: np.ndarray  # (N,) same, motion-compensated
    class_names: tuple[str, ...] = CLASS_NAMES
    ignore_index: int | None = VOID_INDEX
    complete: bool = True  # False when cancelled part way (never cached)
    from_cache: bool = False
    skipped: tuple[str, ...] = ()  # one line per labelled frame that could not be scored

    def __len__(self) -> int:
        return len(self.indices)

    @cached_property
    def frame_scores(self) -> tuple[SegmentationScores, ...]:
        return tuple(scores_from_matrix(m, self.class_names, self.ignore_index) for m in self.matrices)

    def position_of(self, frame_index: int) -> int | None:
        """Row of a source frame index, or None when that frame was not evaluated."""
        k = int(np.searchsorted(self.indices, frame_index))
        return k if k < len(self.indices) and self.indices[k] == frame_index else None

    def flicker_total(self, *, compensated: bool = False) -> float | None:
        """Mean per-frame flicker over the source (None when no frame pair was compared)."""
        return _nanmean(self.flicker_compensated if compensated else self.flicker)

    def truth_change_total(self, *, compensated: bool = False) -> float | None:
        """Mean change rate of the truth itself between adjacent labelled frames."""
        return _nanmean(self.truth_change_compensated if compensated else self.truth_change)


def _nanmean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


# ---------------------------------------------------------------------------------------------
# Evaluating a source


def evaluate_source(
    source,
    truth_index,
    segmenter,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> SourceEvaluation:
    """Run ``segmenter`` over every labelled frame of ``source`` and score it against the truth.

    Args:
        source: a ``camvid_viewer.sources.FrameSource`` (``read``, ``frames``, ``frame_name``,
            ``frame_count``, ``path``).
        truth_index: a ``TruthIndex`` (``labelled_indices``, ``read(index)``).
        segmenter: ``.segment(frame) -> prediction`` with ``.labels``; a stateful one (a
            :class:`TemporalSmoother`) is fed ``warmup_frames`` frames before each labelled one.
        progress: called as ``progress(done, total)`` in frames processed.
        cancel: a callable returning True, or a ``threading.Event``, to stop early; the
            partial result has ``complete=False`` and is not cached.
        cache_dir: where per-frame matrices are cached (default :func:`default_cache_dir`).
        use_cache: read and write the cache.
    """
    if getattr(source, "is_live", False) or source.frame_count is None:
        raise AnalysisError(f"{source.path}: a live stream has no fixed frames to evaluate")
    labelled = sorted(int(i) for i in truth_index.labelled_indices if 0 <= int(i) < source.frame_count)
    if not labelled:
        raise AnalysisError(f"{source.path}: no labelled frame to evaluate")
    cancelled = _cancel_check(cancel)
    key = cache_key(segmenter, source, labelled, truth_index) if use_cache else None
    cache_file = Path(cache_dir or default_cache_dir()) / f"{key}.npz" if key else None
    if cache_file is not None:
        cached = read_cache(cache_file, key)
        if cached is not None:
            if progress:
                progress(len(labelled), len(labelled))
            return SourceEvaluation(source_path=str(source.path), model_name=model_name(segmenter), from_cache=True, **cached)

    warmup = max(1, int(getattr(segmenter, "warmup_frames", 1)))
    runs = _frame_runs(labelled, warmup)
    total = sum(stop - start for start, stop in runs)
    wanted = set(labelled)
    rows: dict[str, list] = {k: [] for k in ("index", "name", "matrix", "fl", "flc", "tc", "tcc")}
    skipped: list[str] = []
    done = 0
    previous_truth: tuple[int, np.ndarray, np.ndarray] | None = None  # index, labels, frame
    complete = True
    for start, stop in runs:
        reset = getattr(segmenter, "reset", None)
        if callable(reset):
            reset()  # a run starts after a gap: a temporal model must not carry old frames over
        previous: tuple[int, np.ndarray, np.ndarray] | None = None  # index, labels, frame
        for index, frame in _read_run(source, start, stop):
            if cancelled():
                complete = False
                break
            labels = np.asarray(segmenter.segment(frame).labels)
            if index in wanted:
                try:
                    truth = truth_index.read(index)
                except Exception as exc:  # noqa: BLE001 - a bad label file skips its frame, named
                    truth, problem = None, " ".join(str(exc).split()) or f"{source.frame_name(index)}: unreadable truth"
                else:
                    problem = _shape_problem(source, index, frame, labels, truth)
                if problem:
                    skipped.append(problem)
                else:
                    rows["index"].append(index)
                    rows["name"].append(str(source.frame_name(index)))
                    rows["matrix"].append(_frame_matrix(labels, truth))
                    fl = flc = tc = tcc = math.nan
                    flow = None
                    if previous is not None and previous[0] == index - 1 and previous[1].shape == labels.shape:
                        flow = motion_flow(previous[2], frame)
                        fl = label_change_rate(previous[1], labels)
                        flc = label_change_rate(previous[1], labels, flow=flow)
                    if previous_truth is not None and previous_truth[0] == index - 1 and previous_truth[1].shape == truth.shape:
                        if flow is None:  # same frame pair as above: one flow serves both
                            flow = motion_flow(previous_truth[2], frame)
                        tc = label_change_rate(previous_truth[1], truth, ignore_index=VOID_INDEX)
                        tcc = label_change_rate(previous_truth[1], truth, flow=flow, ignore_index=VOID_INDEX)
                    for k, v in (("fl", fl), ("flc", flc), ("tc", tc), ("tcc", tcc)):
                        rows[k].append(v)
                    previous_truth = (index, truth, frame)
            previous = (index, labels, frame)
            done += 1
            if progress:
                progress(done, total)
        if not complete:
            break

    n = len(rows["index"])
    evaluation = SourceEvaluation(
        source_path=str(source.path),
        model_name=model_name(segmenter),
        indices=np.asarray(rows["index"], dtype=np.int64),
        names=tuple(rows["name"]),
        matrices=np.asarray(rows["matrix"], dtype=np.int64).reshape(n, NUM_CLASSES, NUM_CLASSES),
        flicker=np.asarray(rows["fl"], dtype=np.float64),
        flicker_compensated=np.asarray(rows["flc"], dtype=np.float64),
        truth_change=np.asarray(rows["tc"], dtype=np.float64),
        truth_change_compensated=np.asarray(rows["tcc"], dtype=np.float64),
        complete=complete,
        skipped=tuple(skipped),
    )
    if complete and cache_file is not None:
        write_cache(cache_file, key, evaluation)
    return evaluation


def evaluate_path(
    path: str,
    truth_index,
    segmenter,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> SourceEvaluation:
    """:func:`evaluate_source` on a private copy of the source at ``path``.

    The viewer's own source object is being read by its playback threads; a video decoder
    must not be sought from two threads, so the evaluation opens its own.
    """
    from camvid_viewer.sources import open_source

    with open_source(path) as source:
        return evaluate_source(source, truth_index, segmenter, progress=progress, cancel=cancel,
                               cache_dir=cache_dir, use_cache=use_cache)


class SerialisedSegmenter:
    """A segmenter whose calls hold ``lock``, so two threads take turns on one model."""

    def __init__(self, segmenter, lock) -> None:
        self.segmenter = segmenter
        self.lock = lock

    def __getattr__(self, name: str):
        if name in ("segmenter", "lock"):
            raise AttributeError(name)
        return getattr(self.segmenter, name)

    def segment(self, frame: np.ndarray, *, probabilities: bool = False):
        with self.lock:
            return self.segmenter.segment(frame, probabilities=probabilities)


def pixel_confidence(segmenter, frame: np.ndarray, *, lock=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, winning-class probability, normalised entropy) of one frame, for the confidence view."""
    if lock is not None:
        with lock:
            prediction = segmenter.segment(frame, probabilities=True)
    else:
        prediction = segmenter.segment(frame, probabilities=True)
    probs = np.asarray(prediction.probabilities, dtype=np.float32)
    confidence = prediction.confidence if getattr(prediction, "confidence", None) is not None else probs.max(axis=0)
    p = np.clip(probs, 1e-8, 1.0)
    entropy = np.clip(-(p * np.log(p)).sum(axis=0) / np.log(p.shape[0]), 0.0, 1.0)
    return np.asarray(prediction.labels), np.asarray(confidence, dtype=np.float32), entropy


def _cancel_check(cancel) -> Callable[[], bool]:
    """``cancel`` may be a callable or a ``threading.Event`` (what the UI's BackgroundCall passes)."""
    if cancel is None:
        return lambda: False
    is_set = getattr(cancel, "is_set", None)
    return is_set if callable(is_set) else cancel


def _frame_runs(labelled: Sequence[int], warmup: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) ranges covering each labelled frame and ``warmup`` frames before it."""
    runs: list[list[int]] = []
    for i in labelled:
        start = max(0, i - warmup)
        if runs and start <= runs[-1][1]:
            runs[-1][1] = i + 1
        else:
            runs.append([start, i + 1])
    return [(a, b) for a, b in runs]


def _read_run(source, start: int, stop: int) -> Iterable[tuple[int, np.ndarray]]:
    """Sequential frames of [start, stop); one seek per run instead of one per frame."""
    try:
        for index, frame in source.frames(start, stop):
            if index >= stop:
                return
            yield index, frame
    except TypeError:  # a source without the fast path
        for index in range(start, stop):
            yield index, source.read(index)


def _shape_problem(source, index: int, frame: np.ndarray, labels: np.ndarray, truth) -> str | None:
    name = source.frame_name(index)
    if truth is None:
        return f"{name}: truth could not be read"
    if labels.shape != truth.shape:
        return f"{name}: truth is {truth.shape[1]}x{truth.shape[0]}, prediction {labels.shape[1]}x{labels.shape[0]}"
    return None


def _frame_matrix(labels: np.ndarray, truth: np.ndarray, ignore_index: int | None = VOID_INDEX) -> np.ndarray:
    n = NUM_CLASSES
    t = truth.reshape(-1).astype(np.int64)
    p = labels.reshape(-1).astype(np.int64)
    valid = (t < n) & (p < n)
    if ignore_index is not None:
        valid &= t != ignore_index
    return np.bincount(n * t[valid] + p[valid], minlength=n * n).reshape(n, n)


# ---------------------------------------------------------------------------------------------
# Aggregations and tables


def pooled_scores(evaluation: SourceEvaluation) -> SegmentationScores:
    """Pooled over the source: IoU from ONE confusion matrix summed over all frames (= ``eval``)."""
    total = evaluation.matrices.sum(axis=0) if len(evaluation) else np.zeros((NUM_CLASSES,) * 2, np.int64)
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
        )
        for k, s in enumerate(evaluation.frame_scores)
    ]


def worst_frames(rows: Sequence[FrameRow], *, by: str | int = "mean_iou", count: int | None = None) -> list[FrameRow]:
    """Rows sorted worst first by ``"mean_iou"``, ``"pixel_accuracy"`` or a class (index or name).

    Frames where that figure is n/a are left out.
    """
    if isinstance(by, str) and by not in ("mean_iou", "pixel_accuracy"):
        by = CLASS_NAMES.index(by)

    def value(row: FrameRow) -> float | None:
        return row.iou[by] if isinstance(by, int) else getattr(row, by)

    scored = [r for r in rows if value(r) is not None]
    scored.sort(key=lambda r: (value(r), r.index))
    return scored[:count] if count is not None else scored


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
    matrix: np.ndarray, *, class_names: Sequence[str] = CLASS_NAMES, ignore_index: int | None = VOID_INDEX, top: int = 5
) -> list[ConfusedPair]:
    """Off-diagonal cells of the row-normalised matrix, largest first."""
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


# ---------------------------------------------------------------------------------------------
# Exports


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
