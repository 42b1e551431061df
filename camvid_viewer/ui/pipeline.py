"""The bridge between the window and the model: the one Qt module that calls the Segmenter.

Threads (all plain ``threading`` daemons, so a stream stuck in a blocking read can
never hang or crash shutdown; each reports through typed Qt signals, which Qt
queues onto the GUI thread)::

    decode thread --(bounded queue)--> playback thread --(result signal, <= 2 in flight)--> GUI
    still thread: the one frame the slider/counter names while paused (latest request wins)
    BackgroundCall (ui/background.py): one-off jobs (load a model, open a source, download)

Cancel is cooperative (``threading.Event``); every blocking wait has a short timeout
so a cancel is seen within ~0.1 s plus at most one model call. Back-pressure, not
sleeps, decides what happens when the model is slow: real-time mode drops frames
whose display time has passed (counted), every-frame mode waits for the model.
"""

from __future__ import annotations

__all__ = ["InferencePipeline"]

import queue
import threading
import time
from collections import deque

from PyQt6.QtCore import QObject, pyqtSignal

from camvid_viewer.analysis.live import analyse_frame, takes_keyword
from camvid_viewer.messages import one_line
from camvid_viewer.session import frame_interval
from model.signals import DEFAULT_LOW_CONFIDENCE

_END = object()


def _time_of(source, index: int) -> float:
    try:
        return float(source.info(index).time_s)
    except Exception:  # noqa: BLE001 - live streams and odd containers: fall back to the nominal rate
        return index / (source.fps or 30.0)


class _ModelFailed(Exception):
    """The model failed on a frame: the run ends with this one line."""


class _PlaybackRun:
    """One playback run's frames in flight: submitted to the model's lanes in order, up to
    two per lane (as export does), then scored, paced and handed to the GUI in order.

    A model without lanes (PyTorch, the temporal smoother) runs each frame on this thread.
    """

    def __init__(self, pipeline, run_id, cancel, ack, model, truth, generation, mode, source, *, signals, threshold,
                 interval, motion=False) -> None:
        self.pipeline, self.run_id, self.cancel, self.ack = pipeline, run_id, cancel, ack
        self.model, self.truth, self.generation, self.mode, self.source = model, truth, generation, mode, source
        self.signals, self.threshold, self.interval, self.motion = signals, threshold, interval, motion
        submit = getattr(model, "submit", None)
        lanes = getattr(model, "preferred_batch", 1) if callable(submit) and takes_keyword(submit, "confidence") else 1
        self.depth = 2 * lanes if lanes > 1 else 0
        self.pending: deque = deque()  # (index, frame, future, due)
        self.clock, self.seq = None, 0
        self.previous = None  # (index, labels, frame) of the last frame shown: flicker

    def add(self, index: int, frame) -> None:
        now = time.perf_counter()
        self.clock = now if self.clock is None else self.clock
        due = self.clock + self.seq * self.interval if self.interval else now
        self.seq += 1
        if self.mode == "realtime" and self.interval and now > due + self.interval:
            self.pipeline._emit(self.pipeline._signals.dropped, self.run_id, 1)  # its display time has passed
            return
        if not self.depth:
            self._finish(index, frame, None, due)
            return
        self.pending.append((index, frame, self.model.submit(frame, confidence=self.signals), due))
        while len(self.pending) >= self.depth and not self.cancel.is_set():
            self._finish(*self.pending.popleft())

    def finish_ready(self) -> None:
        """The decoder is behind: hand over what the lanes have finished meanwhile."""
        while self.pending and self.pending[0][2].done() and not self.cancel.is_set():
            self._finish(*self.pending.popleft())

    def finish_all(self) -> None:
        while self.pending and not self.cancel.is_set():
            self._finish(*self.pending.popleft())

    def cancel_pending(self) -> None:
        for entry in self.pending:
            entry[2].cancel()
        self.pending.clear()

    def _finish(self, index, frame, future, due) -> None:
        try:
            prediction = None if future is None else future.result()
            result = analyse_frame(frame, index=index, model=self.model, truth=self.truth, time_s=_time_of(self.source, index),
                                   generation=self.generation, signals=self.signals, previous=self.previous,
                                   threshold=self.threshold, prediction=prediction, motion=self.motion)
        except Exception as exc:  # noqa: BLE001
            raise _ModelFailed(f"error: frame {index}: the model failed: {one_line(exc)}") from exc
        if result.labels is not None:
            self.previous = (index, result.labels, frame)
        if self.interval:
            wait = due - time.perf_counter()
            if wait > 0:
                self.cancel.wait(wait)
            elif self.mode == "every-frame" and -wait > self.interval:
                self.clock = time.perf_counter() - self.seq * self.interval  # late: re-anchor instead of bursting
        while not self.ack.acquire(timeout=0.1):
            if self.cancel.is_set():
                return
        self.pipeline._emit(self.pipeline._signals.result, self.run_id, result)


