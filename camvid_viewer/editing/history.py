"""Undo and redo for a label map: each step keeps only the bounding-box patches it changed.

A brush drag is many small changes; they make one step (``push([...])``), undone together.
Memory grows with the pixels edited, not with a full copy of the frame per stroke.
"""

from __future__ import annotations

__all__ = ["Change", "EditHistory"]

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Change:
    """The pixels of ``box`` (top, left, bottom, right) before and after one edit."""

    box: tuple[int, int, int, int]
    before: np.ndarray
    after: np.ndarray

    @property
    def slices(self) -> tuple[slice, slice]:
        top, left, bottom, right = self.box
        return slice(top, bottom), slice(left, right)

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes


class EditHistory:
    """Steps of changes with a cursor: ``undo`` walks back, ``redo`` forward, a new step drops the redo tail.

    ``dirty`` says whether the labels differ from the last :meth:`mark_saved` (or the start).
    """

    def __init__(self, *, limit: int = 200) -> None:
        self._steps: list[list[Change]] = []
        self._cursor = 0  # steps[:cursor] are applied
        self._saved: int | None = 0  # the cursor at the last save; None once that state is unreachable
        self.limit = limit

    def push(self, changes: list[Change]) -> None:
        """Record a step already applied to the labels (empty lists are ignored)."""
        changes = [c for c in changes if c is not None]
        if not changes:
            return
        del self._steps[self._cursor:]
        if self._saved is not None and self._saved > self._cursor:
            self._saved = None  # the saved state was in the redo tail just dropped
        self._steps.append(changes)
        self._cursor += 1
        if len(self._steps) > self.limit:  # the oldest step goes; the saved state may go with it
            del self._steps[0]
            self._cursor -= 1
            self._saved = None if self._saved in (None, 0) else self._saved - 1

    def undo(self, labels: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Revert the last step in ``labels``; returns the boxes changed (empty when nothing to undo)."""
        if self._cursor == 0:
            return []
        self._cursor -= 1
        step = self._steps[self._cursor]
        for change in reversed(step):
            labels[change.slices] = change.before
        return [c.box for c in step]

    def redo(self, labels: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Re-apply the step last undone; returns the boxes changed."""
        if self._cursor == len(self._steps):
            return []
        step = self._steps[self._cursor]
        self._cursor += 1
        for change in step:
            labels[change.slices] = change.after
        return [c.box for c in step]

    @property
    def can_undo(self) -> bool:
        return self._cursor > 0

    @property
    def can_redo(self) -> bool:
        return self._cursor < len(self._steps)

    @property
    def dirty(self) -> bool:
        return self._saved != self._cursor

    def mark_saved(self) -> None:
        self._saved = self._cursor

    @property
    def nbytes(self) -> int:
        """Memory the steps hold (patches before and after)."""
        return sum(c.nbytes for step in self._steps for c in step)
