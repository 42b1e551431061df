"""The window a screenshot script photographs, and waiting for it without a test harness.

Scripts under Xvfb have no qtbot: :func:`pump` runs the event loop until a condition holds (or
a time limit passes), then a little longer so the last paint lands before ``import`` grabs the
screen.
"""

from __future__ import annotations

import time


def shot_window(app, **kwargs):
    """A ``MainWindow`` (``kwargs`` as its own) at 1400x870 in the screen's top-left corner, shown."""
    from camvid_viewer.ui.main_window import MainWindow

    window = MainWindow(**kwargs)
    window.resize(1400, 870)
    window.move(0, 0)
    window.show()
    return window


def pump(app, done, seconds: float = 180.0) -> None:
    """Process events until ``done()`` (or ``seconds`` pass), then half a second more."""
    end = time.time() + seconds
    while time.time() < end and not done():
        app.processEvents()
        time.sleep(0.02)
    for _ in range(25):
        app.processEvents()
        time.sleep(0.02)
