"""One frame as the window shows it: segmented, and scored when its annotation exists."""

from __future__ import annotations

__all__ = ["MODEL_LOCK", "analyse_frame"]

import threading
import time

from camvid_viewer.messages import one_line
from camvid_viewer.session import FrameResult
from model.classes import label_set_of
from model.metrics import ConfusionMatrix

#: Serialises model calls: the still thread and a playback run may overlap briefly, and the
#: analysis dock's evaluation takes turns with playback on the same model.
MODEL_LOCK = threading.Lock()


def analyse_frame(frame, *, index: int, model, truth, time_s: float, generation: int) -> FrameResult:
    """Segment one frame and score it against its annotation when there is one, in the
    model's classes (else the truth's: ``label_set_of(model, truth)``, as the session shows)."""
    labels, model_ms = None, None
    if model is not None:
        start = time.perf_counter()
        with MODEL_LOCK:
            labels = model.segment(frame).labels
        model_ms = (time.perf_counter() - start) * 1000
    truth_labels, note, matrix = None, None, None
    if truth is not None and truth.has(index):
        try:
            truth_labels = truth.read(index)
        except Exception as exc:  # noqa: BLE001 - a bad label file is a note, not a crash
            note = one_line(exc)
        if truth_labels is not None and truth_labels.shape != frame.shape[:2]:
            h, w = truth_labels.shape
            note = f"frame {index}: annotation is {w}x{h} but the frame is {frame.shape[1]}x{frame.shape[0]}; not scored"
            truth_labels = None
    classes = label_set_of(model, truth)
    if labels is not None and truth_labels is not None and classes is not None:
        matrix = ConfusionMatrix(classes.count, ignore_index=classes.void_index, class_names=classes.names).matrix_of(labels, truth_labels)
    return FrameResult(
        index=index, frame=frame, labels=labels, truth=truth_labels, frame_matrix=matrix,
        model_ms=model_ms, time_s=time_s, generation=generation, note=note,
    )
