"""Whole-source evaluation: per-frame confusion matrices and flicker of one model on a source.

Headless (numpy + OpenCV; no Qt, no torch): the analysis dock, ``export`` and the
benchmarks drive the same functions. A *segmenter* is anything with
``.segment(frame_bgr, probabilities=False) -> prediction`` whose prediction has
``.labels`` (HxW uint8) and, when asked, ``.probabilities`` (C,H,W float32).
Aggregations of the result are in :mod:`~camvid_viewer.analysis.summaries`, its files in
:mod:`~camvid_viewer.analysis.reports`, flicker in :mod:`~camvid_viewer.analysis.temporal`
and the cache in :mod:`~camvid_viewer.analysis.cache`.

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

__all__ = ["AnalysisError", "SourceEvaluation", "evaluate_source", "evaluate_path"]

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from camvid_viewer.analysis.cache import (
    cache_key,
    default_cache_dir,
    model_name,
    read_cache,
    write_cache,
)
from camvid_viewer.analysis.temporal import (
    label_change_rate,
    motion_flow,
)
from model.class_mapping import scored_classes, scored_labels
from model.classes import LabelSet
from model.metrics import SegmentationScores, scores_from_matrix


class AnalysisError(Exception):
    """A source or cache that cannot be analysed; the message names the file."""


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
    class_names: tuple[str, ...]  # the model's classes (its label set): matrices are C x C
    ignore_index: int | None  # the void class, not scored
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


def evaluate_source(
    source,
    truth_index,
    segmenter,
    *,
    label_set: LabelSet | None = None,
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
        label_set: the classes scored (default: the segmenter's, else the truth's).
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
    classes = label_set or scored_classes(segmenter, truth_index)  # a mapping's target, else the model's own
    if classes is None:
        raise AnalysisError(f"{model_name(segmenter)}: the model names no classes (its card has no classes and palette)")
    key = cache_key(segmenter, source, labelled, truth_index) if use_cache else None
    cache_file = Path(cache_dir or default_cache_dir()) / f"{key}.npz" if key else None
    cached = read_cache(cache_file, key) if cache_file is not None else None
    if cached is not None and cached["class_names"] == classes.names:
        if progress:
            progress(len(labelled), len(labelled))
        return SourceEvaluation(source_path=str(source.path), model_name=model_name(segmenter), from_cache=True, **cached)

    rows = _FrameRows(classes)
    complete = _score_frames(source, truth_index, segmenter, labelled, rows, progress=progress, cancelled=_cancel_check(cancel))
    evaluation = rows.evaluation(source_path=str(source.path), model_name=model_name(segmenter), complete=complete)
    if complete and cache_file is not None:
        write_cache(cache_file, key, evaluation)
    return evaluation


class _FrameRows:
    """The per-frame rows of an evaluation as frames are scored: matrix, flicker, truth change."""

    def __init__(self, label_set: LabelSet) -> None:
        self.label_set = label_set
        self.indices: list[int] = []
        self.names: list[str] = []
        self.matrices: list[np.ndarray] = []
        self.changes: dict[str, list[float]] = {k: [] for k in ("flicker", "flicker_compensated", "truth_change", "truth_change_compensated")}
        self.skipped: list[str] = []  # one line per labelled frame that could not be scored
        self._previous_truth: tuple[int, np.ndarray, np.ndarray] | None = None  # index, labels, frame

    def add(self, index: int, name: str, frame: np.ndarray, labels: np.ndarray, truth: np.ndarray, previous) -> None:
        """Score labelled frame ``index``; ``previous``: (index, labels, frame) read just before it, or None."""
        self.indices.append(index)
        self.names.append(name)
        self.matrices.append(_frame_matrix(labels, truth, self.label_set))
        fl = flc = tc = tcc = math.nan
        flow = None
        if previous is not None and previous[0] == index - 1 and previous[1].shape == labels.shape:
            flow = motion_flow(previous[2], frame)
            fl = label_change_rate(previous[1], labels)
            flc = label_change_rate(previous[1], labels, flow=flow)
        before = self._previous_truth
        if before is not None and before[0] == index - 1 and before[1].shape == truth.shape:
            if flow is None:  # same frame pair as above: one flow serves both
                flow = motion_flow(before[2], frame)
            void = self.label_set.void_index
            tc = label_change_rate(before[1], truth, ignore_index=void)
            tcc = label_change_rate(before[1], truth, flow=flow, ignore_index=void)
        for column, value in zip(self.changes.values(), (fl, flc, tc, tcc), strict=True):
            column.append(value)
        self._previous_truth = (index, truth, frame)

    def evaluation(self, *, source_path: str, model_name: str, complete: bool) -> SourceEvaluation:
        n, c = len(self.indices), self.label_set.count
        return SourceEvaluation(
            source_path=source_path,
            model_name=model_name,
            indices=np.asarray(self.indices, dtype=np.int64),
            names=tuple(self.names),
            matrices=np.asarray(self.matrices, dtype=np.int64).reshape(n, c, c),
            **{k: np.asarray(v, dtype=np.float64) for k, v in self.changes.items()},
            class_names=self.label_set.names,
            ignore_index=self.label_set.void_index,
            complete=complete,
            skipped=tuple(self.skipped),
        )


def _score_frames(source, truth_index, segmenter, labelled: list[int], rows: _FrameRows, *, progress, cancelled) -> bool:
    """Segment the runs of frames that lead up to each labelled frame; score the labelled ones
    into ``rows``. False when cancelled part way."""
    runs = _frame_runs(labelled, max(1, int(getattr(segmenter, "warmup_frames", 1))))
    total = sum(stop - start for start, stop in runs)
    wanted = set(labelled)
    done = 0
    for start, stop in runs:
        reset = getattr(segmenter, "reset", None)
        if callable(reset):
            reset()  # a run starts after a gap: a temporal model must not carry old frames over
        previous: tuple[int, np.ndarray, np.ndarray] | None = None  # index, labels, frame
        for index, frame in _read_run(source, start, stop):
            if cancelled():
                return False
            labels = np.asarray(scored_labels(segmenter, segmenter.segment(frame).labels))
            if index in wanted:
                truth, problem = _read_truth(source, truth_index, index, frame, labels)
                if problem:
                    rows.skipped.append(problem)
                else:
                    rows.add(index, str(source.frame_name(index)), frame, labels, truth, previous)
            previous = (index, labels, frame)
            done += 1
            if progress:
                progress(done, total)
    return True


def _read_truth(source, truth_index, index: int, frame: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """(truth, None), or (anything, the one-line reason the frame cannot be scored)."""
    try:
        truth = truth_index.read(index)
    except Exception as exc:  # noqa: BLE001 - a bad label file skips its frame, named
        return None, " ".join(str(exc).split()) or f"{source.frame_name(index)}: unreadable truth"
    return truth, _shape_problem(source, index, frame, labels, truth)


def evaluate_path(
    path: str,
    truth_index,
    segmenter,
    *,
    label_set: LabelSet | None = None,
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
        return evaluate_source(source, truth_index, segmenter, label_set=label_set, progress=progress,
                               cancel=cancel, cache_dir=cache_dir, use_cache=use_cache)


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


def _frame_matrix(labels: np.ndarray, truth: np.ndarray, label_set: LabelSet) -> np.ndarray:
    n, ignore_index = label_set.count, label_set.void_index
    t = truth.reshape(-1).astype(np.int64)
    p = labels.reshape(-1).astype(np.int64)
    valid = (t < n) & (p < n)
    if ignore_index is not None:
        valid &= t != ignore_index
    return np.bincount(n * t[valid] + p[valid], minlength=n * n).reshape(n, n)


