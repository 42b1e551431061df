"""``export --compare B``: each frame drawn as model A | model B, both from the same decoded frame.

The export job hands its segmenter over as a ``model.pair.SegmenterPair``; each of its
predictions carries B's labels beside A's. Each panel is the export's view drawn in that
model's own classes and colours, named in its corner, with its own burned-in scores; A's
scores feed the CSV as without ``--compare``, B's are pooled here for the summary.
"""

from __future__ import annotations

__all__ = ["ComparedFrames", "compared_frames"]

import numpy as np

from camvid_viewer.rendering import draw_metrics_text, render_view
from camvid_viewer.rendering.compare_views import a_b_view
from camvid_viewer.rendering.mapped import labels_for_view
from model.class_mapping import scored_classes, scored_labels
from model.classes import label_set_of
from model.metrics import ConfusionMatrix, scores_from_matrix
from model.pair import second_of


class ComparedFrames:
    """B's classes, B's pooled matrix and the A | B drawing of one export."""

    def __init__(self, first, second, truth) -> None:
        self.second = second
        self.names = (str(getattr(first, "name", "A")), str(getattr(second, "name", "B")))
        self.classes = label_set_of(second, truth)
        if self.classes is None:
            raise ValueError(f"{self.names[1]}: the model names no classes (no label set)")
        self.scored = scored_classes(second, truth) or self.classes  # a class mapping's target, as for A
        self.same_classes = label_set_of(first, truth) == self.classes  # else A's hidden classes mean nothing here
        c = self.scored
        self.cm = ConfusionMatrix(c.count, ignore_index=c.void_index, class_names=c.names)

    def draw(self, opt, frame: np.ndarray, first_image: np.ndarray, second_labels: np.ndarray,
             truth: np.ndarray | None) -> np.ndarray:
        """A's finished picture (``first_image``, its view, legend and scores) | B's, drawn alike."""
        hidden = opt.hidden if self.same_classes else frozenset()
        drawn, c, hidden = labels_for_view(opt.view, self.second, second_labels, self.classes, hidden=hidden)
        right = render_view(opt.view, frame, drawn, truth, palette_bgr=c.palette_bgr, opacity=opt.opacity,
                            hidden=hidden, legend=opt.legend, class_names=c.names, void_index=c.void_index)
        if truth is not None:
            s = self.scored
            scores = scores_from_matrix(self.cm.update(scored_labels(self.second, second_labels), truth), s.names, s.void_index)
            if opt.metrics_text:
                right = draw_metrics_text(right, mean_iou=scores.mean_iou, pixel_accuracy=scores.pixel_accuracy)
        return a_b_view(first_image, right, names=self.names)

    def note(self, size: tuple[int, int]) -> str:
        """The summary's line for the comparison: the video's size and B's pooled scores."""
        line = f"A | B: A = {self.names[0]}, B = {self.names[1]}; the video is {size[0]}x{size[1]}"
        if self.cm.matrix.any():
            s = self.cm.compute()
            line += f"; B over the labelled frames: mIoU {_pct(s.mean_iou)}, pixel accuracy {_pct(s.pixel_accuracy)}"
        return line


def compared_frames(segmenter, truth) -> ComparedFrames | None:
    """The A | B drawing when ``segmenter`` is a pair of models, else ``None``."""
    second = second_of(segmenter)
    return None if second is None else ComparedFrames(segmenter.first, second, truth)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"
