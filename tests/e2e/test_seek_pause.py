"""The frame shown is the frame named: seek and pause at once, in either state (regression tests).

``pause()`` stops the pipeline, which drops a still-frame request that a seek had just queued
(and any result on its way); the window must then ask for the named frame again.
"""

from __future__ import annotations

import pytest
from test_viewer import WAIT_MS, _copy_split, _make_window

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def long_val(tmp_path, camvid_root):
    """60 real val frames (SegNet layout: truth found beside them)."""
    return _copy_split(camvid_root, tmp_path / "camvid", 60)


def shown(window) -> int | None:
    result = window.session.result
    return None if result is None else result.index


def settled_on(qtbot, window, index: int) -> None:
    """The canvas, the metrics dock, the counter and the slider all name ``index``."""
    qtbot.waitUntil(lambda: shown(window) == index, timeout=WAIT_MS)
    assert window.session.index == index and not window.session.playing
    assert window.playback_bar.slider.value() == index
    assert f"frame {index} /" in window.playback_bar.counter.text()
    assert window.metrics_dock.frame_caption.text().startswith(f"Frame {index}:")


@pytest.fixture
def window(qtbot, random_checkpoint, long_val):
    window = _make_window(qtbot, random_checkpoint)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    window.open_path(str(long_val))
    qtbot.waitUntil(lambda: shown(window) == 0, timeout=WAIT_MS)
    return window


def test_seek_while_playing_then_pause_at_once_shows_the_named_frame(qtbot, window):
    window.session.set_mode("every-frame")
    window.play()
    qtbot.waitUntil(lambda: (shown(window) or 0) >= 2, timeout=WAIT_MS)
    window.seek(50)
    window.pause()  # before frame 50 arrives
    settled_on(qtbot, window, 50)


def test_seek_while_paused_then_pause_again_shows_the_named_frame(qtbot, window):
    window.seek(40)
    settled_on(qtbot, window, 40)
    window.seek(27)
    window.pause()  # as opening the export dialog does
    settled_on(qtbot, window, 27)


def test_model_reload_then_pause_at_once_redraws_with_the_new_model(qtbot, window, random_checkpoint):
    """Found by the stress test: the reload's redraw was dropped by a pause, and pause saw the right
    index on screen (from the old model) so it asked for nothing: the old model's frame stayed."""
    window.seek(12)
    settled_on(qtbot, window, 12)
    before = window.session.generation
    with qtbot.waitSignal(window.model_loaded, timeout=WAIT_MS):
        window.load_model(str(random_checkpoint))
    window.pause()  # the redraw restart() just asked for is still on its way
    qtbot.waitUntil(lambda: window.session.result.generation == window.session.generation > before, timeout=WAIT_MS)
    settled_on(qtbot, window, 12)
    assert window.session.shows_named_frame
