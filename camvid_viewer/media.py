"""Frame sources: video file, frame folder, live stream.

numpy, OpenCV and PyAV only: no Qt, no torch, so the exporter runs on a machine with no display.

Video seeking is frame-accurate. On open, :class:`VideoSource` demuxes the file once (no decoding)
and keeps every frame's presentation timestamp; frame ``i`` is the ``i``-th smallest timestamp, which
is the ``i``-th frame a decoder yields when it decodes the file from the start. ``read(i)`` seeks to
the keyframe at or before that timestamp and decodes forward until it comes out, so it returns the
same pixels as sequential decoding whatever the codec's GOP (B-frames and open GOPs included).
OpenCV's ``CAP_PROP_POS_FRAMES`` is not used: it is off by a few frames for some codecs.

Usage::

    with open_source("drive.mp4") as source:
        frame = source.read(120)                 # frame-accurate random access
        for index, frame in source.frames(0, 50):  # fast sequential decoding
            ...
"""

from __future__ import annotations

__all__ = [
    "MediaError",
    "FrameInfo",
    "FrameSource",
    "VideoSource",
    "FolderSource",
    "StreamSource",
    "open_source",
    "short_reason",
]

import bisect
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from model.data import DataError, list_images, read_image

#: Frames decoded forward (instead of seeking) when ``read`` asks for a frame a little ahead.
_FORWARD_WINDOW = 48
#: FFmpeg demuxers/decoders that turn text files into "video".
_TEXT_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
_TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})


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


# --------------------------------------------------------------------------- video files


