"""Headless export: overlay video (H.264 MP4), label masks and per-frame metrics for one source.

Three stages overlap on separate threads joined by bounded queues (back-pressure, no sleeps)::

    decode thread --queue--> inference (calling thread) --queue--> render + encode thread

The caller passes any object with the ``Segmenter`` interface (``segment(frame).labels`` and a
``label_set``: its classes, colours and void), so this module imports neither torch nor Qt; the
CLI and the window's worker build the ``model.inference.Segmenter``.

Nothing half-written is ever left at a target: the video, the CSV and the masks are written to
temp files beside their targets and moved into place only when every frame is done. Cancel
(``threading.Event``), Ctrl-C or an error removes the temp files; a killed run's temp files are
removed by the next run.

Usage::

    from camvid_viewer.export.job import ExportOptions, export_video
    result = export_video("clip.mp4", "clip-overlay.mp4", segmenter=Segmenter(),
                          options=ExportOptions(view="overlay", metrics_csv=Path("clip.csv")))
    print(result.summary())
"""

from __future__ import annotations

__all__ = ["export_video", "check_export"]

import os
import queue
import shutil
import threading
import time
from collections import deque
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camvid_viewer.analysis.live import segment_with_confidence, takes_keyword
from camvid_viewer.export.frame_drawer import FrameDrawer
from camvid_viewer.export.metrics_csv import MetricsRows
from camvid_viewer.export.options import (
    EXPORT_VIEWS,
    ON_BAD_FRAME,
    QUALITY,
    ExportCancelled,
    ExportError,
    ExportOptions,
    ExportResult,
    ProgressCallback,
)
from camvid_viewer.export.plan import check_targets, locked_output
from camvid_viewer.export.stages import END, StagedJob
from camvid_viewer.export.video_writer import VideoWriter, temp_path_for
from camvid_viewer.sources import FrameSource, MediaError, VideoSource, open_source
from camvid_viewer.sources.truth import TruthIndex, find_annotations
from model.inference import run_now


@dataclass
class _Item:
    index: int
    frame: np.ndarray | None  # None: unreadable, repeat the previous output frame
    labels: np.ndarray | None = None
    confidence: np.ndarray | None = None  # winning-class probability, when the CSV wants the signals
    second: np.ndarray | None = None  # model B's labels (export --compare)


def export_video(
    source: str | Path | FrameSource,
    output: str | Path,
    *,
    segmenter,
    options: ExportOptions | None = None,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
) -> ExportResult:
    """Export one source; see the module docstring.

    Args:
        source: video file, frame folder or an open :class:`FrameSource` (left open).
        output: the MP4 to write.
        segmenter: a ``model.inference.Segmenter`` (or anything with its interface).
        options: what to draw and write.
        cancel: set it to stop; the call then raises :class:`ExportCancelled` having written nothing.
        progress: ``progress(done, total, fps)`` after each frame, called on the encoder thread.

    Raises:
        ExportError, MediaError: bad input or output (one line naming the file).
        ExportCancelled: ``cancel`` was set.
    """
    options = options or ExportOptions()
    job = _ExportJob(source, Path(output), segmenter, options, cancel or threading.Event(), progress)
    return job.run()


def check_export(source: str | Path, output: str | Path, options: ExportOptions | None = None) -> None:
    """Raise the :class:`ExportError`/:class:`MediaError` that :func:`export_video` would raise
    before its first frame (bad source, range, truth, existing outputs), without a model."""
    job = _ExportJob(source, Path(output), None, options or ExportOptions(), threading.Event(), None)
    try:
        job.check()
    finally:
        if job.own_source:
            job.source.close()


