"""What a model says about a frame without any truth: class shares, confidence, flicker.

On a user's own footage there is no annotation to score against, but the model's own output
still tells where it is unsure (low winning-class probability) and unstable (labels that change
between consecutive frames). Every figure here comes from one model call's labels and
confidence map (``Segmenter.segment(frame, confidence=True)``) and the previous frame's labels.
"""

from __future__ import annotations

__all__ = ["DEFAULT_LOW_CONFIDENCE", "FrameSignals", "SignalTotals", "flicker", "frame_signals", "worth_a_look"]

from dataclasses import dataclass, field

import cv2
import numpy as np

#: Pixels whose winning class has less than this probability count as "low confidence".
DEFAULT_LOW_CONFIDENCE = 0.5
#: Each class's mean confidence is taken over every CLASS_CONFIDENCE_STRIDE-th pixel each way.
CLASS_CONFIDENCE_STRIDE = 2


@dataclass(frozen=True)
class FrameSignals:
    """One frame's signals; shares are fractions of the frame's pixels (they sum to 1)."""

    class_pixels: tuple[int, ...]  # pixels labelled each class
    class_confidence: tuple[float | None, ...]  # mean confidence of the pixels of each class
    mean_confidence: float
    low_confidence_share: float  # share of pixels under ``threshold``
    threshold: float
    flicker: float | None  # share of labels changed since the previous frame; None without one

    @property
    def pixels(self) -> int:
        return int(sum(self.class_pixels))

    @property
    def class_share(self) -> tuple[float, ...]:
        total = max(1, self.pixels)
        return tuple(count / total for count in self.class_pixels)


def flicker(labels: np.ndarray, previous: np.ndarray | None) -> float | None:
    """Share of pixels whose label differs from the previous frame's (None without one, or of another size)."""
    if previous is None or previous.shape != labels.shape:
        return None
    return float(np.count_nonzero(labels != previous)) / labels.size


def frame_signals(labels: np.ndarray, confidence: np.ndarray, class_count: int, *, previous: np.ndarray | None = None,
                  threshold: float = DEFAULT_LOW_CONFIDENCE) -> FrameSignals:
    """The signals of one frame from its labels (HxW) and winning-class probability (HxW).

    Shares, mean confidence, the low-confidence share and flicker count every pixel. Each
    class's mean confidence is over every second pixel of every second row (a class seen only
    off that sample: over its own pixels): a per-class weighted sum over a whole 960x540 frame
    cost 8 ms on the thread that feeds the window, and the map is no finer than that
    (model/confidence.py).
    """
    if labels.shape != confidence.shape:
        raise ValueError(f"labels are {labels.shape} but the confidence map is {confidence.shape}")
    counts = _label_counts(labels, class_count)
    step = CLASS_CONFIDENCE_STRIDE
    sample, sample_conf = labels[::step, ::step].ravel(), confidence[::step, ::step].ravel()
    sums = np.bincount(sample, weights=sample_conf, minlength=class_count)[:class_count]
    sampled = np.bincount(sample, minlength=class_count)[:class_count]
    class_confidence = tuple(
        float(sums[c] / sampled[c]) if sampled[c] else float(confidence[labels == c].mean()) if counts[c] else None
        for c in range(class_count))
    return FrameSignals(
        class_pixels=tuple(int(c) for c in counts),
        class_confidence=class_confidence,
        mean_confidence=float(confidence.mean(dtype=np.float64)) if confidence.size else 0.0,
        low_confidence_share=float(np.count_nonzero(confidence < threshold)) / max(1, confidence.size),
        threshold=float(threshold),
        flicker=flicker(labels, previous),
    )


def _label_counts(labels: np.ndarray, class_count: int) -> np.ndarray:
    """Pixels of each class 0..class_count-1 (others not counted); OpenCV's histogram is 4x numpy's
    bincount on uint8 labels, and exact while a frame has under 2**24 pixels."""
    if labels.dtype == np.uint8 and labels.size < 2**24 and class_count <= 256:
        hist = cv2.calcHist([np.ascontiguousarray(labels)], [0], None, [class_count], [0, class_count])
        return hist.ravel().astype(np.int64)
    return np.bincount(labels.ravel().astype(np.int64), minlength=class_count)[:class_count]


