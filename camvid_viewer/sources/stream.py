"""Live streams (RTSP/HTTP URLs, camera indices) through OpenCV: frames in arrival order, no seeking."""

from __future__ import annotations

__all__ = ["StreamSource"]

import os
import threading
from collections.abc import Iterator

import cv2
import numpy as np

from camvid_viewer.sources.base import FrameSource, MediaError


class StreamSource(FrameSource):
    """A live stream (RTSP/HTTP URL) or a camera (all-digit index) read with OpenCV.

    Frames are numbered as they arrive; only the latest frame can be read again.
    """

    kind = "stream"
    is_live = True

    def __init__(self, url: str, *, open_timeout_s: float = 10.0) -> None:
        self.path = str(url)
        target = int(url) if str(url).isdigit() else str(url)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000)] if not isinstance(target, int) else []
        # FFmpeg's own log lines ("[tcp @ 0x...] Connection refused") would add to our one-line errors.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        self._capture = cv2.VideoCapture(target, cv2.CAP_ANY, params)
        if not self._capture.isOpened():
            raise MediaError(f"{url}: cannot open the stream or camera")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            self._capture.release()
            raise MediaError(f"{url}: stream opened but sends no frames")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if 0 < fps < 1000 else 25.0
        self.frame_count = None
        self.size = (frame.shape[1], frame.shape[0])
        self._latest = (0, frame)
        self._pending: np.ndarray | None = frame  # the first frame, not yet handed out by frames()
        self._lock = threading.Lock()

    def read(self, index: int) -> np.ndarray:
        latest_index, frame = self._latest
        if int(index) != latest_index:
            raise MediaError(f"{self.path}: a live stream cannot seek (frame {index}; latest is {latest_index})", index=index)
        return frame

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Frames as they arrive; ``start`` and ``stop`` count arriving frames."""
        while stop is None or self._latest[0] < stop:
            with self._lock:
                if self._pending is not None:
                    frame, self._pending = self._pending, None
                    index = self._latest[0]
                else:
                    ok, frame = self._capture.read()
                    if not ok or frame is None:
                        return
                    index = self._latest[0] + 1
                    self._latest = (index, frame)
            if index >= start:
                yield index, frame

    def close(self) -> None:
        self._capture.release()
