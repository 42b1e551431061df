"""Frame sources (video file, frame folder, live stream), truth lookup and an atomic H.264 writer.

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
    "find_annotations",
    "TruthIndex",
    "VideoWriter",
    "temp_path_for",
    "remove_stale_temps",
]

import bisect
import os
import re
import secrets
import shutil
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from model.data import DataError, list_images, read_image, read_label

#: Frames decoded forward (instead of seeking) when ``read`` asks for a frame a little ahead.
_FORWARD_WINDOW = 48
#: FFmpeg demuxers/decoders that turn text files into "video".
_TEXT_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
_TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
#: Marks temp files and folders written beside an output until it is complete.
_TEMP_MARK = ".partial"


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


def _short(exc: BaseException) -> str:
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
            raise MediaError(f"{self.path}: not a video FFmpeg can read ({_short(exc)})") from None
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
            raise MediaError(f"{path}: cannot list the folder ({_short(exc)})") from None
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
            raise MediaError(f"{annotations_dir}: cannot list the folder ({_short(exc)})") from None
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


# --------------------------------------------------------------------------- atomic outputs


def temp_path_for(target: str | Path, *, suffix: str = "") -> Path:
    """A temp name beside ``target`` that :func:`remove_stale_temps` recognises (it holds our pid)."""
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(3)}{_TEMP_MARK}{suffix}")


def remove_stale_temps(target: str | Path) -> list[Path]:
    """Delete temp files/folders beside ``target`` left by a run that was killed (its pid is gone)."""
    target = Path(target)
    removed = []
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        return removed
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)-[0-9a-f]+{re.escape(_TEMP_MARK)}")
    for entry in parent.iterdir():
        match = pattern.match(entry.name)
        if not match or _pid_alive(int(match.group(1))):
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class VideoWriter:
    """H.264 MP4 (libx264, yuv420p) written to a temp file beside ``path``, renamed on ``close()``.

    ``abort()`` (or leaving a ``with`` block by an exception) deletes the temp file: a reader
    never sees a partial video. Odd widths/heights, which 4:2:0 H.264 cannot hold, are padded
    by one edge pixel.

    Args:
        path: the MP4 to write.
        fps: frame rate (a ``Fraction`` such as 30000/1001 keeps NTSC rates exact).
        preset: x264 speed/size trade-off (``ultrafast`` .. ``medium``).
        crf: x264 constant quality (lower is better; 18 is visually lossless, 23 the default).
        audio_from: a media file whose first audio track is re-encoded to AAC into the output.
        audio_start_s, audio_end_s: the part of that audio to keep (seconds on the source's clock).
        overwrite: replace an existing ``path``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float | Fraction = 15,
        preset: str = "superfast",
        crf: int = 23,
        audio_from: str | Path | None = None,
        audio_start_s: float = 0.0,
        audio_end_s: float | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise MediaError(f"{path}: is a folder, expected a video file name")
        if self.path.exists() and not overwrite:
            raise MediaError(f"{path}: already exists (use --overwrite to replace it)")
        remove_stale_temps(self.path)
        self.rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        if self.rate <= 0:
            raise MediaError(f"{path}: frame rate must be > 0, got {fps}")
        self.preset = preset
        self.crf = int(crf)
        self.frames_written = 0
        self.audio_note: str | None = None  # why the audio was dropped, if it was
        self.size: tuple[int, int] | None = None
        self._audio_from = audio_from
        self._audio_window = (float(audio_start_s), audio_end_s)
        self._audio = None
        self._stream = None
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.temp_path = temp_path_for(self.path, suffix=".mp4")
            # faststart: the index goes first, so browsers play the file while it downloads
            self._container = av.open(str(self.temp_path), "w", format="mp4", options={"movflags": "+faststart"})
        except (OSError, av.FFmpegError) as exc:
            raise MediaError(f"{path}: cannot write here ({_short(exc)})") from None

    def _start(self, width: int, height: int) -> None:
        self.size = (width, height)
        stream = self._container.add_stream("libx264", rate=self.rate)
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": self.preset, "crf": str(self.crf)}
        self._stream = stream
        if self._audio_from is not None:
            try:
                self._audio = _AudioCopier(self._audio_from, self._container, *self._audio_window)
            except _NoAudio:
                self._audio = None
            except (av.FFmpegError, OSError, ValueError) as exc:
                self._audio = None
                self.audio_note = f"audio not carried over ({_short(exc)})"

    def write(self, frame_bgr: np.ndarray) -> None:
        """Append one BGR uint8 frame (every frame must have the first frame's size)."""
        if self._closed:
            raise MediaError(f"{self.path}: writer already closed")
        h, w = frame_bgr.shape[:2]
        if self._stream is None:
            self._start(w, h)
        elif (w, h) != self.size:
            raise MediaError(f"{self.path}: frame {self.frames_written} is {w}x{h}, the video is {self.size[0]}x{self.size[1]}")
        if w % 2 or h % 2:
            frame_bgr = cv2.copyMakeBorder(frame_bgr, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_bgr), format="bgr24")
        frame.pts = self.frames_written
        frame.time_base = 1 / self.rate
        try:
            self._container.mux(self._stream.encode(frame))
            self.frames_written += 1
            if self._audio is not None:
                self._audio.pump_until(self.frames_written / self.rate)
        except (av.FFmpegError, OSError) as exc:
            raise MediaError(f"{self.path}: cannot write ({_short(exc)})") from None

    def close(self) -> Path:
        """Finish the file and move it into place; returns the output path."""
        if self._closed:
            return self.path
        if self._stream is None:
            self.abort()
            raise MediaError(f"{self.path}: no frames to write")
        try:
            self._container.mux(self._stream.encode(None))
            if self._audio is not None:
                self._audio.finish(self.frames_written / self.rate)
            self._container.close()
            self._closed = True
            os.replace(self.temp_path, self.path)
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise MediaError(f"{self.path}: cannot finish the video ({_short(exc)})") from None
        return self.path

    def abort(self) -> None:
        """Stop and delete the temp file; nothing appears at ``path``."""
        if not self._closed:
            self._closed = True
            if self._audio is not None:
                self._audio.close()
            try:
                self._container.close()
            except (av.FFmpegError, OSError, ValueError):
                pass
        self.temp_path.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class _NoAudio(Exception):
    pass


