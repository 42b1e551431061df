"""Video files, decoded with PyAV: frame-accurate random access and fast sequential reading.

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

__all__ = ["VideoSource"]


import bisect
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from camvid_viewer.sources.base import FrameInfo, FrameSource, MediaError, short_reason
from model.data import DataError, max_image_pixels

#: Frames decoded forward (instead of seeking) when ``read`` asks for a frame a little ahead.
_FORWARD_WINDOW = 48
#: FFmpeg demuxers/decoders that turn text files into "video".
_TEXT_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
_TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})


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
        self._check_frame_size(stream)
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

    def _check_frame_size(self, stream) -> None:
        """Refuse a stream whose header claims frames too big to decode (a decompression bomb)."""
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        try:
            limit = max_image_pixels()
        except DataError as exc:
            self._container.close()
            raise MediaError(str(exc)) from None
        if width * height > limit:
            self._container.close()
            raise MediaError(f"{self.path}: video claims {width}x{height} frames, over the {limit / 1e6:g}-megapixel "
                             "limit (CAMVID_VIEWER_MAX_PIXELS raises it)")

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
