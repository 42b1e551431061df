"""Drives: which recording a CamVid frame comes from, and splits that hold a drive out of training.

Neighbouring frames of one drive are nearly the same picture, so a model scored on frames of a
drive it trained on looks better than it will on a user's own footage. A drive is the prefix of
a frame's file name before the first underscore (``0016E5_07959.png`` -> ``0016E5``).
"""

from __future__ import annotations

__all__ = ["DRIVE_SPLIT_PREFIX", "drive_of", "parse_drive_split", "split_by_drive", "count_by_drive", "drive_relations"]

from collections import Counter
from pathlib import Path

from model.image_files import DataError

DRIVE_SPLIT_PREFIX = "drive:"


def drive_of(path: str | Path) -> str | None:
    """The drive a frame belongs to, or None when its name has no ``DRIVE_`` prefix."""
    stem = Path(path).stem
    prefix, sep, rest = stem.partition("_")
    return prefix if sep and prefix and rest else None


def parse_drive_split(value: str) -> tuple[str, ...] | None:
    """``drive:0001TP`` or ``drive:0001TP,0006R0`` -> the drives; any other split name -> None."""
    if not value.startswith(DRIVE_SPLIT_PREFIX):
        return None
    drives = tuple(d.strip() for d in value[len(DRIVE_SPLIT_PREFIX):].split(","))
    if not all(drives) or len(set(drives)) != len(drives):
        raise ValueError(f"{value!r}: expected drive names separated by commas after 'drive:', e.g. drive:0001TP")
    return drives


def count_by_drive(paths) -> dict[str, int]:
    """Frames per drive, in order of first appearance (frames without a drive under '?')."""
    return dict(Counter(drive_of(p) or "?" for p in paths))


def split_by_drive(pairs: list[tuple[Path, Path]], held_out: tuple[str, ...], *, source: str | Path) -> tuple[list, list]:
    """(training pairs, held-out pairs): every frame of a ``held_out`` drive, and nothing else, is held out.

    A held-out drive with no frame, or nothing left to train on, is a :class:`DataError` naming
    ``source`` and the drives it has.
    """
    found = count_by_drive(p[0] for p in pairs)
    missing = [d for d in held_out if d not in found]
    if missing:
        listed = ", ".join(f"{d} ({n} frames)" for d, n in found.items())
        raise DataError(f"{source}: no frame of drive {missing[0]} in the training splits (drives: {listed})")
    held = [p for p in pairs if drive_of(p[0]) in held_out]
    train = [p for p in pairs if drive_of(p[0]) not in held_out]
    if not train:
        raise DataError(f"{source}: holding out {', '.join(held_out)} leaves no frame to train on")
    return train, held


def drive_relations(scored: dict[str, int], card: dict) -> dict[str, str]:
    """For each drive scored: 'trained on' or 'not trained on' by the card's record of the drives
    it trained on; 'unknown' when the card keeps no such record (or the frame has no drive)."""
    trained = (card.get("drives") or {}).get("trained_on")
    if not trained:
        return {drive: "unknown" for drive in scored}
    return {drive: "unknown" if drive == "?" else "trained on" if drive in trained else "not trained on"
            for drive in scored}
