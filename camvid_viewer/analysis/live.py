"""One frame as the window shows it: segmented, and scored when its annotation exists."""

from __future__ import annotations

__all__ = ["MODEL_LOCK", "analyse_frame", "segment_with_confidence", "takes_keyword"]

import dataclasses
import inspect
import math
import threading
import time

from camvid_viewer.analysis.compare import second_model_result
from camvid_viewer.analysis.temporal import label_change_rate, motion_flow
from camvid_viewer.messages import one_line
from camvid_viewer.session import FrameResult
from model.class_mapping import scored_classes, scored_labels
from model.metrics import ConfusionMatrix
from model.signals import DEFAULT_LOW_CONFIDENCE, frame_signals

#: Serialises model calls: the still thread and a playback run may overlap briefly, and the
#: analysis dock's evaluation takes turns with playback on the same model.
MODEL_LOCK = threading.Lock()


def analyse_frame(frame, *, index: int, model, truth, time_s: float, generation: int, signals: bool = False,
                  previous: tuple | None = None, threshold: float = DEFAULT_LOW_CONFIDENCE,
                  prediction=None, motion: bool = False) -> FrameResult:
    """Segment one frame and score it against its annotation when there is one, in the
    model's classes (else the truth's: ``label_set_of(model, truth)``, as the session shows).

    ``signals``: also the model's own signals (class shares, confidence from the same model
    call, and flicker against ``previous`` = (index, labels[, frame]) when that is frame ``index - 1``;
    with ``motion`` and the previous frame, after warping its labels by the optical flow between
    the two frames, as ``analysis.temporal`` measures flicker: camera motion is not counted).
    ``prediction``: the model's output for this frame, already made (on the model's lanes).
    """
    labels, model_ms, confidence = None, None, None
    if model is not None and prediction is None:
        start = time.perf_counter()
        with MODEL_LOCK:
            prediction = segment_with_confidence(model, frame) if signals else model.segment(frame)
        model_ms = (time.perf_counter() - start) * 1000
    if prediction is not None:
        model_ms = model_ms if model_ms is not None else getattr(prediction, "model_ms", None)
        labels = prediction.labels
        confidence = getattr(prediction, "confidence", None) if signals else None
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
    # Scored, and the signals' class shares counted, in a mapping's classes when the model has one
    # (the metrics dock's rows); labels stay the model's own for drawing.
    classes, scored = scored_classes(model, truth), scored_labels(model, labels)
    if labels is not None and truth_labels is not None and classes is not None:
        matrix = ConfusionMatrix(classes.count, ignore_index=classes.void_index, class_names=classes.names).matrix_of(scored, truth_labels)
    frame_signals_ = None
    if confidence is not None and classes is not None:
        before = previous[1] if previous is not None and previous[0] == index - 1 else None
        before = scored_labels(model, before)
        frame_signals_ = frame_signals(scored, confidence, classes.count, previous=before, threshold=threshold)
        if motion and before is not None and len(previous) > 2 and previous[2].shape == frame.shape:
            frame_signals_ = dataclasses.replace(frame_signals_, flicker=_motion_flicker(previous[2], frame, before, scored))
    return FrameResult(
        index=index, frame=frame, labels=labels, truth=truth_labels, frame_matrix=matrix,
        model_ms=model_ms, time_s=time_s, generation=generation, note=note,
        confidence=confidence, signals=frame_signals_, second=second_model_result(prediction, model, truth_labels),
    )


def _motion_flicker(previous_frame, frame, previous_labels, labels) -> float | None:
    """Share of changed labels after warping the previous labels onto this frame (None: nothing comparable)."""
    rate = label_change_rate(previous_labels, labels, flow=motion_flow(previous_frame, frame))
    return None if math.isnan(rate) else rate


def segment_with_confidence(model, frame):
    """Labels and the confidence map: from the same call where the model can (``confidence=True``),
    else from its probabilities (models that take only that keyword)."""
    if takes_keyword(model.segment, "confidence"):
        return model.segment(frame, confidence=True)
    return model.segment(frame, probabilities=True)


def takes_keyword(function, name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
