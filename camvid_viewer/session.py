"""The viewer's playback/session state: one plain object that every view subscribes to.

No widgets and no Qt here (napari's ``Dims`` to ``QtDims``): the window changes
the session, the session announces what changed through small :class:`Event`
emitters, and the views redraw. Pure helpers (index arithmetic, pacing, time
formatting) are keyword-only functions, unit-tested without a ``QApplication``.
"""

from __future__ import annotations

__all__ = [
    "Event",
    "FrameResult",
    "ViewerSession",
    "NO_CLASSES",
    "VIEWS",
    "MODES",
    "SPEEDS",
    "clamp_index",
    "step_index",
    "next_playback_index",
    "frame_interval",
    "format_time",
    "format_speed",
    "format_score",
]

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from model.class_mapping import scored_classes
from model.classes import LabelSet, label_set_of
from model.metrics import ConfusionMatrix, SegmentationScores, scores_from_matrix
from model.signals import DEFAULT_LOW_CONFIDENCE, FrameSignals, SignalTotals

#: View names, in menu order, as ``camvid_viewer.rendering.views.render_view`` spells them.
VIEWS: tuple[str, ...] = ("overlay", "side-by-side", "mask", "error")
#: "realtime" drops frames the model cannot keep up with; "every-frame" waits for it.
MODES: tuple[str, ...] = ("realtime", "every-frame")
#: Playback speeds; ``None`` means "as fast as the model goes".
SPEEDS: tuple[float | None, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, None)
#: What is shown with neither a model nor truth: no classes.
NO_CLASSES = LabelSet((), ())


class Event:
    """A tiny observer list: ``connect(callback)``, ``disconnect(callback)``, ``emit(*args)``."""

    def __init__(self) -> None:
        self._callbacks: list[Callable] = []

    def connect(self, callback: Callable) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args) -> None:
        for callback in list(self._callbacks):
            callback(*args)


@dataclass
class FrameResult:
    """One frame as the inference worker hands it to the window."""

    index: int
    frame: np.ndarray  # BGR uint8
    labels: np.ndarray | None  # HxW uint8 prediction, None without a model
    truth: np.ndarray | None = None  # HxW uint8, None where the frame has no annotation
    frame_matrix: np.ndarray | None = None  # this frame's confusion matrix when truth exists
    model_ms: float | None = None
    time_s: float = 0.0
    generation: int = 0  # which source/model/run produced it; stale results are ignored
    note: str | None = None  # a problem worth showing (e.g. truth of the wrong size)
    confidence: np.ndarray | None = None  # HxW winning-class probability, when signals were asked for
    signals: FrameSignals | None = None  # shares, confidence, flicker: what the model says without truth
    second: object | None = None  # model B's labels and frame matrix while comparing (analysis.compare.SecondResult)


@dataclass
class _Events:
    source: Event = field(default_factory=Event)  # source opened/closed
    index: Event = field(default_factory=Event)  # current index changed (slider/counter)
    result: Event = field(default_factory=Event)  # a new FrameResult is current
    display: Event = field(default_factory=Event)  # view, opacity, hidden classes, legend
    playback: Event = field(default_factory=Event)  # playing, speed, loop, mode
    metrics: Event = field(default_factory=Event)  # frame or running scores changed
    dropped: Event = field(default_factory=Event)  # dropped-frame count changed
    model: Event = field(default_factory=Event)  # model loaded / removed
    truth: Event = field(default_factory=Event)  # annotation index changed


