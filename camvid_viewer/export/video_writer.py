"""An atomic H.264 writer, and the temp-file naming that lets a later run clean up a killed one.

numpy, OpenCV and PyAV only: no Qt, no torch. Every output (the video here, and the export's
CSV and mask folder) is written under a :func:`temp_path_for` name beside its target and moved
into place when complete. The name holds the writer's pid and a ``.partial`` mark, so
:func:`remove_stale_temps` can delete what a killed run left without touching a live run's files.

Usage::

    with VideoWriter("out.mp4", fps=15, crf=20) as writer:   # an exception deletes the temp file
        for frame in frames:
            writer.write(frame)
"""

from __future__ import annotations

__all__ = ["VideoWriter", "temp_path_for", "remove_stale_temps"]

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from camvid_viewer.sources import MediaError, short_reason
from model.outputs import pid_alive

#: Marks temp files and folders written beside an output until it is complete.
_TEMP_MARK = ".partial"


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
        if not match or pid_alive(int(match.group(1))):
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed


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
        x264_params: extra x264 settings on top of the preset, ``key=value:key=value``.
        audio_from: a media file whose first audio track is re-encoded to AAC into the output.
        audio_start_s, audio_end_s: the part of that audio to keep (seconds on the source's clock).
        overwrite: replace an existing ``path``.
        threads: x264 encoder threads (``None``: x264 picks, about 1.5 per core). One thread
            costs 15% less CPU per frame; worth it when other work keeps every core busy.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float | Fraction = 15,
        preset: str = "superfast",
        crf: int = 23,
        x264_params: str = "",
        audio_from: str | Path | None = None,
        audio_start_s: float = 0.0,
        audio_end_s: float | None = None,
        overwrite: bool = False,
        threads: int | None = None,
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
        self.x264_params = x264_params
        if threads is not None and threads < 1:
            raise ValueError(f"encoder threads must be >= 1, got {threads}")
        self.threads = threads
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
            raise MediaError(f"{path}: cannot write here ({short_reason(exc)})") from None

    def _start(self, width: int, height: int) -> None:
        self.size = (width, height)
        stream = self._container.add_stream("libx264", rate=self.rate)
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        options = {"preset": self.preset, "crf": str(self.crf)}
        if self.x264_params:
            options["x264-params"] = self.x264_params
        if self.threads is not None:
            options["threads"] = str(self.threads)
        stream.options = options
        self._stream = stream
        if self._audio_from is not None:
            try:
                self._audio = _AudioCopier(self._audio_from, self._container, *self._audio_window)
            except _NoAudio:
                self._audio = None
            except (av.FFmpegError, OSError, ValueError) as exc:
                self._audio = None
                self.audio_note = f"audio not carried over ({short_reason(exc)})"

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
        # OpenCV's BGR -> I420 (BT.601, limited range, as swscale's default) is ~3x faster than
        # letting the encoder convert bgr24 itself.
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        frame.pts = self.frames_written
        frame.time_base = 1 / self.rate
        try:
            self._container.mux(self._stream.encode(frame))
            self.frames_written += 1
            if self._audio is not None:
                self._audio.pump_until(self.frames_written / self.rate)
        except (av.FFmpegError, OSError) as exc:
            raise MediaError(f"{self.path}: cannot write ({short_reason(exc)})") from None

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
            raise MediaError(f"{self.path}: cannot finish the video ({short_reason(exc)})") from None
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
