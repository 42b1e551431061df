"""Whole-source evaluation: per-frame confusion matrices, both aggregations, flicker, smoothing.

Headless (numpy + OpenCV; no Qt, no torch): the analysis dock, ``export`` and the
benchmarks drive the same functions. A *segmenter* is anything with
``.segment(frame_bgr, probabilities=False) -> prediction`` whose prediction has
``.labels`` (HxW uint8) and, when asked, ``.probabilities`` (C,H,W float32).

Two aggregations, never to be confused:

* **pooled** (:func:`pooled_scores`): one confusion matrix summed over every frame,
  then IoU per class. The CamVid convention, and what ``python main.py eval`` prints.
* **mean of frames** (:func:`mean_of_frames`): IoU computed per frame, then averaged
  over frames (a frame where a class is n/a does not count for that class).

Example::

    from camvid_viewer.media import open_source, find_annotations, TruthIndex
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
import dataclasses
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from model.classes import CLASS_NAMES, NUM_CLASSES, VOID_INDEX
from model.metrics import SegmentationScores, scores_from_matrix

CACHE_VERSION = 1  # bump when the cached arrays change meaning
_FLOW_SCALE = 0.25  # optical flow runs on frames scaled by this (480x360 -> 120x90)


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
        source: a ``camvid_viewer.media.FrameSource`` (``read``, ``frames``, ``frame_name``,
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
        cached = _load_cache(cache_file, key)
        if cached is not None:
            cached.source_path, cached.model_name = str(source.path), _model_name(segmenter)
            if progress:
                progress(len(labelled), len(labelled))
            return cached

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
        model_name=_model_name(segmenter),
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
        _save_cache(cache_file, key, evaluation)
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
    from camvid_viewer.media import open_source

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
# Cache: one .npz per (model, source, frames); never unpickled


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/camvid-viewer/analysis`` (default ``~/.cache/camvid-viewer/analysis``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "camvid-viewer" / "analysis"


def model_identity(segmenter) -> dict:
    """What decides a model's output: checkpoint hash when known, else its name and card."""
    own = getattr(segmenter, "analysis_identity", None)
    if callable(own):
        return own()
    identity: dict = {"name": _model_name(segmenter), "working_height": getattr(segmenter, "working_height", None)}
    path = getattr(segmenter, "checkpoint_path", None) or getattr(segmenter, "path", None)
    if path and Path(path).is_file():
        identity["sha256"] = _file_sha256(Path(path))
    else:
        identity["card"] = json.dumps(getattr(segmenter, "card", None), sort_keys=True, default=str)
    return identity


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _model_name(segmenter) -> str:
    return str(getattr(segmenter, "name", type(segmenter).__name__))


def _path_stamp(path: Path) -> list:
    """Path, size and mtime of a file, or of every file directly in a folder."""
    if path.is_dir():
        entries = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(path) if e.is_file())
        return [str(path.resolve()), entries]
    if path.exists():
        st = path.stat()
        return [str(path.resolve()), st.st_size, st.st_mtime_ns]
    return [str(path)]


def cache_key(segmenter, source, frames: Sequence[int], truth_index=None) -> str:
    """Hex digest naming the cache file of (model, source file(s), truth files, frame list)."""
    truth_dir = None
    for attr in ("annotations_dir", "directory", "root", "path"):
        value = getattr(truth_index, attr, None)
        if value:
            truth_dir = Path(value)
            break
    payload = {
        "version": CACHE_VERSION,
        "model": model_identity(segmenter),
        "source": _path_stamp(Path(str(source.path))),
        "truth": _path_stamp(truth_dir) if truth_dir else None,
        "frames": [int(i) for i in frames],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


_CACHE_ARRAYS = ("indices", "matrices", "flicker", "flicker_compensated", "truth_change", "truth_change_compensated")


def _save_cache(path: Path, key: str, ev: SourceEvaluation) -> None:
    arrays = {name: getattr(ev, name) for name in _CACHE_ARRAYS}
    try:
        with _atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                key=np.array(key),
                names=np.array(ev.names, dtype=str),
                class_names=np.array(ev.class_names, dtype=str),
                ignore_index=np.array(-1 if ev.ignore_index is None else ev.ignore_index, dtype=np.int64),
                skipped=np.array(ev.skipped, dtype=str),
                **arrays,
            )
    except OSError:
        pass  # a read-only cache folder costs a re-run next time, nothing else