def short_reason(exc: BaseException) -> str:
    """FFmpeg/OS error text without the errno and the file name (the message names the file once)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = re.sub(r"\[Errno -?\d+\]\s*", "", " ".join(str(text).split()))
    return re.sub(r":\s*'[^']*'$", "", text)


class VideoSource(FrameSource):
    """A video file decoded with PyAV (FFmpeg): frame-accurate ``read`` and fast ``frames``.

    Args:
        path: the video file.
        threads: let FFmpeg decode with several threads (faster sequential reads).
    """

    kind = "video"

    def __init__(self, path: str | Path, *, threads: bool = True) -> None:
        file = Path(path)
        self.path = str(path)
        self._threads = threads
        self._lock = threading.Lock()
        if not file.exists():
            raise MediaError(f"{path}: no such file")
        if not file.is_file():
            raise MediaError(f"{path}: not a file")
        if file.stat().st_size == 0:
            raise MediaError(f"{path}: empty file")
        self._container = self._open()
        stream = self._container.streams.video[0]
        self.time_base: Fraction = stream.time_base or Fraction(1, 90000)
        self._pts, self._keys = self._build_index(self._container, stream)
        if not self._pts:
            self._container.close()
            raise MediaError(f"{path}: no video frames (empty or truncated file)")
        self._pts_index = {pts: i for i, pts in enumerate(self._pts)} if self._pts[0] is not None else {}
        self.frame_count = len(self._pts)
        self.rate: Fraction = self._frame_rate(stream)
        self.fps = float(self.rate)
        self.has_audio = bool(self._container.streams.audio)
        self._decoder: Iterator | None = None  # decoding position of read(): next frame it yields
        self._next_index = 0
        self._decodable_end: int | None = None  # frames from here on are known to be missing
        try:
            first = self.read(0)
        except MediaError:
            self._container.close()
            raise MediaError(f"{path}: first frame cannot be decoded (corrupt file or a codec FFmpeg lacks)") from None
        self.size = (first.shape[1], first.shape[0])

    # -- opening and indexing

    def _open(self):
        try:
            container = av.open(self.path, "r")
        except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
            raise MediaError(f"{self.path}: not a video FFmpeg can read ({short_reason(exc)})") from None
        if not container.streams.video:
            container.close()
            raise MediaError(f"{self.path}: no video track (not a video)")
        stream = container.streams.video[0]
        # FFmpeg renders any text file as "ANSI art" video; that is not what anyone means by a video
        if container.format.name in _TEXT_FORMATS or stream.codec_context.name in _TEXT_CODECS:
            container.close()
            raise MediaError(f"{self.path}: not a video FFmpeg can read (a text file)")
        if self._threads:
            stream.codec_context.thread_type = "AUTO"
        return container

    def _build_index(self, container, stream) -> tuple[list, list]:
        """Presentation timestamps of every frame (sorted) and of the keyframes, from one demux pass."""
        pts: list = []
        keys: list = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_discard:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                pts.append(ts)
                if packet.is_keyframe:
                    keys.append(ts)
        except (av.FFmpegError, OSError):
            pass  # a truncated file: index what could be read; missing frames raise on read
        if any(ts is None for ts in pts):
            # No timestamps (raw elementary streams): frames are counted; read() decodes from the start.
            return [None] * len(pts), []
        pts.sort()
        keys.sort()
        # A truncated MP4/MOV still lists every frame in its index: the frames whose data is gone
        # keep their place (timestamps no packet has), so they raise MediaError instead of the
        # video silently getting shorter.
        try:
            listed = sum(1 for entry in stream.index_entries if not entry.is_discard)
        except (AttributeError, av.FFmpegError):
            listed = 0
        if listed > len(pts) and pts:
            step = (pts[-1] - pts[0]) // max(1, len(pts) - 1) or 1
            pts += [pts[-1] + step * k for k in range(1, listed - len(pts) + 1)]
        return pts, keys

    def _frame_rate(self, stream) -> Fraction:
        for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
            if rate and 0 < rate < 1000:
                return Fraction(rate)
        if self._pts and self._pts[0] is not None and len(self._pts) > 1:
            step = float(np.median(np.diff(np.asarray(self._pts, dtype=np.float64))))
            if step > 0:
                return Fraction(1 / (step * self.time_base)).limit_denominator(1001)
        return Fraction(25)

    # -- reading

    def info(self, index: int) -> FrameInfo:
        index = self._check_index(index)
        pts = self._pts[index]
        if pts is None:
            return super().info(index)
        return FrameInfo(index=index, time_s=float((pts - self._pts[0]) * self.time_base))

    def pts_of(self, index: int) -> int | None:
        """The presentation timestamp of frame ``index`` in ``time_base`` units (None when unknown)."""
        return self._pts[self._check_index(index)]

    def read(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        with self._lock:
            if self._decodable_end is not None and index >= self._decodable_end:
                raise self._missing(index)
            ahead = index - self._next_index
            if self._decoder is None or ahead < 0 or (ahead > _FORWARD_WINDOW and not self._same_gop(index)):
                self._seek_to(index)
            frame = self._decode_until(index)
            if frame is None and self._pts[index] is not None and self._keys:
                # Timestamps that do not match the packets (rare muxers): retry from an earlier keyframe.
                self._seek_to(index, keyframes_back=1)
                frame = self._decode_until(index)
            if frame is None:
                raise self._missing(index)
            return frame

    def _same_gop(self, index: int) -> bool:
        if not self._keys or self._pts[index] is None:
            return True
        key = bisect.bisect_right(self._keys, self._pts[index])
        here = bisect.bisect_right(self._keys, self._pts[self._next_index]) if self._next_index < self.frame_count else -1
        return key == here

    def _seek_to(self, index: int, keyframes_back: int = 0) -> None:
        """Position the decoder at the keyframe at or before frame ``index`` (the start without an index)."""
        stream = self._container.streams.video[0]
        if self._pts[index] is not None and self._keys:
            k = max(0, bisect.bisect_right(self._keys, self._pts[index]) - 1 - keyframes_back)
            try:
                self._container.seek(self._keys[k], stream=stream, backward=True, any_frame=False)
                self._decoder = self._decode_frames(self._container)
                self._next_index = -1  # unknown until a frame comes out
                return
            except av.FFmpegError:
                pass
        self._container.seek(0)
        self._decoder = self._decode_frames(self._container)
        self._next_index = 0

    def _decode_frames(self, container) -> Iterator:
        stream = container.streams.video[0]
        try:
            for packet in container.demux(stream):
                try:
                    yield from packet.decode()
                except av.InvalidDataError:
                    continue  # a damaged packet: its frame is missing, the next keyframe recovers
        except (av.FFmpegError, OSError):
            return

    def _decode_until(self, index: int) -> np.ndarray | None:
        """Decode forward to frame ``index``; None when it never comes out."""
        target = self._pts[index]
        assert self._decoder is not None
        for frame in self._decoder:
            if target is None:
                position = self._next_index
            else:
                position = self._index_of(frame)
                if position is None:
                    continue
            self._next_index = position + 1
            if position == index:
                return frame.to_ndarray(format="bgr24")
            if position > index:
                return None
        # End of the file before the frame: everything from the first missing index on is unreadable.
        if self._next_index >= 0 and self._next_index <= index:
            self._decodable_end = max(self._next_index, 1)
        self._decoder = None
        return None

    def _index_of(self, frame) -> int | None:
        ts = frame.pts if frame.pts is not None else frame.dts
        return self._pts_index.get(ts)

    def _missing(self, index: int) -> MediaError:
        return MediaError(f"{self.path}: frame {index} cannot be decoded (damaged or truncated file)", index=index)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Sequential decoding on its own decoder (independent of ``read``): no per-frame seek."""
        stop = self._clamp_stop(stop)
        start = max(0, int(start))
        if start >= stop:
            return
        if self._decodable_end is not None and start >= self._decodable_end:
            raise self._missing(start)
        container = self._open()
        try:
            if start > 0 and self._pts[start] is not None and self._keys:
                k = max(0, bisect.bisect_right(self._keys, self._pts[start]) - 1)
                container.seek(self._keys[k], stream=container.streams.video[0], backward=True, any_frame=False)
                expected = None  # learnt from the first frame's timestamp
            else:
                expected = 0
            counter = 0
            for frame in self._decode_frames(container):
                if self._pts[0] is None:
                    position = counter
                    counter += 1
                else:
                    position = self._index_of(frame)
                    if position is None:
                        continue
                if position < start:
                    continue
                if expected is None:
                    expected = start
                if position > expected:
                    raise MediaError(f"{self.path}: frame {expected} cannot be decoded (damaged file)", index=expected)
                if position < expected:
                    continue
                yield position, frame.to_ndarray(format="bgr24")
                expected = position + 1
                if expected >= stop:
                    return
            missing = start if expected is None else expected
            if missing < stop:
                if expected is not None:  # decoding reached the end of the data: nothing after it exists
                    self._decodable_end = missing
                raise self._missing(missing)
        finally:
            container.close()

    def close(self) -> None:
        with self._lock:
            self._decoder = None
            self._container.close()


