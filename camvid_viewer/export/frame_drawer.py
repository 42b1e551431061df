"""One exported frame: its view drawn, scored against its annotation, and the model's own signals.

Kept apart from the staged job (threads, temp files, commit) so that what a frame of the video
shows and what its CSV row says are decided in one place.
"""

from __future__ import annotations

__all__ = ["DrawnFrame", "FrameDrawer"]

from dataclasses import dataclass

import numpy as np

from camvid_viewer.export.compare_frames import compared_frames
from camvid_viewer.export.options import ExportError, ExportOptions
from camvid_viewer.rendering import draw_metrics_text, render_view
from camvid_viewer.rendering.mapped import labels_for_view
from model.class_mapping import scored_classes, scored_labels
from model.classes import label_set_of
from model.metrics import ConfusionMatrix, SegmentationScores, scores_from_matrix
from model.signals import FrameSignals, frame_signals


@dataclass
class DrawnFrame:
    image: np.ndarray  # what goes into the video
    scored: np.ndarray  # the labels in the scored classes (the masks, the CSV)
    scores: SegmentationScores | None  # running scores after this frame, when it has an annotation
    signals: FrameSignals | None  # when the frame came with its confidence map


class FrameDrawer:
    """Draws and scores the frames of one export in order (flicker compares each with the last)."""

    def __init__(self, segmenter, options: ExportOptions, truth) -> None:
        classes = label_set_of(segmenter, truth)  # the model's; the truth's if its card names none
        if classes is None:
            raise ExportError(f"{getattr(segmenter, 'name', 'the model')}: the model names no classes (no label set)")
        self.segmenter, self.options, self.classes = segmenter, options, classes
        # Scored (matrix, CSV, burned-in figures) in a mapping's classes when the model has one:
        self.scored = scored_classes(segmenter, truth) or classes
        self.cm = ConfusionMatrix(self.scored.count, ignore_index=self.scored.void_index, class_names=self.scored.names)
        self.compared = compared_frames(segmenter, truth)  # A | B panels when it is a pair of models
        self.previous: np.ndarray | None = None  # the last frame's scored labels; None after an unreadable one

    def skip(self) -> None:
        """An unreadable frame: the next frame's flicker has nothing to compare with."""
        self.previous = None

    def draw(self, frame: np.ndarray, labels: np.ndarray, truth: np.ndarray | None, *,
             second: np.ndarray | None = None, confidence: np.ndarray | None = None) -> DrawnFrame:
        opt = self.options
        drawn, classes, hidden = labels_for_view(opt.view, self.segmenter, labels, self.classes, hidden=opt.hidden)
        image = render_view(
            opt.view, frame, drawn, truth, palette_bgr=classes.palette_bgr, opacity=opt.opacity,
            hidden=hidden, legend=opt.legend, class_names=classes.names, void_index=classes.void_index,
        )
        scored, scores = scored_labels(self.segmenter, labels), None
        if truth is not None:
            scores = scores_from_matrix(self.cm.update(scored, truth), self.scored.names, self.scored.void_index)
            if opt.metrics_text:
                image = draw_metrics_text(image, mean_iou=scores.mean_iou, pixel_accuracy=scores.pixel_accuracy)
        if self.compared is not None:
            image = self.compared.draw(opt, frame, image, second, truth)
        signals = None
        if confidence is not None:
            signals = frame_signals(scored, confidence, self.scored.count, previous=self.previous)
        self.previous = scored
        return DrawnFrame(image, scored, scores, signals)
