"""Fast playback in the real window: the numbers stay exact while the views redraw at display rate.

The dock, the status bar, the slider, the counter and the timeline's playhead redraw a few
times a second during playback (``ui/throttle.py``), not per model frame. These tests play
real CamVid frames as fast as the model goes and check what that must not change: every frame
is shown once, in order; the running figures equal ``eval``'s; and the moment playback stops
or pauses every throttled view shows the last frame's values. No timings here: those are in
``benchmarks/bench_viewer.py``.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from camvid_viewer.session import Event, format_score
from tests.e2e.test_viewer import WAIT_MS, _copy_split, _make_window, open_and_wait

pytestmark = pytest.mark.timeout(240)

FRAMES = 30


@pytest.fixture
def labelled(tmp_path, camvid_root):
    """30 real val frames in SegNet layout (truth found beside them)."""
    return _copy_split(camvid_root, tmp_path / "camvid", FRAMES)


@pytest.fixture(params=["torch", "onnx"])
def window(qtbot, random_checkpoint, labelled, request):
    """The torch backend runs each frame on the playback thread; ONNX on the model's lanes, two in flight each."""
    window = _make_window(qtbot, random_checkpoint, backend=request.param)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, labelled)
    window.analysis_dock.timeline_dock.show()
    return window


def play_all(qtbot, window, *, mode: str, speed) -> list[int]:
    """Play from frame 0 to the end; the indices of the results shown, in order."""
    shown: list[int] = []
    window.session.events.result.connect(lambda r: shown.append(r.index))
    window.set_mode(mode)
    window.set_speed(speed)
    with qtbot.waitSignal(window.pipeline.finished, timeout=WAIT_MS * 2) as blocker:
        window.play(start=0)
    assert blocker.args == ["end"]
    return shown


def views_name_the_current_frame(window) -> None:
    """Every throttled view shows the values of ``session.result``, the frame the counter names."""
    s, dock = window.session, window.metrics_dock
    index = s.result.index
    assert s.index == index and not s.playing
    frame = s.frame_scores
    assert dock.frame_scores == frame and dock.running_scores == s.running_scores
    assert dock.frame_caption.text().startswith(f"Frame {index}:")
    assert dock.mean_iou_label.text() == format_score(frame.mean_iou)
    assert dock.pixel_accuracy_label.text() == format_score(frame.pixel_accuracy)
    running = s.running_scores
    for row in range(len(s.class_names)):
        assert dock.cell_text(row, 1) == format_score(frame.iou[row])
        assert dock.cell_text(row, 4) == format_score(running.iou[row])
    assert f"over {len(s.scored_indices)} frame(s)" in dock.running_label.text()
    assert window.playback_bar.slider.value() == index
    assert window.playback_bar.counter.text().startswith(f"frame {index} / {FRAMES - 1}")
    assert window.analysis_dock.timeline.playhead == index
    assert window.status.labels["dropped"].text() == f"dropped {s.dropped}"
    assert window.status.labels["model_ms"].text().endswith("ms/frame")


def test_every_frame_mode_shows_each_frame_once_in_order_and_the_dock_equals_eval(qtbot, window, labelled, tmp_path):
    """Fast every-frame playback: frames 0..29 once each, in order; running figures == eval's."""
    from model.evaluation import evaluate_folder

    predictions: dict[int, np.ndarray] = {}
    window.session.events.result.connect(lambda r: predictions.__setitem__(r.index, r.labels))
    window.session.reset_running()
    shown = play_all(qtbot, window, mode="every-frame", speed=None)
    assert shown == list(range(FRAMES))
    assert window.session.dropped == 0 and window.session.scored_indices == set(range(FRAMES))
    views_name_the_current_frame(window)
    assert window.session.result.index == FRAMES - 1

    # eval's own scoring (``main.py eval --predictions``) of exactly what the window showed.
    saved = tmp_path / "predicted"
    saved.mkdir()
    for index, image in enumerate(sorted(labelled.glob("*.png"))):
        cv2.imwrite(str(saved / image.name), predictions[index])
    report = evaluate_folder(images=labelled, annotations=labelled.parent / "valannot", predictions=saved, progress=False)
    running = window.metrics_dock.running_scores
    assert report["frames"] == FRAMES
    assert running.pixel_accuracy == report["pixel_accuracy"] and running.mean_iou == report["mean_iou"]
    assert running.mean_dice == report["mean_dice"]
    for name, iou, dice in zip(running.class_names, running.iou, running.dice, strict=True):
        cli = report["per_class"][name]
        assert (iou is None) == (cli is None)
        if cli is not None:
            assert (iou, dice) == (cli["iou"], cli["dice"])


def test_pausing_fast_playback_shows_the_paused_frames_values_at_once(qtbot, window):
    window.set_mode("every-frame")
    window.set_speed(None)
    window.play()
    qtbot.waitUntil(lambda: window.session.result is not None and window.session.result.index >= 5, timeout=WAIT_MS)
    window.pause()
    qtbot.waitUntil(lambda: window.session.result.index == window.session.index, timeout=WAIT_MS)
    views_name_the_current_frame(window)
    window.step(1)  # paused: a step redraws every view at once, no display tick needed
    qtbot.waitUntil(lambda: window.session.result.index == window.session.index, timeout=WAIT_MS)
    views_name_the_current_frame(window)


def test_realtime_playback_ends_with_the_last_frames_values(qtbot, window):
    window.session.source.fps = 120.0  # far faster than the model: frames are dropped
    shown = play_all(qtbot, window, mode="realtime", speed=4.0)
    assert shown == sorted(shown) and len(shown) + window.session.dropped == FRAMES
    views_name_the_current_frame(window)


# -- the throttle itself --------------------------------------------------------------------------
class _Session:
    def __init__(self) -> None:
        self.playing = False
        self.events = type("Events", (), {"playback": Event()})()

    def set_playing(self, playing: bool) -> None:
        self.playing = playing
        self.events.playback.emit()


def test_display_refresh_is_immediate_when_stopped_coalesced_while_playing_and_skips_hidden_views(qtbot):
    from PyQt6.QtWidgets import QWidget

    from camvid_viewer.ui.throttle import DisplayRefresh

    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    calls: list[int] = []
    session = _Session()
    display = DisplayRefresh(lambda: calls.append(1), session, widget, interval_ms=50)
    display.request()
    assert len(calls) == 1  # stopped: at once
    session.set_playing(True)
    for _ in range(20):
        display.request()
    assert len(calls) == 1 and display.pending  # playing: waits for the display tick
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=5000)  # twenty changes, one refresh
    display.request()
    session.set_playing(False)
    assert len(calls) == 3 and not display.pending  # stopping shows the last values at once

    session.set_playing(True)
    widget.hide()
    display.request()
    qtbot.wait(150)
    assert len(calls) == 3 and display.pending  # hidden during playback: no work
    widget.show()
    display.shown(True)
    assert len(calls) == 4 and not display.pending  # shown: catches up
