"""Stages on threads joined by bounded queues: the first failure or a cancel stops them all."""

from __future__ import annotations

__all__ = ["StagedJob", "END", "Stopped"]

import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

END = object()  # put on a queue after a stage's last item


class Stopped(Exception):
    """A stage saw the stop flag: another stage failed or the user cancelled."""


class StagedJob:
    """Queue plumbing for a job whose stages run on threads: every wait can be interrupted.

    Subclasses set ``cancel`` (a ``threading.Event`` the user sets); ``stop_event`` is set
    by the first stage that fails, and ``errors`` keeps that failure for the calling thread.
    """

    cancel: threading.Event

    def __init__(self) -> None:
        self.stop_event = threading.Event()  # any stage failed or the job was cancelled
        self.errors: list[BaseException] = []

    def _run_stages(self, first, middle, last, *, queue_size: int) -> None:
        """``first`` fills a queue that ``middle`` (on the calling thread, so Ctrl-C reaches it)
        turns into a second queue that ``last`` drains; re-raises the first stage failure."""
        head: queue.Queue = queue.Queue(maxsize=queue_size)
        tail: queue.Queue = queue.Queue(maxsize=queue_size)
        threads = [
            threading.Thread(target=self._guard, args=(first, head), name=f"stage-{first.__name__.strip('_')}", daemon=True),
            threading.Thread(target=self._guard, args=(last, tail), name=f"stage-{last.__name__.strip('_')}", daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            self._guard(middle, head, tail)
        finally:
            # on success the last stage drains its queue and ends by itself; otherwise stop_event ends it
            if self.errors or self.cancel.is_set():
                self.stop_event.set()
            for t in threads:
                while t.is_alive():
                    t.join(timeout=0.1)
                    if self.cancel.is_set():
                        self.stop_event.set()
        if self.errors:
            raise self.errors[0]

    def _guard(self, stage, *queues) -> None:
        """Run a stage; the first failure stops every stage and is re-raised by ``run``."""
        try:
            stage(*queues)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            if not isinstance(exc, Stopped):
                self.errors.append(exc)
            self.stop_event.set()
            if threading.current_thread() is threading.main_thread() and isinstance(exc, KeyboardInterrupt):
                raise

    def _stopping(self) -> bool:
        return self.stop_event.is_set() or self.cancel.is_set()

    def _put(self, q: queue.Queue, item) -> None:
        while True:
            if self._stopping():
                raise Stopped
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _get(self, q: queue.Queue):
        while True:
            if self._stopping():
                raise Stopped
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue


    def _wait(self, future: Future):
        while True:
            if self._stopping():
                raise Stopped
            try:
                return future.result(timeout=0.1)
            except FutureTimeout:
                continue

