"""Frame folders: the image files of a folder, in natural order, read by index."""

from __future__ import annotations

__all__ = ["FolderSource"]

from pathlib import Path

import numpy as np

from camvid_viewer.sources.base import FrameSource, MediaError, short_reason
from model.data import DataError, list_images, read_image


class FolderSource(FrameSource):
    """Image files of a folder in natural order (``frame2`` before ``frame10``).

    Frames are returned at their own size; callers handle a folder of mixed sizes.

    Args:
        path: the folder.
        fps: the frame rate to play or export it at.
    """

    kind = "folder"

    def __init__(self, path: str | Path, *, fps: float = 15.0) -> None:
        self.path = str(path)
        folder = Path(path)
        if not folder.exists():
            raise MediaError(f"{path}: no such folder")
        try:
            self.files = list_images(folder)
        except (DataError, OSError) as exc:
            raise MediaError(f"{path}: cannot list the folder ({short_reason(exc)})") from None
        if not self.files:
            raise MediaError(f"{path}: no image files (png/jpg/bmp/tif) in this folder")
        if not fps > 0:
            raise MediaError(f"{path}: frame rate must be > 0, got {fps}")
        self.frame_count = len(self.files)
        self.fps = float(fps)
        self.size = self._first_size()

    def _first_size(self) -> tuple[int, int]:
        for file in self.files:
            try:
                image = read_image(file)
            except DataError:
                continue
            return image.shape[1], image.shape[0]
        raise MediaError(f"{self.path}: none of the {len(self.files)} image files can be read")

    def read(self, index: int) -> np.ndarray:
        file = self.files[self._check_index(index)]
        try:
            return read_image(file)
        except DataError as exc:
            raise MediaError(str(exc), index=index) from None

    def frame_name(self, index: int) -> str:
        return self.files[self._check_index(index)].stem

    def index_of_stem(self, stem: str) -> int | None:
        """The index of the frame whose file stem is ``stem``."""
        if not hasattr(self, "_stems"):
            self._stems = {f.stem: i for i, f in enumerate(self.files)}
        return self._stems.get(stem)