class ViewerSession:
    """Everything the window shows, in one place.

    Attributes are read freely; change them through the setters so views hear about it.
    ``source`` is a ``camvid_viewer.sources.FrameSource`` and ``truth`` a ``TruthIndex``;
    ``model`` is whatever the inference worker uses (the window never calls it).
    """

    def __init__(self) -> None:
        self.events = _Events()
        self.source = None
        self.truth = None
        self.model = None
        self.model_path: str | None = None
        self.device_choice = "auto"
        self.backend_choice = "auto"
        self.precision_choice = "auto"  # asked for; what runs is ``model.precision``
        self.inference_choice = "fast"  # fast (plays in real time) or accurate (flip-averaged, larger)
        self.index = 0
        self.playing = False
        self.speed: float | None = 1.0
        self.loop = False
        self.mode = "realtime"
        self.view = "overlay"
        self.opacity = 0.5
        self.hidden: frozenset[int] = frozenset()
        self.legend = False
        self.result: FrameResult | None = None
        self.running = _running_matrix(NO_CLASSES)
        self.scored_indices: set[int] = set()
        self.dropped = 0
        self.generation = 0
        self.low_confidence = DEFAULT_LOW_CONFIDENCE  # threshold of the "low confidence" share
        self.motion_flicker = False  # flicker after motion compensation (optical flow), as the Analysis tools do
        self.signals: dict[int, FrameSignals] = {}  # the model's own signals of each frame played
        self.signal_totals = SignalTotals(0)  # pooled over those frames (running shares)

    # -- source -------------------------------------------------------------------------------
    @property
    def frame_count(self) -> int | None:
        return None if self.source is None else self.source.frame_count

    @property
    def fps(self) -> float:
        fps = getattr(self.source, "fps", 0.0) or 0.0
        return fps if fps > 0 else 30.0

    @property
    def label_set(self) -> LabelSet:
        """The classes shown and scored: the model's (its card), else the truth's, else none."""
        return label_set_of(self.model, self.truth) or NO_CLASSES

    @property
    def scored_set(self) -> LabelSet:
        """The classes scored (the metrics dock, the analysis): the model's mapping's target when it
        has one (a Cityscapes model scored as CamVid), else :attr:`label_set`."""
        return scored_classes(self.model, self.truth) or NO_CLASSES

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.label_set.names

    @property
    def palette_bgr(self) -> np.ndarray:
        return self.label_set.palette_bgr

    def set_source(self, source, truth=None) -> None:
        """Make ``source`` current (the caller closes the previous one); resets scores and index."""
        self.source = source
        self.truth = truth
        self.index = 0
        self.playing = False
        self.result = None
        self.dropped = 0
        self.generation += 1
        self._reset_running()
        self.events.source.emit()
        self.events.truth.emit()
        self.events.index.emit(self.index)
        self.events.playback.emit()
        self.events.dropped.emit(self.dropped)

    def set_truth(self, truth) -> None:
        self.truth = truth
        self.generation += 1
        self._reset_running()
        self.events.truth.emit()

    def set_model(self, model, path: str | None = None) -> None:
        self.model = model
        self.model_path = path
        self.generation += 1
        self._reset_running()
        self.events.model.emit()

    # -- position and playback ----------------------------------------------------------------
    def set_index(self, index: int) -> None:
        index = clamp_index(index, frame_count=self.frame_count)
        if index != self.index:
            self.index = index
            self.events.index.emit(index)

    def set_playing(self, playing: bool) -> None:
        if playing != self.playing:
            self.playing = playing
            self.events.playback.emit()

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        self.events.playback.emit()

    def set_loop(self, loop: bool) -> None:
        self.loop = bool(loop)
        self.events.playback.emit()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown playback mode {mode!r} (expected one of {', '.join(MODES)})")
        self.mode = mode
        self.events.playback.emit()

    # -- display ------------------------------------------------------------------------------
    def set_view(self, view: str) -> None:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r} (expected one of {', '.join(VIEWS)})")
        self.view = view
        self.events.display.emit()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = min(1.0, max(0.0, float(opacity)))
        self.events.display.emit()

    def set_class_hidden(self, class_index: int, hidden: bool) -> None:
        self.hidden = self.hidden | {class_index} if hidden else self.hidden - {class_index}
        self.events.display.emit()

    def set_legend(self, legend: bool) -> None:
        self.legend = bool(legend)
        self.events.display.emit()

    # -- results and scores -------------------------------------------------------------------
    def accept_result(self, result: FrameResult) -> bool:
        """Make ``result`` current unless it is stale; score it once per frame index."""
        if result.generation != self.generation:
            return False
        self.result = result
        if result.index != self.index:
            self.index = result.index
            self.events.index.emit(self.index)
        matrix = result.frame_matrix
        if matrix is not None and matrix.shape == self.running.matrix.shape and result.index not in self.scored_indices:
            self.scored_indices.add(result.index)
            self.running.add_matrix(matrix)
        signals = result.signals
        if signals is not None and len(signals.class_pixels) == self.signal_totals.class_count:
            if result.index not in self.signals:
                self.signal_totals.add(signals)
            self.signals[result.index] = signals
        self.events.result.emit(result)
        self.events.metrics.emit()
        return True

    @property
    def shows_named_frame(self) -> bool:
        """The result on screen is frame ``index``, made by the current model, source and truth."""
        result = self.result
        return result is not None and result.index == self.index and result.generation == self.generation

    @property
    def frame_scores(self) -> SegmentationScores | None:
        """Scores of the current frame, or ``None`` when it has no truth."""
        if self.result is None or self.result.frame_matrix is None or self.result.frame_matrix.shape != self.running.matrix.shape:
            return None  # (a result scored in the classes of a model since replaced is not shown)
        return scores_from_matrix(self.result.frame_matrix, self.running.class_names, self.running.ignore_index)

    @property
    def running_scores(self) -> SegmentationScores | None:
        """Pooled scores of every frame scored so far (one accumulated matrix)."""
        if not self.scored_indices:
            return None
        return self.running.compute()

    def reset_running(self) -> None:
        self._reset_running()
        self.events.metrics.emit()

    def _reset_running(self) -> None:
        self.running = _running_matrix(self.scored_set)  # the model or truth may have other classes now
        self.scored_indices.clear()
        self._reset_signals()

    def _reset_signals(self) -> None:
        self.signals = {}
        self.signal_totals = SignalTotals(self.scored_set.count)

    def set_low_confidence(self, threshold: float) -> None:
        """The "low confidence" threshold; the signals gathered so far used the old one, so they go
        (the running IoU/Dice stay)."""
        self.low_confidence = min(0.99, max(0.01, float(threshold)))
        self.generation += 1  # results on their way were measured with the old threshold
        self._reset_signals()
        self.events.metrics.emit()

    def set_motion_flicker(self, on: bool) -> None:
        """Flicker measured after motion compensation (or not); the signals so far used the other way."""
        self.motion_flicker = bool(on)
        self.generation += 1
        self._reset_signals()
        self.events.metrics.emit()

    def set_dropped(self, dropped: int) -> None:
        self.dropped = int(dropped)
        self.events.dropped.emit(self.dropped)


