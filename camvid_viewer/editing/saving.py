"""Saving corrected labels: where a frame's label PNG goes, and writing it atomically.

A frame's labels go into the source's annotation folder under the name the truth lookup
(``camvid_viewer.sources.truth``) pairs back to the frame: a folder's frame keeps its file
stem (``0001TP_008550.png``), a video's frame is named by its index (``000120.png``). A source
without annotations gets ``<name>annot/`` beside it, the folder ``find_annotations`` looks for,
so reopening the source finds the labels again. The input itself is never written: a folder
inside a frame folder, or the video's own path, is refused.

Usage::

    target = label_target(source, index, truth=truth)       # LabelTarget(path, exists, folder)
    write_label_png(target.path, labels)                    # temp file + rename
    truth = truth_with(truth, source, index, target.path)   # the index, now with this frame
"""

from __future__ import annotations

__all__ = ["LabelTarget", "SaveError", "default_annotation_folder", "label_target", "write_label_png", "truth_with"]

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camvid_viewer.sources.truth import TruthIndex, find_annotations
from model.checkpoint import atomic_write
from model.outputs import OutputError, check_outputs, real_path


class SaveError(Exception):
    """Labels that cannot be saved where asked; the message is one line naming the file."""


@dataclass(frozen=True)
class LabelTarget:
    """Where frame ``index``'s labels go; ``exists``: a file is there already (ask before replacing it)."""

    path: Path
    folder: Path
    exists: bool
    created_folder: bool  # the folder does not exist yet (a new annotation folder for this source)


def default_annotation_folder(source) -> Path:
    """The source's annotation folder: the one found beside it, else ``<name>annot/`` beside it."""
    found = find_annotations(source)
    if found is not None:
        return Path(found)
    path = Path(source.path)
    name = path.name if source.kind == "folder" else path.stem
    return path.parent / f"{name}annot"


def label_target(source, index: int, *, truth: TruthIndex | None = None, folder: str | Path | None = None) -> LabelTarget:
    """Where frame ``index``'s label PNG goes: its existing annotation, else a new file in ``folder``
    (the truth's folder, else :func:`default_annotation_folder`). :class:`SaveError` when that
    would write into the input."""
    if source is None or getattr(source, "is_live", False):
        raise SaveError("labels of a live stream cannot be saved: there is no frame to pair them with")
    if folder is None:
        folder = truth.annotations_dir if truth is not None and truth.annotations_dir is not None else default_annotation_folder(source)
    folder = Path(folder)
    existing = truth.path(index) if truth is not None and truth.annotations_dir is not None else None
    if existing is not None and real_path(existing).parent == real_path(folder):
        path = Path(existing)
    else:
        path = folder / f"{source.frame_name(index)}.png"
    try:
        check_outputs(inputs={"input": source.path}, outputs={"annotation": path})
    except OutputError as exc:
        raise SaveError(str(exc)) from None
    if folder.exists() and not folder.is_dir():
        raise SaveError(f"{folder}: not a folder, cannot save annotations there")
    return LabelTarget(path=path, folder=folder, exists=path.exists(), created_folder=not folder.exists())


def write_label_png(path: str | Path, labels: np.ndarray) -> Path:
    """Write ``labels`` (HxW uint8 class indices) as a one-channel PNG, through a temp file renamed into place."""
    path = Path(path)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise SaveError(f"{path}: labels must be HxW uint8 class indices, got {labels.dtype} {labels.shape}")
    ok, data = cv2.imencode(".png", np.ascontiguousarray(labels))
    if not ok:
        raise SaveError(f"{path}: PNG encoding failed")
    try:
        with atomic_write(path, suffix=".png") as tmp:
            tmp.write_bytes(data.tobytes())
    except OSError as exc:
        raise SaveError(f"{path}: cannot write the label PNG ({exc.strerror or exc})") from None
    return path


def truth_with(truth: TruthIndex | None, source, index: int, path: str | Path) -> TruthIndex:
    """The truth index with frame ``index`` labelled by ``path`` (a new index; folders other than
    the truth's start a new one, read back from that folder)."""
    path = Path(path)
    if truth is not None and truth.annotations_dir is not None and real_path(truth.annotations_dir) == real_path(path.parent):
        return TruthIndex({**truth.paths, index: path}, truth.annotations_dir)
    fresh = TruthIndex.for_source(source, path.parent)
    return TruthIndex({**fresh.paths, index: path}, path.parent)
