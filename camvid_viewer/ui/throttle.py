"""Refresh at display rate: views that change with every model frame redraw a few times a second.

During playback the model may hand the window 40-80 results a second; a table, a plot or a
label that redraws for each of them takes the CPU the model needs, and nobody reads numbers
that change 80 times a second. :class:`DisplayRefresh` runs a view's refresh at most
``1000 / interval_ms`` times a second while the session plays, skips a view that is hidden
(it catches up when shown), and runs it at once whenever playback is not running: a still,
a step or a seek shows its numbers immediately, and the moment playback stops or pauses the
view shows the last frame's values.
"""

from __future__ import annotations

__all__ = ["DisplayRefresh", "DISPLAY_INTERVAL_MS", "TIMELINE_INTERVAL_MS"]

from collections.abc import Callable

from PyQt6.QtCore import QObject, QTimer

#: Milliseconds between refreshes during playback (5 a second).
DISPLAY_INTERVAL_MS = 200
#: The same for plots of the whole source (2 a second): one repaint of a plot costs as much as
#: several of a table, and a curve over hundreds of frames moves little in 0.2 s.
TIMELINE_INTERVAL_MS = 500


class DisplayRefresh(QObject):
    """Call :meth:`request` whenever the data behind a view changed; ``refresh`` runs at display rate.

    Args:
        refresh: redraws the view from the current data (no arguments).
        session: the ``ViewerSession``; its ``playing`` flag decides throttled or immediate.
        widget: the view whose visibility counts; ``None`` for a view that is always drawn.
        interval_ms: the least time between two refreshes during playback.
    """

    def __init__(self, refresh: Callable[[], None], session, widget=None, *, interval_ms: int = DISPLAY_INTERVAL_MS) -> None:
        super().__init__(widget)
        self._refresh = refresh
        self._session = session
        self._widget = widget
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        session.events.playback.connect(self._playback_changed)

    @property
    def pending(self) -> bool:
        """Data changed since the last refresh."""
        return self._pending

    def request(self) -> None:
        """The data changed: refresh now when not playing, else at the next display tick."""
        self._pending = True
        if not self._session.playing:
            self.flush()
        elif not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Refresh now if anything changed (a hidden view waits until shown, unless paused)."""
        if not self._pending:
            return
        if self._session.playing and not self._visible():
            return  # no work for a hidden view during playback; shown() catches it up
        self._pending = False
        self._timer.stop()
        self._refresh()

    def shown(self, visible: bool = True) -> None:
        """Connect to a dock's ``visibilityChanged`` (or call from ``showEvent``)."""
        if visible:
            self.flush()

    def _visible(self) -> bool:
        return self._widget is None or self._widget.isVisible()

    def _tick(self) -> None:
        self.flush()

    def _playback_changed(self) -> None:
        if not self._session.playing:
            self.flush()  # playback stopped or paused: the last frame's values, now