class _ExportJob(StagedJob):
    def __init__(self, source, output: Path, segmenter, options: ExportOptions, cancel: threading.Event, progress) -> None:
        if options.view not in EXPORT_VIEWS:
            raise ExportError(f"unknown view {options.view!r}; choose from {', '.join(EXPORT_VIEWS)}")
        if options.quality not in QUALITY:
            raise ExportError(f"unknown quality {options.quality!r}; choose from {', '.join(QUALITY)}")
        if options.on_bad_frame not in ON_BAD_FRAME:
            raise ExportError(f"unknown --on-bad-frame {options.on_bad_frame!r}; choose from {', '.join(ON_BAD_FRAME)}")
        self.output = output
        self.segmenter = segmenter
        self.options = options
        self.cancel = cancel
        self.progress = progress
        self.own_source = not isinstance(source, FrameSource)
        self.source: FrameSource = open_source(source, fps=options.fps) if self.own_source else source
        super().__init__()
        self.bad_frames: list[int] = []
        self.resized = 0
        self.temps: list[Path] = []
        self.writer: VideoWriter | None = None

    # -- setup

    def check(self) -> None:
        """Everything that can be wrong before a frame is decoded (no model needed)."""
        src, opt = self.source, self.options
        if src.is_live or src.frame_count is None:
            raise ExportError(f"{src.path}: live streams cannot be exported; record them to a file first")
        self.start = opt.start
        self.stop = src.frame_count if opt.stop is None else min(opt.stop, src.frame_count)
        if self.start >= src.frame_count:
            raise ExportError(f"{src.path}: --range starts at frame {self.start} but the source has {src.frame_count} frames")
        self.total = self.stop - self.start
        self.truth = self._truth_index()
        if self.truth is not None:  # a wrong-size or bomb annotation is refused before the model loads
            self.truth.check_headers(range(self.start, self.stop), src.size)
        self._check_targets()

    def _prepare(self) -> None:
        self.check()
        self.drawer = FrameDrawer(self.segmenter, self.options, self.truth)
        self.scored = self.drawer.scored
        self.metrics = MetricsRows(self.scored.names, self.scored.void_index)
        self.signals = self.options.metrics_csv is not None  # the CSV's confidence and flicker columns

    def _truth_index(self) -> TruthIndex | None:
        folder = self.options.annotations
        if folder is None and self.options.find_truth:
            folder = find_annotations(self.source)
        if folder is None:
            return None
        truth = TruthIndex.for_source(self.source, folder)
        if not any(self.start <= i < self.stop for i in truth.labelled_indices):
            if self.options.annotations is not None:
                raise ExportError(f"{folder}: no annotation matches a frame of {self.source.path} in the exported range")
            return None
        return truth

    def _check_targets(self) -> None:
        model = getattr(self.segmenter, "path", None) if self.segmenter is not None else None
        check_targets(self.output, self.options, source=self.source, frames=range(self.start, self.stop),
                      annotations=self.truth.annotations_dir if self.truth else None, model=model)

    def _open_writer(self) -> VideoWriter:
        src, opt = self.source, self.options
        preset, crf, x264_params = QUALITY[opt.quality]
        audio = {}
        if isinstance(src, VideoSource) and src.has_audio:
            end = src.info(self.stop).time_s if self.stop < src.frame_count else None
            audio = {"audio_from": src.path, "audio_start_s": src.info(self.start).time_s, "audio_end_s": end}
        rate = src.rate if isinstance(src, VideoSource) else opt.fps
        # A CPU model keeps every core busy, so x264's own threads only add overhead; a GPU
        # model leaves the cores to the encoder.
        threads = 1 if getattr(self.segmenter, "device", "cpu") == "cpu" else None
        try:
            return VideoWriter(self.output, fps=rate, preset=preset, crf=crf, x264_params=x264_params,
                               overwrite=opt.overwrite, threads=threads, **audio)
        except MediaError as exc:
            raise ExportError(str(exc)) from None

    # -- run

    def run(self) -> ExportResult:
        t0 = time.monotonic()
        locks = ExitStack()
        try:
            self._prepare()
            for target in (self.output, self.options.metrics_csv, self.options.masks_dir):
                if target is not None:  # a second run into any of these is refused, not mixed in
                    locks.enter_context(locked_output(target))
            self.writer = self._open_writer()
            if self.options.masks_dir is not None:
                self.masks_temp = temp_path_for(self.options.masks_dir)
                self.masks_temp.mkdir(parents=True)
                self.temps.append(self.masks_temp)
            self.t0 = time.monotonic()
            self._run_stages(self._decode, self._infer, self._encode, queue_size=self.options.queue_size)
            if self.cancel.is_set():
                raise ExportCancelled(f"{self.output}: export cancelled; nothing written")
            result = self._finish(t0)
        except BaseException:
            self._abort()
            raise
        finally:
            locks.close()
            if self.own_source:
                self.source.close()
        return result

    # -- stages

    def _decode(self, out: queue.Queue) -> None:
        src, repeat = self.source, self.options.on_bad_frame == "repeat"
        width, height = src.size
        index = self.start
        while index < self.stop:
            try:
                for position, frame in src.frames(index, self.stop):
                    if frame.shape[:2] != (height, width):
                        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
                        self.resized += 1
                    self._put(out, _Item(position, frame))
                    index = position + 1
                index = self.stop
            except MediaError as exc:
                if not repeat:
                    raise ExportError(f"{exc}; stopped (--on-bad-frame repeat keeps going, repeating the previous frame)") from None
                bad = exc.index if exc.index is not None else index
                self.bad_frames.append(bad)
                self._put(out, _Item(bad, None))
                index = bad + 1
        self._put(out, END)

    def _infer(self, inp: queue.Queue, out: queue.Queue) -> None:
        # Frames are submitted in order and leave in order. Up to twice the segmenter's
        # preferred batch are in flight, so on the ONNX backend a lane that finishes takes the
        # next frame at once (no core waits for the slowest frame of a group). A segmenter
        # without ``submit`` (or a smoother, whose batch is 1) runs each frame as it comes.
        depth = 1
        if self._can_submit():
            depth = 2 * max(1, int(getattr(self.segmenter, "preferred_batch", 1)))
        in_flight: deque[tuple[_Item, Future | None]] = deque()
        ended = False
        try:
            while True:
                while not ended and len(in_flight) < depth:
                    try:
                        item = inp.get_nowait() if in_flight else self._get(inp)
                    except queue.Empty:
                        break  # the decoder is behind: deliver what is done meanwhile
                    if item is END:
                        ended = True
                    else:
                        in_flight.append((item, None if item.frame is None else self._submit(item.frame)))
                if not in_flight:
                    break
                item, future = in_flight.popleft()
                if future is not None:
                    prediction = self._wait(future)
                    item.labels = prediction.labels
                    item.confidence = getattr(prediction, "confidence", None)
                    item.second = getattr(getattr(prediction, "second", None), "labels", None)
                self._put(out, item)
        finally:
            for _, future in in_flight:
                if future is not None:
                    future.cancel()  # frames not started yet; running ones finish and are dropped
        self._put(out, END)

    def _can_submit(self) -> bool:
        # Looked up on the class: a wrapper that forwards unknown attributes to a model (a lock,
        # a gate) must be called through its own ``segment``, not the wrapped model's ``submit``.
        return getattr(type(self.segmenter), "submit", None) is not None

    def _submit(self, frame: np.ndarray) -> Future:
        if not self.signals:
            return self.segmenter.submit(frame) if self._can_submit() else run_now(self.segmenter.segment, frame)
        if self._can_submit() and takes_keyword(self.segmenter.submit, "confidence"):
            return self.segmenter.submit(frame, confidence=True)
        return run_now(segment_with_confidence, self.segmenter, frame)

    def _encode(self, inp: queue.Queue) -> None:
        opt = self.options
        last_image = None
        pending = 0  # leading unreadable frames waiting for the first good one
        done = 0
        while True:
            item = self._get(inp)
            if item is END:
                break
            if item.frame is None:
                self.metrics.bad_frame(item.index, self.source.frame_name(item.index))
                self.drawer.skip()
                if last_image is None:
                    pending += 1
                else:
                    self.writer.write(last_image)
                done += 1
            else:
                truth = self._truth(item.index)
                drawn = self.drawer.draw(item.frame, item.labels, truth, second=item.second, confidence=item.confidence)
                image = drawn.image
                self.metrics.frame(item.index, self.source.frame_name(item.index), drawn.scores, drawn.signals)
                for _ in range(pending + 1):
                    self.writer.write(image)
                pending, last_image = 0, image
                if opt.masks_dir is not None:
                    self._write_mask(item.index, drawn.scored)  # as predict writes them
                done += 1
            if self.progress is not None:
                elapsed = time.monotonic() - self.t0
                self.progress(done, self.total, done / elapsed if elapsed > 0 else 0.0)
        if last_image is None:
            raise ExportError(f"{self.source.path}: no frame in the range could be read")

    def _truth(self, index: int) -> np.ndarray | None:
        if self.truth is None or not self.truth.has(index):
            return None
        truth = self.truth.read(index)
        width, height = self.source.size
        if truth.shape != (height, width):
            raise ExportError(f"{self.truth.path(index)}: annotation is {truth.shape[1]}x{truth.shape[0]}, "
                              f"the frames are {width}x{height}")
        return truth

    def _write_mask(self, index: int, labels: np.ndarray) -> None:
        path = self.masks_temp / f"{self.source.frame_name(index)}.png"
        if not cv2.imwrite(str(path), labels):
            raise ExportError(f"{self.options.masks_dir}: cannot write {path.name}")

    # -- commit or roll back

    def _finish(self, t0: float) -> ExportResult:
        opt = self.options
        cm = self.drawer.cm
        scores = cm.compute() if self.truth is not None and cm.matrix.any() else None
        labelled = self.metrics.labelled
        csv_temp = None
        if opt.metrics_csv is not None:
            csv_temp = temp_path_for(opt.metrics_csv, suffix=".csv")
            self.temps.append(csv_temp)
            self.metrics.write(csv_temp, scores)
        writer = self.writer
        output = writer.close()  # the video is in place; the side files follow
        if csv_temp is not None:
            os.replace(csv_temp, opt.metrics_csv)
        if opt.masks_dir is not None:
            opt.masks_dir.mkdir(parents=True, exist_ok=True)
            for png in self.masks_temp.iterdir():
                os.replace(png, opt.masks_dir / png.name)
            self.masks_temp.rmdir()
        notes = [writer.audio_note] if writer.audio_note else []
        if self.drawer.compared is not None:
            notes.append(self.drawer.compared.note(writer.size))
        elif writer.size != self.source.size and opt.view == "side-by-side":
            notes.append(f"side-by-side view: the video is {writer.size[0]}x{writer.size[1]} (panels of {self.source.size[0]}x{self.source.size[1]})")
        return ExportResult(
            output=output, frames=writer.frames_written, size=writer.size, fps=float(writer.rate),
            bad_frames=sorted(self.bad_frames), resized_frames=self.resized, labelled_frames=labelled, scores=scores,
            matrix=cm.matrix.copy() if scores is not None else None,
            annotations=self.truth.annotations_dir if self.truth else None, metrics_csv=opt.metrics_csv,
            masks_dir=opt.masks_dir, elapsed_s=time.monotonic() - t0, notes=notes,
            signals=self.metrics.signals if self.signals and self.metrics.signals.frames else None,
        )

    def _abort(self) -> None:
        self.stop_event.set()
        if self.writer is not None:
            self.writer.abort()
        for temp in self.temps:
            if temp.is_dir():
                shutil.rmtree(temp, ignore_errors=True)
            else:
                temp.unlink(missing_ok=True)

