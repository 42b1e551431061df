"""BackgroundCall: run one function on a daemon thread and report back through Qt signals.

For one-off jobs off the GUI thread: load a model, open a source, download, evaluate a
source. A plain ``threading`` daemon (not a ``QThread``), so a job stuck in a blocking call
can never hang shutdown; the signals are queued onto the receiver's (GUI) thread by Qt.
"""

from __future__ import annotations

__all__ = ["BackgroundCall"]

import inspect
import threading

from PyQt6.QtCore import QObject, pyqtSignal

from camvid_viewer.messages import one_line

_LIVE_CALLS: set = set()  # keeps BackgroundCall objects alive until their thread ends


class BackgroundCall(QObject):
    """Run ``fn(*args, **kwargs)`` on a daemon thread; report ``done(result)`` or ``failed(message)``.

    If ``fn`` takes ``progress`` / ``cancel`` keywords they are filled in: ``progress``
    forwards its arguments to the ``progress`` signal, ``cancel`` is a ``threading.Event``
    set by :meth:`cancel`.
    """

    done = pyqtSignal(object)
    failed = pyqtSignal(str)
    progress = pyqtSignal(object)
    finished = pyqtSignal()

    def __init__(self, fn, *args, **kwargs) -> None:
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self.cancel_event = threading.Event()
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        if "progress" in params:
            self._kwargs.setdefault("progress", lambda *a: self._emit(self.progress, a))
        if "cancel" in params:
            self._kwargs.setdefault("cancel", self.cancel_event)

    def start(self) -> None:
        _LIVE_CALLS.add(self)
        threading.Thread(target=self._run, name=f"call-{getattr(self._fn, '__name__', 'job')}", daemon=True).start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def _run(self) -> None:
        try:
            result = self._fn(*self._args, **self._kwargs)
        except Exception as exc:  # noqa: BLE001 - reported as one line to the user
            self._emit(self.failed, one_line(exc))
        else:
            self._emit(self.done, result)
        finally:
            self._emit(self.finished)
            _LIVE_CALLS.discard(self)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the receiver went away (window closed): nothing to tell
            pass