def _load_cache(path: Path, key: str) -> SourceEvaluation | None:
    """The cached evaluation, or None when absent, corrupt or for another key (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            arrays = {name: np.array(data[name]) for name in _CACHE_ARRAYS}
            names = tuple(str(s) for s in data["names"])
            class_names = tuple(str(s) for s in data["class_names"])
            ignore = int(data["ignore_index"])
            skipped = tuple(str(s) for s in data["skipped"])
        n = len(arrays["indices"])
        if arrays["matrices"].shape != (n, NUM_CLASSES, NUM_CLASSES) or len(names) != n:
            return None
        if any(arrays[k].shape != (n,) for k in _CACHE_ARRAYS if k not in ("indices", "matrices")):
            return None
    except Exception:  # noqa: BLE001 - any unreadable cache is simply rebuilt
        return None
    return SourceEvaluation(
        source_path="",
        model_name="",
        indices=arrays["indices"].astype(np.int64),
        names=names,
        matrices=arrays["matrices"].astype(np.int64),
        flicker=arrays["flicker"].astype(np.float64),
        flicker_compensated=arrays["flicker_compensated"].astype(np.float64),
        truth_change=arrays["truth_change"].astype(np.float64),
        truth_change_compensated=arrays["truth_change_compensated"].astype(np.float64),
        class_names=class_names,
        ignore_index=None if ignore < 0 else ignore,
        from_cache=True,
        skipped=skipped,
    )


@contextmanager
def _atomic_path(path: str | Path):
    """A temp path beside ``path``, renamed into place only if the block succeeds.

    Same as ``model.checkpoint.atomic_write``, which this module cannot import (it loads torch).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    with _atomic_path(path) as tmp:
        tmp.write_text(json.dumps(summary_json(evaluation), indent=2) + "\n")
    return path


def write_frame_csv(path: str | Path, evaluation: SourceEvaluation) -> Path:
    """Write the per-frame table as CSV (empty cell = n/a), atomically."""
    path = Path(path)
    classes = [(c, n) for c, n in enumerate(evaluation.class_names) if c != evaluation.ignore_index]

    def cell(v: float | None) -> str:
        return "" if v is None else f"{v:.6f}"

    with _atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
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


# ---------------------------------------------------------------------------------------------
# Flicker and motion


