"""Per-pixel confidence of one frame, and a segmenter that takes turns with other threads on one model."""

from __future__ import annotations

__all__ = ["SerialisedSegmenter", "pixel_confidence"]


import numpy as np


class SerialisedSegmenter:
    """A segmenter whose calls hold ``lock``, so two threads take turns on one model."""

    def __init__(self, segmenter, lock) -> None:
        self.segmenter = segmenter
        self.lock = lock

    def __getattr__(self, name: str):
        if name in ("segmenter", "lock"):
            raise AttributeError(name)
        return getattr(self.segmenter, name)

    def segment(self, frame: np.ndarray, *, probabilities: bool = False, confidence: bool = False):
        with self.lock:
            if confidence:
                return self.segmenter.segment(frame, probabilities=probabilities, confidence=True)
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
