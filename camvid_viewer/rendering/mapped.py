"""Which labels and classes a view draws when the model is scored through a class mapping.

A model with its own label set (Cityscapes' 19) is drawn in its own classes in the overlay and
the mask. Views that set its output against the truth (side by side, error) draw it in the
truth's classes, mapped, so that a prediction and its truth share colours and "wrong" means what
the scores count as wrong. Without a mapping every view draws the model's classes.
"""

from __future__ import annotations

__all__ = ["TRUTH_VIEWS", "labels_for_view"]

import numpy as np

from model.class_mapping import scored_classes, scored_labels
from model.classes import LabelSet

#: Views that show the prediction against the truth.
TRUTH_VIEWS = ("side-by-side", "error")


def labels_for_view(view: str, model, labels: np.ndarray, classes: LabelSet, *, hidden=frozenset()):
    """``(labels, classes, hidden)`` to draw ``view`` with: the model's own, or for a truth view
    of a mapped model the mapped labels in the truth's classes (the legend's hidden classes
    are the model's, so none are hidden there)."""
    if view not in TRUTH_VIEWS or getattr(model, "mapping", None) is None:
        return labels, classes, hidden
    return scored_labels(model, labels), scored_classes(model), frozenset()
