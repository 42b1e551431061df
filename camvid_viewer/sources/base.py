"""What every frame source is: frames by index, their times, and the one error type sources raise."""

from __future__ import annotations

__all__ = ["MediaError", "FrameInfo", "FrameSource", "short_reason"]

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


class MediaError(Exception):
    """A source or output problem; the message is one line naming the file.

    ``index`` is the frame concerned, when the problem is one frame of an otherwise good source.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class FrameInfo:
    """Where a frame sits in its source."""

    index: int
    time_s: float


class FrameSource(ABC):
    """Frames of a video file, a frame folder or a live stream, read by index.

    Attributes:
        path: what was opened (file, folder, URL or camera index).
        kind: ``"video"``, ``"folder"`` or ``"stream"``.
        frame_count: number of frames, ``None`` for live streams.
        fps: frames per second (a folder's is chosen by the caller).
        size: ``(width, height)`` of the first frame.
        is_live: frames arrive in real time and cannot be sought.
    """

    path: str
    kind: str
    frame_count: int | None
    fps: float
    size: tuple[int, int]
    is_live: bool = False

    @abstractmethod
    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as BGR uint8; :class:`MediaError` for an unreadable frame."""

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, frame)`` for ``start <= index < stop`` in order.

        Raises :class:`MediaError` (with ``index``) at the first unreadable frame; a caller that
        wants to go on past it starts a new iterator at ``index + 1``.
        """
        stop = self._clamp_stop(stop)
        for index in range(max(0, start), stop):
            yield index, self.read(index)

    def frame_name(self, index: int) -> str:
        """A file-name stem for the frame: its file's stem in a folder, ``000120`` in a video."""
        return f"{index:06d}"

    def info(self, index: int) -> FrameInfo:
        """The frame's index and time from the start of the source."""
        return FrameInfo(index=index, time_s=index / self.fps if self.fps else 0.0)

    def close(self) -> None:  # noqa: B027 - sources with nothing to release inherit this
        """Release files and decoders; the source cannot be read afterwards."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, frames={self.frame_count}, fps={self.fps:g}, size={self.size})"

    def _check_index(self, index: int) -> int:
        index = int(index)
        if index < 0 or (self.frame_count is not None and index >= self.frame_count):
            raise IndexError(f"{self.path}: frame {index} out of range 0..{(self.frame_count or 0) - 1}")
        return index

    def _clamp_stop(self, stop: int | None) -> int:
        count = self.frame_count if self.frame_count is not None else 0
        return count if stop is None else max(0, min(int(stop), count))


def short_reason(exc: BaseException) -> str:
    """FFmpeg/OS error text without the errno and the file name (the message names the file once)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = re.sub(r"\[Errno -?\d+\]\s*", "", " ".join(str(text).split()))
    return re.sub(r":\s*'[^']*'$", "", text)
