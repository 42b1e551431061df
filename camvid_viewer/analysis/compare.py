"""Two models in the window: model B's result per frame, its running scores, and B - A.

Qt-free. The window's model becomes a ``model.pair.SegmenterPair`` (A's classes everywhere as
before); :func:`second_model_result` turns B's half of each prediction into a
:class:`SecondResult` on the frame's ``FrameResult``, and :class:`ComparisonState` pools B's
frame matrices over the frames the session scores, as the session pools A's, so the compare
dock shows A, B and B - A per class for the frame and running, and the frames B lost or won most.
"""

from __future__ import annotations

__all__ = ["COMPARE_VIEWS", "ClassDifference", "ComparisonState", "FrameDifference", "SecondResult",
           "class_differences", "second_model_result"]

from dataclasses import dataclass

import numpy as np

from camvid_viewer.session import Event
from model.class_mapping import scored_classes, scored_labels
from model.classes import LabelSet, label_set_of
from model.metrics import ConfusionMatrix, SegmentationScores, scores_from_matrix

#: The window's two comparison views: each model's picture side by side, or where they differ.
COMPARE_VIEWS = ("a-b", "difference")


@dataclass
class SecondResult:
    """Model B on one frame (the same decoded frame A ran on)."""

    labels: np.ndarray  # HxW uint8, in B's classes (drawn in B's colours)
    label_set: LabelSet  # B's classes (its card's; the truth's when it names none)
    scored: np.ndarray  # the labels in the classes B is scored in (its class mapping's, else its own)
    scored_set: LabelSet  # those classes
    frame_matrix: np.ndarray | None = None  # B's confusion matrix of this frame (scored classes), when it has truth


def second_model_result(prediction, model, truth_labels: np.ndarray | None) -> SecondResult | None:
    """B's half of a pair's prediction, scored against ``truth_labels`` in B's classes;
    ``None`` when ``prediction`` is one model's."""
    second = getattr(prediction, "second", None)
    if second is None:
        return None
    b_model = getattr(model, "second", None)
    a_model = getattr(model, "first", model)
    classes = label_set_of(b_model, a_model)
    scored_set = scored_classes(b_model) or classes
    scored = scored_labels(b_model, second.labels)
    matrix = None
    if truth_labels is not None and scored_set is not None:
        matrix = _matrix(scored_set).matrix_of(scored, truth_labels)
    return SecondResult(labels=second.labels, label_set=classes, scored=scored, scored_set=scored_set, frame_matrix=matrix)


def _matrix(classes: LabelSet) -> ConfusionMatrix:
    return ConfusionMatrix(classes.count, ignore_index=classes.void_index, class_names=classes.names)


@dataclass(frozen=True)
class ClassDifference:
    """One class's IoU for A, for B, and B - A (``None``: n/a for either)."""

    name: str
    a: float | None
    b: float | None

    @property
    def difference(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


def class_differences(a: SegmentationScores | None, b: SegmentationScores | None) -> list[ClassDifference]:
    """Per class of A (void left out), by name: A's IoU, B's IoU of the class of that name."""
    if a is None:
        return []
    b_iou = dict(zip(b.class_names, b.iou, strict=True)) if b is not None else {}
    return [ClassDifference(name, iou, b_iou.get(name)) for name, iou in zip(a.class_names, a.iou, strict=True)]


@dataclass(frozen=True)
class FrameDifference:
    """A scored frame's mIoU under A and under B."""

    index: int
    a: float | None
    b: float | None

    @property
    def difference(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


class ComparisonState:
    """What the window compares: model B, the view, and B's scores pooled over the frames
    the session scored (each frame once, as the session pools A's).

    ``events.changed`` fires when B, the view or the scores change.
    """

    def __init__(self) -> None:
        self.second = None  # model B (a Segmenter), None while not comparing
        self.second_path: str | None = None
        self.view = "a-b"
        self.frames: dict[int, FrameDifference] = {}
        self.running: ConfusionMatrix | None = None
        self.changed = Event()

    @property
    def active(self) -> bool:
        return self.second is not None

    @property
    def name(self) -> str:
        return str(getattr(self.second, "name", "B"))

    def set_second(self, model, path: str | None) -> None:
        self.second, self.second_path = model, path
        self.reset()

    def set_view(self, view: str) -> None:
        if view not in COMPARE_VIEWS:
            raise ValueError(f"unknown compare view {view!r} (expected one of {', '.join(COMPARE_VIEWS)})")
        self.view = view
        self.changed.emit()

    def reset(self) -> None:
        self.frames = {}
        self.running = None
        self.changed.emit()

    def accept(self, result, session) -> None:
        """Pool B's matrix of ``result`` when the session has just scored that frame for A."""
        second = getattr(result, "second", None)
        if len(session.scored_indices) < len(self.frames):
            self.reset()  # the session's running figures were reset: start again with them
        if second is None or second.frame_matrix is None or result.index in self.frames:
            return
        if result.index not in session.scored_indices or second.scored_set is None:
            return
        if self.running is None or self.running.matrix.shape != second.frame_matrix.shape:
            self.running = _matrix(second.scored_set)
        self.running.add_matrix(second.frame_matrix)
        a = session.frame_scores
        b = self.frame_scores(result)
        self.frames[result.index] = FrameDifference(result.index, a.mean_iou if a else None, b.mean_iou if b else None)
        self.changed.emit()

    @staticmethod
    def frame_scores(result) -> SegmentationScores | None:
        """B's scores of one frame, or ``None`` without truth."""
        second = getattr(result, "second", None)
        if second is None or second.frame_matrix is None:
            return None
        c = second.scored_set
        return scores_from_matrix(second.frame_matrix, c.names, c.void_index)

    @property
    def running_scores(self) -> SegmentationScores | None:
        return None if self.running is None or not self.frames else self.running.compute()

    def ranked(self, by: str = "drop") -> list[FrameDifference]:
        """Scored frames by B - A: the largest drop first (``drop``) or the largest gain (``gain``)."""
        if by not in ("drop", "gain"):
            raise ValueError(f"rank by 'drop' or 'gain', got {by!r}")
        rows = [f for f in self.frames.values() if f.difference is not None]
        return sorted(rows, key=lambda f: (f.difference if by == "drop" else -f.difference, f.index))
