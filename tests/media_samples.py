"""Test media for the media/export tests: videos built from real CamVid frames, with an optional tone.

Importable from any test (``tests/`` is on ``sys.path`` through ``tests/conftest.py``).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import cv2
import numpy as np


def val_frames(camvid_root: Path, count: int, *, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """The first ``count`` frames of the real val clip (BGR), optionally resized to ``size`` (w, h)."""
    files = sorted((camvid_root / "val").glob("*.png"))[:count]
    frames = [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files]
    if size is not None:
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return frames


def write_video(
    path: Path,
    frames: list[np.ndarray],
    *,
    fps: int | Fraction = 15,
    codec: str = "libx264",
    gop: int = 4,
    b_frames: int | None = 2,
    pix_fmt: str = "yuv420p",
    options: dict | None = None,
    tone_hz: float | None = None,
    sample_rate: int = 44100,
    container_options: dict | None = None,
) -> Path:
    """Encode ``frames`` with PyAV: a small GOP (frequent keyframes) and B-frames exercise seeking.

    ``tone_hz`` adds a mono AAC sine track as long as the video.
    """
    h, w = frames[0].shape[:2]
    container = av.open(str(path), "w", options=container_options or {})
    video = container.add_stream(codec, rate=fps)
    video.width, video.height, video.pix_fmt = w, h, pix_fmt
    video.gop_size = gop
    if b_frames is not None:
        video.codec_context.max_b_frames = b_frames
    if options:
        video.options = options
    audio = None
    if tone_hz is not None:
        audio = container.add_stream("aac", rate=sample_rate, layout="mono")
        total = int(round(sample_rate * len(frames) / float(fps)))
        t = np.arange(total) / sample_rate
        wave = (0.3 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
    written = 0
    for i, image in enumerate(frames):
        container.mux(video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")))
        if audio is not None:
            until = int(round(sample_rate * (i + 1) / float(fps)))
            while written < until:
                n = min(1024, until - written)
                chunk = av.AudioFrame.from_ndarray(wave[None, written : written + n], format="fltp", layout="mono")
                chunk.sample_rate = sample_rate
                chunk.pts = written
                written += n
                container.mux(audio.encode(chunk))
    container.mux(video.encode(None))
    if audio is not None:
        container.mux(audio.encode(None))
    container.close()
    return path


def decode_all(path: Path) -> list[np.ndarray]:
    """Every frame of a video decoded sequentially from the start with PyAV (the reference order)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def audio_samples(path: Path) -> tuple[np.ndarray, int]:
    """The first audio track as mono float32 samples, and its sample rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [f.to_ndarray().astype(np.float32).reshape(len(f.layout.channels), -1)[0] for f in container.decode(stream)]
        return np.concatenate(chunks), stream.codec_context.sample_rate


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


@contextmanager
def http_stream(payload: bytes, *, name: str = "live.ts"):
    """Serve ``payload`` at ``http://127.0.0.1:PORT/<name>`` from a local server thread; yields the URL.

    A real network source for the stream paths: OpenCV's FFmpeg reads it over a socket and
    sees the stream end when the server has sent everything (as when a camera drops out).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path != f"/{name}":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the reader went away first

        def log_message(self, *args):  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{name}"
    finally:
        server.shutdown()
        server.server_close()


def mpegts_bytes(folder: Path, frames: list[np.ndarray], *, fps: int = 15) -> bytes:
    """``frames`` as an H.264 MPEG transport stream, the usual format of network cameras."""
    path = write_video(folder / "stream.ts", frames, fps=fps, gop=5, b_frames=0, container_options={})
    return path.read_bytes()