class _RunSignals(QObject):
    """Signals of the worker threads; each carries the run id so stale results are dropped."""

    result = pyqtSignal(int, object)
    frame_failed = pyqtSignal(int, int, str)
    dropped = pyqtSignal(int, int)
    finished = pyqtSignal(int, str)


class InferencePipeline(QObject):
    """Decoding, inference and scoring for the window; the window never calls the model.

    Signals (GUI thread): ``result(FrameResult)``, ``frame_failed(index, message)``
    (an unreadable frame; playback goes on), ``dropped(n)`` (frames skipped in real-time
    mode since the last report), ``finished(reason)`` where reason is ``"end"``,
    ``"stopped"``, ``"lost: <message>"`` (live source gone: offer Retry) or
    ``"error: <message>"``. Call :meth:`acknowledge` once a result is painted.
    """

    result = pyqtSignal(object)
    frame_failed = pyqtSignal(int, str)
    dropped = pyqtSignal(int)
    finished = pyqtSignal(str)

    PREFETCH = 6  # decoded frames waiting for the model (bounded: memory stays flat)
    IN_FLIGHT = 2  # results sent to the GUI and not yet painted

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._signals = _RunSignals()
        self._signals.result.connect(self._on_result)
        self._signals.frame_failed.connect(self._on_frame_failed)
        self._signals.dropped.connect(self._on_dropped)
        self._signals.finished.connect(self._on_finished)
        self._run_id = 0
        self._cancel = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ack = threading.Semaphore(self.IN_FLIGHT)
        self._still_cond = threading.Condition()
        self._still_request = None
        self._still_busy = threading.Lock()  # held while the still thread reads a source
        self._shutdown = threading.Event()
        self._still_previous = None
        self.signals = False  # also the model's own signals (confidence, flicker): set while a view shows them
        self.low_confidence = DEFAULT_LOW_CONFIDENCE  # their "low confidence" threshold
        self.motion_flicker = False  # their flicker after motion compensation
        self._still_thread = threading.Thread(target=self._still_loop, name="still-frame", daemon=True)
        self._still_thread.start()

    # -- public API (GUI thread) --------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def source_lock(self) -> threading.Lock:
        """Held while the still thread reads a source: hold it to read one yourself meanwhile."""
        return self._still_busy

    @property
    def busy(self) -> bool:
        """Playing, or a still frame asked for and not yet delivered to the GUI thread."""
        return self.playing or self._still_request is not None or self._still_busy.locked()

    def show_frame(self, *, source, index: int, model, truth, generation: int) -> None:
        """Decode, segment and score exactly frame ``index`` (latest request wins)."""
        self.stop()
        with self._still_cond:
            self._still_request = (self._run_id, source, index, model, truth, generation)
            self._still_cond.notify()

    def play(self, *, source, start: int, model, truth, generation: int, mode: str,
             speed: float | None, loop: bool) -> None:
        """Play from ``start``: a decode thread feeding a playback thread through a bounded queue."""
        self.stop()
        run_id, cancel = self._run_id, self._cancel
        live = bool(getattr(source, "is_live", False))
        frames: queue.Queue = queue.Queue(maxsize=2 if live else self.PREFETCH)
        self._ack = ack = threading.Semaphore(self.IN_FLIGHT)
        decode = threading.Thread(
            target=self._decode_loop, args=(run_id, cancel, source, start, loop, frames, live), name="decode", daemon=True
        )
        play = threading.Thread(
            target=self._playback_loop,
            args=(run_id, cancel, frames, ack, model, truth, generation, mode, speed, live, source),
            name="playback", daemon=True,
        )
        self._threads = [decode, play]
        decode.start()
        play.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the current run and wait for its threads; queued stale results are ignored."""
        self._cancel.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        self._run_id += 1
        self._cancel = threading.Event()
        with self._still_cond:
            self._still_request = None

    def close_source(self, source) -> None:
        """Close a source no longer shown, once no thread reads it any more."""
        self.stop()
        with self._still_busy:
            source.close()

    def acknowledge(self) -> None:
        """The GUI painted a result: let the playback thread send the next one."""
        self._ack.release()

    def shutdown(self) -> None:
        """Stop everything (window closing)."""
        self.stop()
        self._shutdown.set()
        with self._still_cond:
            self._still_cond.notify_all()
        self._still_thread.join(5.0)

    # -- GUI-thread slots: drop whatever belongs to an old run --------------------------------
    def _on_result(self, run_id: int, result) -> None:
        if run_id == self._run_id:
            self.result.emit(result)

    def _on_frame_failed(self, run_id: int, index: int, message: str) -> None:
        if run_id == self._run_id:
            self.frame_failed.emit(index, message)

    def _on_dropped(self, run_id: int, count: int) -> None:
        if run_id == self._run_id:
            self.dropped.emit(count)

    def _on_finished(self, run_id: int, reason: str) -> None:
        if run_id == self._run_id:
            self._threads = [t for t in self._threads if t.is_alive() and t is not threading.current_thread()]
            self.finished.emit(reason)

    # -- worker threads -----------------------------------------------------------------------
    def _still_loop(self) -> None:
        while True:
            with self._still_cond:
                while self._still_request is None and not self._shutdown.is_set():
                    self._still_cond.wait(0.5)
                if self._shutdown.is_set():
                    return
                run_id, source, index, model, truth, generation = self._still_request
                self._still_request = None
            with self._still_busy:
                self._still_frame(run_id, source, index, model, truth, generation)

    def _previous_still(self, generation: int):
        last = self._still_previous
        return None if last is None or last[0] != generation else last[1:]

    def _still_frame(self, run_id, source, index, model, truth, generation) -> None:
        try:
            frame = source.read(index)
        except Exception as exc:  # noqa: BLE001 - MediaError or a decoder failure: one line
            self._emit(self._signals.frame_failed, run_id, index, one_line(exc))
            return
        try:
            result = analyse_frame(frame, index=index, model=model, truth=truth, time_s=_time_of(source, index),
                                   generation=generation, signals=self.signals, previous=self._previous_still(generation),
                                   threshold=self.low_confidence, motion=self.motion_flicker)
        except Exception as exc:  # noqa: BLE001
            self._emit(self._signals.frame_failed, run_id, index, f"frame {index}: the model failed: {one_line(exc)}")
            return
        if result.labels is not None:
            self._still_previous = (generation, index, result.labels, frame)  # a step forward shows flicker too
        self._emit(self._signals.result, run_id, result)

    def _decode_loop(self, run_id, cancel, source, start, loop, frames, live) -> None:
        """Fill ``frames`` with ``(index, frame | Exception)``; ``_END`` or ``("lost"/"error", msg)`` at the end."""
        from camvid_viewer.sources import MediaError

        # frames() decodes on its own decoder, so the still thread may seek the same source meanwhile.
        reader = source
        index, failures = start, 0
        try:
            while not cancel.is_set():
                try:
                    for i, frame in reader.frames(start=index):
                        if cancel.is_set():
                            return
                        self._put(frames, (i, frame), cancel, live, run_id)
                        index, failures = i + 1, 0
                except (MediaError, OSError, ValueError) as exc:
                    if live:
                        self._put(frames, ("lost", one_line(exc)), cancel, live)
                        return
                    failed_at = exc.index if getattr(exc, "index", None) is not None else index
                    self._put(frames, (failed_at, exc), cancel, live)
                    index, failures = max(index, failed_at) + 1, failures + 1
                    if failures > 25:
                        self._put(frames, ("error", f"{source.path}: {failures} unreadable frames in a row"), cancel, live)
                        return
                    count = reader.frame_count
                    if count is None or index < count:
                        continue
                if live:
                    self._put(frames, ("lost", f"{source.path}: the stream stopped sending frames"), cancel, live)
                    return
                if loop and index > 0:
                    index = 0
                    continue
                self._put(frames, _END, cancel, live)
                return
        except Exception as exc:  # noqa: BLE001 - a decoder failure ends the run with one line
            self._put(frames, ("error", one_line(exc)), cancel, live)

    def _put(self, frames: queue.Queue, item, cancel: threading.Event, live: bool, run_id: int | None = None) -> None:
        if live and run_id is not None:
            # A live source cannot wait: keep the newest frames, count the ones pushed out.
            while not cancel.is_set():
                try:
                    frames.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        frames.get_nowait()
                        self._emit(self._signals.dropped, run_id, 1)
                    except queue.Empty:
                        pass
            return
        while not cancel.is_set():
            try:
                frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _playback_loop(self, run_id, cancel, frames, ack, model, truth, generation, mode, speed, live, source) -> None:
        run = _PlaybackRun(self, run_id, cancel, ack, model, truth, generation, mode, source, signals=self.signals,
                           threshold=self.low_confidence, motion=self.motion_flicker,
                           interval=None if live else frame_interval(fps=source.fps, speed=speed))
        reason = "stopped"
        try:
            while not cancel.is_set():
                try:
                    item = frames.get(timeout=0.1)
                except queue.Empty:
                    run.finish_ready()
                    continue
                if item is _END or isinstance(item[0], str):
                    run.finish_all()
                    reason = "end" if item is _END else f"{item[0]}: {item[1]}"
                    break
                index, payload = item
                if isinstance(payload, Exception):
                    run.finish_all()  # messages keep the order of the frames
                    self._emit(self._signals.frame_failed, run_id, index, one_line(payload))
                    continue
                run.add(index, payload)
        except _ModelFailed as failed:
            reason = str(failed)
        finally:
            run.cancel_pending()
            if not cancel.is_set():
                self._emit(self._signals.finished, run_id, reason)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # window already gone
            pass