# --------------------------------------------------------------------------- frame folders


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


# --------------------------------------------------------------------------- live streams


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


# --------------------------------------------------------------------------- opening


def open_source(path: str | Path, *, fps: float = 15.0) -> FrameSource:
    """A folder -> :class:`FolderSource` (at ``fps``), a file -> :class:`VideoSource`,
    ``rtsp://``/``http(s)://`` or an all-digit camera index -> :class:`StreamSource`."""
    text = str(path)
    if text.isdigit() or re.match(r"^(rtsp|rtmp|https?)://", text, re.IGNORECASE):
        return StreamSource(text)
    p = Path(text).expanduser()
    if p.is_dir():
        return FolderSource(p, fps=fps)
    if not p.exists():
        raise MediaError(f"{text}: no such file or folder")
    return VideoSource(p)


# Truth lookup and the video writer have modules of their own (camvid_viewer.truth,
# camvid_viewer.video_writer); old imports from here still work. Resolved lazily because
# both modules import this one.
_MOVED = {
    "find_annotations": "camvid_viewer.truth",
    "TruthIndex": "camvid_viewer.truth",
    "VideoWriter": "camvid_viewer.video_writer",
    "temp_path_for": "camvid_viewer.video_writer",
    "remove_stale_temps": "camvid_viewer.video_writer",
}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
