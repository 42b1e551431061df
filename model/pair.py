"""Two segmenters on the same frame: model A and model B, compared.

A :class:`SegmenterPair` looks like model A to everything that takes a ``Segmenter`` (labels,
classes, palette, name are A's), so the window, export and eval drive it unchanged; each
prediction also carries B's as ``second``. Both models see the same decoded frame, each on its
own lanes (``Segmenter.submit``), so an ONNX A and an ONNX B run at the same time.
"""

from __future__ import annotations

__all__ = ["PairPrediction", "PairFuture", "SegmenterPair", "first_of", "second_of"]

import inspect
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class PairPrediction:
    """A's prediction (``labels``, ``confidence``) with B's beside it."""

    labels: np.ndarray  # A's HxW uint8 labels
    second: Any  # B's Prediction
    confidence: np.ndarray | None = None  # A's, when asked for
    probabilities: np.ndarray | None = None  # A's, when asked for
    model_ms: float | None = None  # A's time plus B's: what the frame cost the machine


def _pair(first, second) -> PairPrediction:
    times = [t for t in (getattr(first, "model_ms", None), getattr(second, "model_ms", None)) if t is not None]
    return PairPrediction(labels=first.labels, second=second, confidence=getattr(first, "confidence", None),
                          probabilities=getattr(first, "probabilities", None), model_ms=sum(times) if times else None)


class PairFuture:
    """Both models' futures for one frame; ``result()`` is their :class:`PairPrediction`.

    Offers what the window and export use of a ``concurrent.futures.Future`` (``done``,
    ``result(timeout)``, ``cancel``); a timeout raises ``concurrent.futures.TimeoutError``.
    """

    def __init__(self, first, second) -> None:
        self.first, self.second = first, second

    def done(self) -> bool:
        return self.first.done() and self.second.done()

    def cancel(self) -> bool:
        first, second = self.first.cancel(), self.second.cancel()
        return first and second

    def result(self, timeout: float | None = None) -> PairPrediction:
        start = time.monotonic()
        first = self.first.result(timeout)
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - start))
        return _pair(first, self.second.result(left))


class SegmenterPair:
    """Model A and model B behind one ``Segmenter`` interface (A's classes, name and path).

    Args:
        first: model A (what the window, export and eval score and draw as usual).
        second: model B, run on every frame A runs on.
    """

    def __init__(self, first, second) -> None:
        self.first, self.second = first, second

    def __getattr__(self, name: str):
        # Everything else (label_set, class_names, palette_bgr, name, path, device, precision...)
        # is A's; only called for attributes this class does not define.
        if name in ("first", "second"):
            raise AttributeError(name)
        return getattr(self.first, name)

    @property
    def preferred_batch(self) -> int:
        return max(int(getattr(self.first, "preferred_batch", 1)), int(getattr(self.second, "preferred_batch", 1)))

    def segment(self, frame: np.ndarray, *, confidence: bool = False, probabilities: bool = False) -> PairPrediction:
        """Both models on ``frame``, one after the other."""
        if probabilities:
            first = self.first.segment(frame, probabilities=True)
        elif confidence:
            first = self.first.segment(frame, confidence=True)
        else:
            first = self.first.segment(frame)
        return _pair(first, self.second.segment(frame))

    def segment_batch(self, frames: list[np.ndarray], *, probabilities: bool = False) -> list[PairPrediction]:
        firsts = self.first.segment_batch(frames, probabilities=probabilities)
        return [_pair(a, b) for a, b in zip(firsts, self.second.segment_batch(frames), strict=True)]

    def submit(self, frame: np.ndarray, *, confidence: bool = False) -> PairFuture:
        """Both models start on ``frame`` at once, each on its own lanes (a model without lanes of
        its own, e.g. a temporal smoother around A, runs the frame now, in order)."""
        return PairFuture(_submit(self.first, frame, confidence), _submit(self.second, frame, False))

    def segment_stream(self, items):
        """``(key, frame)`` in, ``(key, PairPrediction)`` out, in order; both models' lanes busy."""
        from model.inference import Segmenter

        return Segmenter.segment_stream(self, items)  # it needs only ``submit`` and ``preferred_batch``


def _submit(model, frame: np.ndarray, confidence: bool):
    """``model.submit`` where its class has one that can do what is asked (looked up on the class:
    a wrapper that forwards unknown attributes must run through its own methods), else the frame
    runs now through ``model.segment`` (the temporal smoother around A, asked for confidence)."""
    if getattr(type(model), "submit", None) is not None and (not confidence or _takes(model.submit, "confidence")):
        return model.submit(frame, confidence=True) if confidence else model.submit(frame)
    from model.inference import run_now

    if not confidence:
        return run_now(model.segment, frame)
    keyword = "confidence" if _takes(model.segment, "confidence") else "probabilities"
    return run_now(model.segment, frame, **{keyword: True})


def _takes(function, name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def first_of(model):
    """Model A of a pair, or the model itself."""
    return model.first if isinstance(model, SegmenterPair) else model


def second_of(model):
    """Model B of a pair, or ``None``."""
    return model.second if isinstance(model, SegmenterPair) else None
