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

from PyQt6.QtCore import QObject, pyqtSignal

from camvid_viewer.analysis.live import analyse_frame
from camvid_viewer.messages import one_line
from camvid_viewer.session import frame_interval

_END = object()


def _time_of(source, index: int) -> float:
    try:
        return float(source.info(index).time_s)
    except Exception:  # noqa: BLE001 - live streams and odd containers: fall back to the nominal rate
        return index / (source.fps or 30.0)


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

    def _still_frame(self, run_id, source, index, model, truth, generation) -> None:
        try:
            frame = source.read(index)
        except Exception as exc:  # noqa: BLE001 - MediaError or a decoder failure: one line
            self._emit(self._signals.frame_failed, run_id, index, one_line(exc))
            return
        try:
            result = analyse_frame(frame, index=index, model=model, truth=truth, time_s=_time_of(source, index), generation=generation)
        except Exception as exc:  # noqa: BLE001
            self._emit(self._signals.frame_failed, run_id, index, f"frame {index}: the model failed: {one_line(exc)}")
            return
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
        interval = None if live else frame_interval(fps=source.fps, speed=speed)
        clock, seq = None, 0
        reason = "stopped"
        try:
            while not cancel.is_set():
                try:
                    item = frames.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _END:
                    reason = "end"
                    break
                if isinstance(item[0], str):
                    reason = f"{item[0]}: {item[1]}"
                    break
                index, payload = item
                if isinstance(payload, Exception):
                    self._emit(self._signals.frame_failed, run_id, index, one_line(payload))
                    continue
                now = time.perf_counter()
                clock = now if clock is None else clock
                due = clock + seq * interval if interval else now
                seq += 1
                if mode == "realtime" and interval and now > due + interval:
                    self._emit(self._signals.dropped, run_id, 1)  # its display time has passed
                    continue
                try:
                    result = analyse_frame(payload, index=index, model=model, truth=truth, time_s=_time_of(source, index), generation=generation)
                except Exception as exc:  # noqa: BLE001
                    reason = f"error: frame {index}: the model failed: {one_line(exc)}"
                    break
                if interval:
                    wait = due - time.perf_counter()
                    if wait > 0:
                        cancel.wait(wait)
                    elif mode == "every-frame" and -wait > interval:
                        clock = time.perf_counter() - seq * interval  # late: re-anchor instead of bursting
                while not ack.acquire(timeout=0.1):
                    if cancel.is_set():
                        return
                self._emit(self._signals.result, run_id, result)
        finally:
            if not cancel.is_set():
                self._emit(self._signals.finished, run_id, reason)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # window already gone
            pass
