"""The viewer's session state and its pure helpers, without a QApplication."""

from __future__ import annotations

import numpy as np
import pytest

from camvid_viewer.session import (
    FrameResult,
    ViewerSession,
    clamp_index,
    format_score,
    format_speed,
    format_time,
    frame_interval,
    next_playback_index,
    step_index,
)
from model.classes import CAMVID, VOID_INDEX
from model.metrics import ConfusionMatrix


class _Source:
    """Just the attributes the session reads from a FrameSource."""

    def __init__(self, frame_count=10, fps=30.0):
        self.frame_count = frame_count
        self.fps = fps
        self.is_live = frame_count is None


def test_index_helpers_clamp_and_never_wrap_when_stepping():
    assert clamp_index(-3, frame_count=10) == 0
    assert clamp_index(42, frame_count=10) == 9
    assert clamp_index(42, frame_count=None) == 42  # live: no end
    assert step_index(9, 1, frame_count=10) == 9
    assert step_index(0, -1, frame_count=10) == 0
    assert step_index(4, 1, frame_count=10) == 5


def test_next_playback_index_stops_or_loops_at_the_end():
    assert next_playback_index(3, frame_count=10, loop=False) == 4
    assert next_playback_index(9, frame_count=10, loop=False) is None
    assert next_playback_index(9, frame_count=10, loop=True) == 0
    assert next_playback_index(100, frame_count=None, loop=False) == 101


def test_frame_interval_follows_speed_and_fps():
    assert frame_interval(fps=30, speed=1.0) == pytest.approx(1 / 30)
    assert frame_interval(fps=30, speed=4.0) == pytest.approx(1 / 120)
    assert frame_interval(fps=30, speed=0.25) == pytest.approx(4 / 30)
    assert frame_interval(fps=30, speed=None) is None  # as fast as the model goes
    assert frame_interval(fps=0, speed=1.0) == pytest.approx(1 / 30)  # unknown fps: 30


def test_formatting():
    assert format_time(0) == "0:00.00"
    assert format_time(75.5) == "1:15.50"
    assert format_time(3725) == "1:02:05.00"
    assert format_speed(0.25) == "0.25x"
    assert format_speed(None) == "As fast as the model goes"
    assert format_score(None) == "n/a"
    assert format_score(0.123456) == "12.35%"


def test_setters_notify_views_and_validate():
    session = ViewerSession()
    seen = []
    session.events.display.connect(lambda: seen.append(("display", session.view, session.opacity)))
    session.set_view("error")
    session.set_opacity(1.7)
    assert session.opacity == 1.0
    with pytest.raises(ValueError, match="unknown view"):
        session.set_view("sepia")
    with pytest.raises(ValueError, match="unknown playback mode"):
        session.set_mode("sometimes")
    session.set_class_hidden(3, True)
    session.set_class_hidden(5, True)
    session.set_class_hidden(3, False)
    assert session.hidden == {5}
    assert seen[0] == ("display", "error", 0.5) and len(seen) == 5


def test_set_index_clamps_to_the_source():
    session = ViewerSession()
    session.set_source(_Source(frame_count=5))
    indices = []
    session.events.index.connect(indices.append)
    session.set_index(99)
    session.set_index(4)  # unchanged: no event
    session.set_index(2)
    assert indices == [4, 2]


class _CamVidModel:
    """A model stand-in that predicts CamVid's classes (the session scores in its model's classes)."""

    label_set = CAMVID


def _result(index, generation, pred, truth):
    matrix = ConfusionMatrix(ignore_index=VOID_INDEX).matrix_of(pred, truth) if truth is not None else None
    return FrameResult(index=index, frame=np.zeros(pred.shape + (3,), np.uint8), labels=pred, truth=truth,
                       frame_matrix=matrix, generation=generation)


def test_running_scores_pool_one_matrix_and_count_each_frame_once():
    rng = np.random.default_rng(0)
    session = ViewerSession()
    session.set_source(_Source(frame_count=5))
    session.set_model(_CamVidModel())
    frames = [(rng.integers(0, 12, (6, 8), dtype=np.uint8), rng.integers(0, 12, (6, 8), dtype=np.uint8)) for _ in range(3)]
    for index, (pred, truth) in enumerate(frames):
        assert session.accept_result(_result(index, session.generation, pred, truth))
    session.accept_result(_result(1, session.generation, *frames[1]))  # stepping back: not counted twice
    expected = ConfusionMatrix(ignore_index=VOID_INDEX)
    for pred, truth in frames:
        expected.update(pred, truth)
    assert session.running_scores == expected.compute()
    frame = ConfusionMatrix(ignore_index=VOID_INDEX)
    frame.update(*frames[1])
    assert session.frame_scores == frame.compute()
    assert session.index == 1
    session.reset_running()
    assert session.running_scores is None


def test_stale_results_and_frames_without_truth():
    session = ViewerSession()
    session.set_source(_Source())
    old = session.generation
    session.set_model(object(), "x.safetensors")  # a new model makes older results stale
    pred = np.zeros((4, 4), np.uint8)
    assert not session.accept_result(_result(0, old, pred, pred))
    assert session.result is None
    assert session.accept_result(_result(3, session.generation, pred, None))
    assert session.frame_scores is None and session.running_scores is None