class _AudioCopier:
    """Decode a source's audio, keep ``[start_s, end_s)``, re-encode it to AAC in step with the video."""

    def __init__(self, source: str | Path, output, start_s: float, end_s: float | None) -> None:
        self._input = av.open(str(source), "r")
        if not self._input.streams.audio:
            self._input.close()
            raise _NoAudio
        in_stream = self._input.streams.audio[0]
        rate = in_stream.codec_context.sample_rate or 48000
        layout = "stereo" if (in_stream.codec_context.channels or 2) >= 2 else "mono"
        self._stream = output.add_stream("aac", rate=rate, layout=layout)
        self._output = output
        self._rate = rate
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        self._start_s = start_s
        self._end_s = end_s
        self._origin_s = self._video_origin()
        self._written = 0  # samples
        self._frames = self._decode(in_stream)
        self._done = False

    def _video_origin(self) -> float:
        """Source time of the first video frame: audio is aligned to the video, not to zero."""
        if not self._input.streams.video:
            return 0.0
        v = self._input.streams.video[0]
        return float((v.start_time or 0) * v.time_base) if v.time_base else 0.0

    def _decode(self, stream) -> Iterator:
        for frame in self._input.decode(stream):
            yield from self._resampler.resample(frame)
        yield from self._resampler.resample(None)

    def pump_until(self, video_time_s: float) -> None:
        """Encode audio up to a little past the video written so far (keeps the file interleaved)."""
        while not self._done and self._written / self._rate < video_time_s + 0.5:
            self._encode_next()

    def _encode_next(self) -> None:
        frame = next(self._frames, None)
        if frame is None:
            self._done = True
            return
        start = self._origin_s + self._start_s
        end = None if self._end_s is None else self._origin_s + self._end_s
        t0 = float(frame.pts * frame.time_base) if frame.pts is not None else start + self._written / self._rate
        samples = frame.to_ndarray()  # (channels, n) float32 planar
        first = max(0, round((start - t0) * self._rate))
        last = samples.shape[1] if end is None else min(samples.shape[1], round((end - t0) * self._rate))
        if end is not None and t0 >= end:
            self._done = True
            return
        if first >= last:
            return
        chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, first:last]), format="fltp", layout=frame.layout.name)
        chunk.sample_rate = self._rate
        chunk.pts = self._written
        chunk.time_base = Fraction(1, self._rate)
        self._written += last - first
        self._output.mux(self._stream.encode(chunk))

    def finish(self, video_duration_s: float) -> None:
        if self._end_s is None:
            self._end_s = self._start_s + video_duration_s
        while not self._done:
            self._encode_next()
        self._output.mux(self._stream.encode(None))
        self.close()

    def close(self) -> None:
        self._input.close()