def _running_matrix(label_set: LabelSet) -> ConfusionMatrix:
    return ConfusionMatrix(label_set.count, ignore_index=label_set.void_index, class_names=label_set.names)


# -- pure helpers ----------------------------------------------------------------------------
def clamp_index(index: int, *, frame_count: int | None) -> int:
    """``index`` limited to the frames that exist (no upper bound for live streams)."""
    index = max(0, int(index))
    if frame_count is not None and frame_count > 0:
        index = min(index, frame_count - 1)
    return index


def step_index(index: int, delta: int, *, frame_count: int | None) -> int:
    """The index ``delta`` frames away, clamped (stepping never wraps)."""
    return clamp_index(index + delta, frame_count=frame_count)


def next_playback_index(index: int, *, frame_count: int | None, loop: bool) -> int | None:
    """The frame after ``index`` during playback; ``None`` at the end unless looping."""
    if frame_count is None:
        return index + 1
    if index + 1 < frame_count:
        return index + 1
    return 0 if loop and frame_count > 0 else None


def frame_interval(*, fps: float, speed: float | None) -> float | None:
    """Seconds between displayed frames; ``None`` for "as fast as the model goes"."""
    if speed is None or speed <= 0:
        return None
    fps = fps if fps and fps > 0 else 30.0
    return 1.0 / (fps * speed)


def format_time(seconds: float) -> str:
    """``m:ss.ss`` (``h:mm:ss.ss`` past an hour)."""
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 1:
        return f"{int(hours)}:{int(minutes):02d}:{secs:05.2f}"
    return f"{int(minutes)}:{secs:05.2f}"


def format_speed(speed: float | None) -> str:
    if speed is None:
        return "As fast as the model goes"
    return f"{speed:g}x"


def format_score(value: float | None) -> str:
    """A score as a percentage with two decimals (as ``python main.py eval`` prints it), or ``n/a``."""
    return "n/a" if value is None else f"{100 * value:.2f}%"
