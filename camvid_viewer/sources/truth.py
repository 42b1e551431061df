"""Ground truth for a frame source: find its annotation folder, map frame index -> label PNG.

numpy and OpenCV only (through :mod:`model.data`); no Qt, no torch.

Usage::

    with open_source("../shared/camvid/val") as source:
        truth = TruthIndex.for_source(source, find_annotations(source))
        labels = truth.read(truth.labelled_indices[0])   # uint8 class indices
"""

from __future__ import annotations

__all__ = ["find_annotations", "TruthIndex"]

import bisect
import re
from pathlib import Path

import numpy as np

from camvid_viewer.sources import FolderSource, FrameSource, MediaError, short_reason
from model.classes import CAMVID, LabelSet
from model.data import DataError, list_images, read_label
from model.image_files import check_image_size


def find_annotations(source: FrameSource) -> Path | None:
    """The annotation folder that goes with a source, if there is one beside it.

    SegNet layout: ``val`` -> ``valannot`` (and ``clip.mp4`` -> ``clipannot``); the origin
    notebook's layout: ``images_prepped_test`` -> ``annotations_prepped_test``.
    """
    if source.kind == "stream":
        return None
    path = Path(source.path)
    name = path.name if source.kind == "folder" else path.stem
    candidates = [path.parent / f"{name}annot"]
    if name.startswith("images_prepped_"):
        candidates.insert(0, path.parent / ("annotations_prepped_" + name[len("images_prepped_"):]))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


class TruthIndex:
    """Frame index -> label PNG of an annotation folder.

    Folders pair frames and labels by file stem; videos by the frame number in the label's
    file name (the last number in the stem: ``000120.png``, ``frame_120.png``).
    """

    #: The label PNGs are read as CamVid class indices (``model.data.read_label``).
    label_set: LabelSet = CAMVID

    def __init__(self, paths: dict[int, Path], annotations_dir: Path | None = None) -> None:
        self.paths = dict(sorted(paths.items()))
        self.annotations_dir = annotations_dir
        self.labelled_indices: list[int] = list(self.paths)

    @classmethod
    def for_source(cls, source: FrameSource, annotations_dir: str | Path) -> TruthIndex:
        folder = Path(annotations_dir)
        if not folder.is_dir():
            raise MediaError(f"{annotations_dir}: no such annotation folder")
        try:
            labels = list_images(folder)
        except (DataError, OSError) as exc:
            raise MediaError(f"{annotations_dir}: cannot list the folder ({short_reason(exc)})") from None
        paths: dict[int, Path] = {}
        if isinstance(source, FolderSource):
            for label in labels:
                index = source.index_of_stem(label.stem)
                if index is not None:
                    paths[index] = label
        else:
            for label in labels:
                numbers = re.findall(r"\d+", label.stem)
                if not numbers:
                    continue
                index = int(numbers[-1])
                if source.frame_count is None or index < source.frame_count:
                    paths.setdefault(index, label)
        return cls(paths, folder)

    def __len__(self) -> int:
        return len(self.paths)

    def check_headers(self, frames: range, size: tuple[int, int]) -> None:
        """Each annotation of ``frames`` is an image of ``size`` (width, height), by its header alone:
        MediaError naming the first that is not (wrong size, damaged, a decompression bomb)."""
        for index in self.labelled_indices:
            if index in frames:
                path = self.paths[index]
                try:
                    claimed = check_image_size(path)
                except DataError as exc:
                    raise MediaError(str(exc), index=index) from None
                if claimed != tuple(size):
                    raise MediaError(f"{path}: annotation is {claimed[0]}x{claimed[1]}, the frames are "
                                     f"{size[0]}x{size[1]}", index=index)

    def has(self, index: int) -> bool:
        return index in self.paths

    def path(self, index: int) -> Path | None:
        return self.paths.get(index)

    def read(self, index: int) -> np.ndarray | None:
        """The frame's labels (uint8 class indices) or None when it has none; MediaError when unreadable."""
        path = self.paths.get(index)
        if path is None:
            return None
        try:
            return read_label(path)
        except DataError as exc:
            raise MediaError(str(exc), index=index) from None

    def next_labelled(self, index: int) -> int | None:
        i = bisect.bisect_right(self.labelled_indices, index)
        return self.labelled_indices[i] if i < len(self.labelled_indices) else None

    def previous_labelled(self, index: int) -> int | None:
        i = bisect.bisect_left(self.labelled_indices, index)
        return self.labelled_indices[i - 1] if i > 0 else None