@dataclass
class SignalTotals:
    """Signals pooled over many frames (a source, a batch): pixel-weighted shares and confidence."""

    class_count: int
    frames: int = 0
    class_pixels: np.ndarray = field(default=None)  # type: ignore[assignment]
    confidence_sum: float = 0.0
    low_pixels: int = 0
    flicker_sum: float = 0.0
    flicker_frames: int = 0

    def __post_init__(self) -> None:
        if self.class_pixels is None:
            self.class_pixels = np.zeros(self.class_count, dtype=np.int64)

    def add(self, signals: FrameSignals) -> None:
        pixels = signals.pixels
        self.frames += 1
        self.class_pixels += np.asarray(signals.class_pixels[: self.class_count], dtype=np.int64)
        self.confidence_sum += signals.mean_confidence * pixels
        self.low_pixels += round(signals.low_confidence_share * pixels)
        if signals.flicker is not None:
            self.flicker_sum += signals.flicker
            self.flicker_frames += 1

    @property
    def pixels(self) -> int:
        return int(self.class_pixels.sum())

    @property
    def class_share(self) -> tuple[float, ...]:
        total = max(1, self.pixels)
        return tuple(float(c) / total for c in self.class_pixels)

    @property
    def mean_confidence(self) -> float | None:
        return self.confidence_sum / self.pixels if self.pixels else None

    @property
    def low_confidence_share(self) -> float | None:
        return self.low_pixels / self.pixels if self.pixels else None

    @property
    def mean_flicker(self) -> float | None:
        return self.flicker_sum / self.flicker_frames if self.flicker_frames else None

    def merge(self, other: SignalTotals) -> None:
        """Add another source's totals (a batch pools its sources this way)."""
        if other.class_count != self.class_count:
            raise ValueError(f"cannot pool signals over {other.class_count} classes with {self.class_count}")
        self.frames += other.frames
        self.class_pixels += other.class_pixels
        self.confidence_sum += other.confidence_sum
        self.low_pixels += other.low_pixels
        self.flicker_sum += other.flicker_sum
        self.flicker_frames += other.flicker_frames

    def to_record(self) -> dict:
        """The raw sums (JSON), from which :meth:`from_record` rebuilds these totals exactly."""
        return {"class_count": self.class_count, "frames": self.frames, "class_pixels": self.class_pixels.tolist(),
                "confidence_sum": self.confidence_sum, "low_pixels": self.low_pixels,
                "flicker_sum": self.flicker_sum, "flicker_frames": self.flicker_frames}

    @classmethod
    def from_record(cls, record: dict) -> SignalTotals:
        totals = cls(int(record["class_count"]))
        totals.frames = int(record["frames"])
        totals.class_pixels = np.asarray(record["class_pixels"], dtype=np.int64)
        if totals.class_pixels.shape != (totals.class_count,):
            raise ValueError(f"a signals record of {totals.class_count} classes holds {totals.class_pixels.size} counts")
        totals.confidence_sum = float(record["confidence_sum"])
        totals.low_pixels = int(record["low_pixels"])
        totals.flicker_sum = float(record["flicker_sum"])
        totals.flicker_frames = int(record["flicker_frames"])
        return totals

    def to_json(self, class_names: tuple[str, ...]) -> dict:
        return {
            "frames": self.frames,
            "mean_confidence": self.mean_confidence,
            "low_confidence_share": self.low_confidence_share,
            "mean_flicker": self.mean_flicker,
            "class_share": dict(zip(class_names, self.class_share, strict=False)),
        }


def worth_a_look(signals: dict[int, FrameSignals], *, by: str = "confidence", count: int = 10,
                 spacing: int = 5) -> list[int]:
    """Frame indices worth a look without truth: the least confident (``by="confidence"``) or the
    most flickering (``by="flicker"``) first, skipping frames within ``spacing`` of one already
    chosen (consecutive frames of one bad moment are near-duplicates; one of them is enough)."""
    if by == "confidence":
        ranked = sorted(signals, key=lambda i: (signals[i].mean_confidence, i))
    elif by == "flicker":
        ranked = sorted((i for i in signals if signals[i].flicker is not None), key=lambda i: (-signals[i].flicker, i))
    else:
        raise ValueError(f"unknown ranking {by!r} (expected confidence or flicker)")
    chosen: list[int] = []
    for index in ranked:
        if all(abs(index - other) > spacing for other in chosen):
            chosen.append(index)
            if len(chosen) == count:
                break
    return chosen
