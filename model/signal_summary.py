"""The model's own signals over a whole source without truth: what ``eval`` and ``batch eval`` report.

A user's footage has no annotations, so the summary says where the model is unsure and unstable
instead of how right it is: pooled confidence, low-confidence share, mean flicker and class
shares, and the frames worth a look (least confident, most flicker, near-duplicates skipped).
Every frame is one model call that returns labels and confidence together.
"""

from __future__ import annotations

__all__ = ["SignalSummary", "folder_signals", "format_signals", "summarize_signals"]

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.class_mapping import scored_classes, scored_labels
from model.signals import (
    DEFAULT_LOW_CONFIDENCE,
    FrameSignals,
    SignalTotals,
    frame_signals,
    worth_a_look,
)

#: How many frames each "worth a look" list names.
WORTH_A_LOOK = 10


@dataclass
class SignalSummary:
    """Pooled signals of one source, and each frame's, keyed by frame index."""

    class_names: tuple[str, ...]
    totals: SignalTotals
    threshold: float = DEFAULT_LOW_CONFIDENCE
    per_frame: dict[int, FrameSignals] = field(default_factory=dict)
    frame_names: dict[int, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        def named(indices: list[int]) -> list[dict]:
            return [{"frame": i, "name": self.frame_names.get(i, str(i)),
                     "mean_confidence": self.per_frame[i].mean_confidence, "flicker": self.per_frame[i].flicker}
                    for i in indices]

        return {
            "truth": None,
            "signals": {**self.totals.to_json(self.class_names), "low_confidence_threshold": self.threshold},
            "least_confident": named(worth_a_look(self.per_frame, by="confidence", count=WORTH_A_LOOK)),
            "most_flicker": named(worth_a_look(self.per_frame, by="flicker", count=WORTH_A_LOOK)),
        }


def summarize_signals(frames: Iterable[tuple[int, str, np.ndarray]], segmenter, *,
                      threshold: float = DEFAULT_LOW_CONFIDENCE,
                      on_frame: Callable[[], None] | None = None) -> SignalSummary:
    """Segment each ``(index, name, frame)`` once (labels and confidence from the same call) and
    pool the signals, in the model's scored classes (a mapping's when it has one). Flicker is
    against the previous frame only when it is frame ``index - 1``."""
    classes = scored_classes(segmenter)
    if classes is None:
        raise ValueError(f"{getattr(segmenter, 'name', 'the model')}: the model names no classes (no label set)")
    summary = SignalSummary(classes.names, SignalTotals(classes.count), threshold)
    previous: tuple[int, np.ndarray] | None = None
    for index, name, frame in frames:
        prediction = segmenter.segment(frame, confidence=True)
        labels = scored_labels(segmenter, prediction.labels)
        before = previous[1] if previous is not None and previous[0] == index - 1 else None
        signals = frame_signals(labels, prediction.confidence, classes.count, previous=before, threshold=threshold)
        summary.totals.add(signals)
        summary.per_frame[index] = signals
        summary.frame_names[index] = name
        previous = (index, labels)
        if on_frame is not None:
            on_frame()
    return summary


def folder_signals(images: str | Path, *, model: str | Path | None = None, backend: str = "auto",
                   device: str = "auto", precision: str = "auto", card=None, mapping=None, mode: str = "fast",
                   threshold: float = DEFAULT_LOW_CONFIDENCE, progress: bool = True) -> dict:
    """``eval`` on a frame folder without annotations: :meth:`SignalSummary.to_json` of its frames,
    in file-name order (a folder of a clip's frames is in time order)."""
    from model.data import DataError, list_images, read_image
    from model.inference import Segmenter, note_precision

    paths = list_images(images)
    if not paths:
        raise DataError(f"{images}: no frames (PNG or JPEG) in this folder")
    segmenter = Segmenter(model, backend=backend, device=device, precision=precision, card=card, mapping=mapping,
                          mode=mode)
    note_precision(segmenter)
    if progress:
        import sys

        from tqdm import tqdm

        paths = tqdm(paths, desc="signals", unit="frame", file=sys.stderr, leave=False, disable=not sys.stderr.isatty())
    frames = ((i, path.stem, read_image(path)) for i, path in enumerate(paths))
    summary = summarize_signals(frames, segmenter, threshold=threshold)
    return summary.to_json()


def format_signals(result: dict) -> str:
    """``eval``'s table for a source without truth (``result``: :meth:`SignalSummary.to_json`)."""
    s = result["signals"]

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"

    shares = sorted(s["class_share"].items(), key=lambda kv: -kv[1])
    lines = [
        f"no truth: the model's own signals over {s['frames']} frames",
        f"mean confidence   {pct(s['mean_confidence'])}",
        f"low confidence    {pct(s['low_confidence_share'])} of pixels (winning class under {100 * s['low_confidence_threshold']:g}%)",
        f"flicker           {pct(s['mean_flicker'])} of pixels change label per frame",
        "class share       " + ", ".join(f"{name} {pct(v)}" for name, v in shares if v > 0),
    ]
    for key, title in (("least_confident", "least confident"), ("most_flicker", "most flicker")):
        if result[key]:
            lines.append(f"{title + ':':<18}" + ", ".join(item["name"] for item in result[key]))
    return "\n".join(lines)