def motion_flow(previous: np.ndarray, frame: np.ndarray, *, scale: float = _FLOW_SCALE) -> np.ndarray:
    """Dense flow (H, W, 2) float32 at ``frame`` size: ``frame[y, x]`` came from ``previous[y + dy, x + dx]``.

    Farneback on grey frames downscaled by ``scale`` (camera motion is smooth; small frames are fast).
    """
    h, w = frame.shape[:2]
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    grey = [cv2.resize(_grey(im), size, interpolation=cv2.INTER_AREA) for im in (frame, previous)]
    flow = cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
    full = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    full[..., 0] *= w / size[0]
    full[..., 1] *= h / size[1]
    return full


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def _remap_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp_previous(previous: np.ndarray, flow: np.ndarray, *, nearest: bool = True, fill: float = 0) -> tuple[np.ndarray, np.ndarray]:
    """``previous`` moved onto the current frame by ``flow``; returns (warped, inside mask).

    Labels use nearest-neighbour sampling (never a blend of two class indices).
    """
    map_x, map_y = _remap_maps(flow)
    h, w = previous.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    warped = cv2.remap(previous, map_x, map_y, interp, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    return warped, inside


def label_change_rate(
    previous: np.ndarray, labels: np.ndarray, *, flow: np.ndarray | None = None, ignore_index: int | None = None
) -> float:
    """Share of pixels whose label differs from the previous frame's (optionally motion-compensated).

    Pixels whose flow points outside the previous frame, and pixels that are ``ignore_index``
    in either frame, are not compared. NaN when nothing is comparable.
    """
    if previous.shape != labels.shape:
        return math.nan
    valid = np.ones(labels.shape, dtype=bool)
    if flow is not None:
        previous, valid = warp_previous(previous, flow, nearest=True)
    if ignore_index is not None:
        valid &= (previous != ignore_index) & (labels != ignore_index)
    compared = int(valid.sum())
    if not compared:
        return math.nan
    return float(np.count_nonzero((previous != labels) & valid) / compared)


def sequence_flicker(
    labels: Sequence[np.ndarray], frames: Sequence[np.ndarray] | None = None, *, ignore_index: int | None = None
) -> np.ndarray:
    """Per-frame change rate of a label sequence (entry 0 is NaN); motion-compensated when frames are given."""
    out = np.full(len(labels), np.nan)
    for k in range(1, len(labels)):
        flow = motion_flow(frames[k - 1], frames[k]) if frames is not None else None
        out[k] = label_change_rate(labels[k - 1], labels[k], flow=flow, ignore_index=ignore_index)
    return out


# ---------------------------------------------------------------------------------------------
# Temporal smoothing


@dataclass
class _SmoothedPrediction:
    labels: np.ndarray
    probabilities: np.ndarray | None = None
    confidence: np.ndarray | None = None


@dataclass
class TemporalSmoother:
    """A segmenter whose class probabilities are an exponential average over consecutive frames.

    ``running = alpha * p_now + (1 - alpha) * warp(running)``; labels are its argmax. With
    ``flow`` the running average is first moved along the camera motion (Farneback), so
    static scenery does not smear. Call :meth:`reset` on a seek; :meth:`segment_at` does it
    for you when the frame index is not the next one. A change of frame size also resets.

    Args:
        segmenter: the wrapped model (``.segment(frame, probabilities=True)``).
        alpha: weight of the newest frame, 0 < alpha <= 1 (1 = no smoothing).
        flow: warp the running average by optical flow before blending.
        cut_threshold: mean absolute grey-level difference (0..255, on frames shrunk 8x)
            above which the new frame is taken as a cut or a seek and the average restarts;
            consecutive CamVid frames differ by 6 on average (12 at most), frames a second
            or more apart by over 20. ``None`` disables the check.
    """

    segmenter: object
    alpha: float = 0.5
    flow: bool = True
    cut_threshold: float | None = 20.0
    temporal: bool = field(default=True, init=False)  # evaluate_source feeds it warm-up frames
    _running: np.ndarray | None = field(default=None, init=False, repr=False)  # (H, W, C) float32
    _previous_frame: np.ndarray | None = field(default=None, init=False, repr=False)
    _previous_thumb: np.ndarray | None = field(default=None, init=False, repr=False)
    _last_index: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 1:
            raise ValueError(f"temporal smoothing alpha must be in (0, 1], got {self.alpha}")

    def __getattr__(self, name: str):
        # name, card, device, backend, class_names, palette_bgr... come from the wrapped model.
        if name.startswith("_") or name == "segmenter":
            raise AttributeError(name)
        return getattr(self.segmenter, name)

    @property
    def name(self) -> str:
        return f"{_model_name(self.segmenter)} + temporal smoothing (alpha {self.alpha:g}{', flow' if self.flow else ''})"

    @property
    def warmup_frames(self) -> int:
        """Frames after which the oldest frame weighs under 1% of the average."""
        if self.alpha >= 1:
            return 1
        return max(1, math.ceil(math.log(0.01) / math.log(1 - self.alpha)))

    def analysis_identity(self) -> dict:
        return {"smoothed": model_identity(self.segmenter), "alpha": self.alpha, "flow": self.flow, "cut": self.cut_threshold}

    def reset(self) -> None:
        """Forget the running average (seek, new source, scene cut)."""
        self._running = None
        self._previous_frame = None
        self._previous_thumb = None
        self._last_index = None

    def segment_at(self, index: int, frame: np.ndarray, *, probabilities: bool = False):
        """:meth:`segment` for frame ``index``; resets first unless it follows the last one."""
        if self._last_index is None or index != self._last_index + 1:
            self.reset()
        prediction = self.segment(frame, probabilities=probabilities)
        self._last_index = index
        return prediction

    def segment_batch(self, frames: Sequence[np.ndarray], *, probabilities: bool = False) -> list:
        return [self.segment(f, probabilities=probabilities) for f in frames]

    def segment(self, frame: np.ndarray, *, probabilities: bool = False):
        raw = self.segmenter.segment(frame, probabilities=True)
        p = np.asarray(raw.probabilities, dtype=np.float32).transpose(1, 2, 0)  # H, W, C
        running = self._running
        thumb = _thumbnail(frame) if self.cut_threshold is not None else None
        if running is not None and running.shape != p.shape:
            running = None  # new frame size: a discontinuity
        elif running is not None and thumb is not None and self._previous_thumb is not None:
            if float(np.abs(thumb - self._previous_thumb).mean()) > self.cut_threshold:
                running = None  # a cut or a seek: the old average shows another scene
        self._previous_thumb = thumb
        if running is None:
            running = p.copy()
        else:
            if self.flow and self._previous_frame is not None:
                running = _warp_probabilities(running, motion_flow(self._previous_frame, frame), fallback=p)
            running = self.alpha * p + (1 - self.alpha) * running
        self._running = running
        self._previous_frame = frame if self.flow else None
        self._last_index = None if self._last_index is None else self._last_index + 1
        labels = running.argmax(axis=2).astype(np.uint8)
        probs = np.ascontiguousarray(running.transpose(2, 0, 1)) if probabilities else None
        confidence = running.max(axis=2) if probabilities else None
        if dataclasses.is_dataclass(raw) and not isinstance(raw, type):
            try:
                return dataclasses.replace(raw, labels=labels, probabilities=probs, confidence=confidence)
            except TypeError:
                pass
        return _SmoothedPrediction(labels, probs, confidence)


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return cv2.resize(_grey(frame), (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA).astype(np.float32)


def _warp_probabilities(running: np.ndarray, flow: np.ndarray, *, fallback: np.ndarray) -> np.ndarray:
    """The running average moved by ``flow``; pixels coming from outside the frame take ``fallback``."""
    map_x, map_y = _remap_maps(flow)
    h, w = running.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    channels = [
        cv2.remap(np.ascontiguousarray(running[..., i : i + 4]), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        for i in range(0, running.shape[2], 4)
    ]
    warped = np.concatenate([c.reshape(h, w, -1) for c in channels], axis=2)
    return np.where(inside[..., None], warped, fallback)
