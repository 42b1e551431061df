"""Frames worth correcting: where a few minutes of the user's editing help the model most.

Ranked by the model's own doubt about the frames played: lowest mean confidence, highest
flicker, or (when a second model is compared) the largest share of pixels the two models
label differently. Consecutive frames of one bad moment are near-duplicates, so a frame within
``spacing`` frames of one already listed, or of one already labelled, is skipped: one
correction there is enough.

Usage::

    for pick in frames_worth_correcting(session.signals, by="confidence", labelled=truth.labelled_indices):
        print(pick.index, pick.value)
"""

from __future__ import annotations

__all__ = ["RANKINGS", "Pick", "disagreement_share", "frames_worth_correcting"]

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from model.signals import FrameSignals

#: Ranking name -> what is listed first.
RANKINGS: dict[str, str] = {
    "confidence": "lowest mean confidence",
    "flicker": "highest flicker",
    "disagreement": "most disagreement between two models",
}


@dataclass(frozen=True)
class Pick:
    """A frame worth correcting and the figure it was ranked by (a share, 0..1)."""

    index: int
    value: float


def disagreement_share(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """Share of pixels two models label differently (the compare view's figure per frame)."""
    if labels_a.shape != labels_b.shape:
        raise ValueError(f"label maps of {labels_a.shape} and {labels_b.shape} cannot be compared")
    return float(np.count_nonzero(labels_a != labels_b)) / max(1, labels_a.size)


def _badness(by: str, signals: Mapping[int, FrameSignals], disagreement: Mapping[int, float] | None) -> dict[int, float]:
    """Frame -> figure, larger meaning more worth correcting (confidence is turned round)."""
    if by == "confidence":
        return {i: 1.0 - s.mean_confidence for i, s in signals.items()}
    if by == "flicker":
        return {i: s.flicker for i, s in signals.items() if s.flicker is not None}
    if by == "disagreement":
        return dict(disagreement or {})
    raise ValueError(f"unknown ranking {by!r} (expected one of {', '.join(RANKINGS)})")


def frames_worth_correcting(signals: Mapping[int, FrameSignals], *, by: str = "confidence",
                            disagreement: Mapping[int, float] | None = None, labelled: Iterable[int] = (),
                            count: int = 10, spacing: int = 5) -> list[Pick]:
    """Up to ``count`` frames, most worth correcting first, none within ``spacing`` frames of another
    listed or of a ``labelled`` one (near-duplicate neighbours)."""
    badness = _badness(by, signals, disagreement)
    taken = sorted(set(labelled))
    picks: list[Pick] = []
    for index in sorted(badness, key=lambda i: (-badness[i], i)):
        if any(abs(index - other) <= spacing for other in taken):
            continue
        value = 1.0 - badness[index] if by == "confidence" else badness[index]
        picks.append(Pick(index, value))
        taken.append(index)
        if len(picks) == count:
            break
    return picks
