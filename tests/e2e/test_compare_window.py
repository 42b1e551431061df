"""Two models in the window on real CamVid frames: Compare with..., the A | B and difference
views, the compare dock's B - A, the timeline's ranking, and Stop comparing."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from compare_models import weaker_checkpoint  # noqa: F401 - a fixture
from test_external_model import CITYSCAPES, frames_dir, lraspp, onnx_model  # noqa: F401 - fixtures
from test_viewer import (
    WAIT_MS,
    _copy_split,
    _make_window,
    expect_message,
    open_and_wait,
    play_every_frame,
)

from camvid_viewer.analysis.temporal import TemporalSmoother
from camvid_viewer.export import ExportOptions
from camvid_viewer.export.dialog_backend import run_export
from camvid_viewer.rendering import render_view
from camvid_viewer.rendering.compare_views import (
    DIFFERENCE_PALETTE_BGR,
    PANEL_GAP,
    difference_classes,
)
from camvid_viewer.session import format_score
from camvid_viewer.ui.compare_dock import format_difference
from model.classes import CAMVID
from model.inference import default_model_path
from model.pair import SegmenterPair

pytestmark = pytest.mark.timeout(240)


def _canvas_array(window) -> np.ndarray:
    """The canvas's image as a BGR array (what the window paints)."""
    image = window.canvas.image().convertToFormat(window.canvas.image().Format.Format_RGB888)
    h, w = image.height(), image.width()
    rgb = np.frombuffer(image.constBits().asstring(image.bytesPerLine() * h), np.uint8).reshape(h, image.bytesPerLine())
    return np.ascontiguousarray(rgb[:, : 3 * w].reshape(h, w, 3)[..., ::-1])


def _compared_result(window, index: int):
    def ready():
        r = window.session.result
        return r is not None and r.index == index and r.second is not None and not window.pipeline.busy

    return ready


def test_compare_with_a_weaker_model_in_the_window(qtbot, tmp_path, camvid_root, weaker_checkpoint):  # noqa: F811
    folder = _copy_split(camvid_root, tmp_path, 2)
    window = _make_window(qtbot, default_model_path())
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, folder)
    comparison = window.comparison
    assert not comparison.dock.isVisible() and not comparison.stop_action.isEnabled()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    expect_message(qtbot, window, lambda: comparison.compare_with(str(broken)), "broken.safetensors")
    assert not comparison.state.active and not isinstance(window.session.model, SegmenterPair)
    window.open_train_dialog()  # its "Compare with the current model" names the checkpoint to compare with
    window._train_dialog.compare_chosen.emit(str(weaker_checkpoint))
    window._train_dialog.close()
    qtbot.waitUntil(_compared_result(window, 0), timeout=WAIT_MS)
    s, result = window.session, window.session.result
    assert isinstance(s.model, SegmenterPair) and comparison.dock.isVisible()
    assert "camvid-lite0-perturbed" in window.statusBar().currentMessage()

    # A | B: each half is that model's own overlay of the same frame.
    window._render()
    shown = _canvas_array(window)
    h, w = result.frame.shape[:2]
    assert shown.shape == (h, 2 * w + PANEL_GAP, 3)
    for panel, labels, model in ((shown[:, :w], result.labels, s.model.first),
                                 (shown[:, w + PANEL_GAP:], result.second.labels, s.model.second)):
        c = model.label_set
        own = render_view("overlay", result.frame, labels, None, palette_bgr=c.palette_bgr, opacity=s.opacity,
                          legend=False, class_names=c.names, void_index=c.void_index)
        below_name = slice(40, h)
        assert np.array_equal(panel[below_name], own[below_name])
    assert not np.array_equal(result.labels, result.second.labels)

    # Difference: orange where A is right and B wrong, blue for the reverse, the rest dimmed or grey.
    comparison.views["difference"].trigger()
    assert comparison.state.view == "difference"
    shown = _canvas_array(window)
    kinds = difference_classes(result.labels, result.second.labels, result.truth, void_index=s.label_set.void_index)
    legend_free = np.zeros(kinds.shape, bool)
    legend_free[: h // 2] = True  # the legend sits bottom-left
    for kind in (0, 1):
        where = (kinds == kind) & legend_free
        assert where.any()
        assert (shown[where] == DIFFERENCE_PALETTE_BGR[kind]).all()
    agree = (kinds == 255) & legend_free & (result.truth != s.label_set.void_index)
    assert (shown[agree] == (result.frame[agree].astype(np.uint16) * 3 // 10)).all()

    # The dock: A, B and B - A per class for this frame; the difference is the per-model values'.
    dock = comparison.dock
    dock.refresh()
    a_scores, b_scores = s.frame_scores, comparison.state.frame_scores(result)
    scored = s.running.class_names
    names = [n for i, n in enumerate(scored) if i != s.running.ignore_index]
    for row, name in enumerate(names):
        k = scored.index(name)
        a, b = a_scores.iou[k], b_scores.iou[k]
        assert dock.cell_text(row, 0) == name
        assert dock.cell_text(row, 1) == format_score(a) and dock.cell_text(row, 2) == format_score(b)
        assert dock.cell_text(row, 3) == format_difference(None if a is None or b is None else b - a)
        assert dock.cell_text(row, 4) == format_score(a)  # running over the one frame scored = the frame
    assert b_scores.mean_iou < a_scores.mean_iou

    # A second frame: running figures pool both frames; the timeline ranks them by drop or gain.
    window.step(1)
    qtbot.waitUntil(_compared_result(window, 1), timeout=WAIT_MS)
    state = comparison.state
    assert sorted(state.frames) == [0, 1]
    running_a, running_b = s.running_scores, state.running_scores
    dock.refresh()
    road = names.index("road")
    k = scored.index("road")
    assert dock.cell_text(road, 6) == format_difference(running_b.iou[k] - running_a.iou[k])
    timeline = comparison.timeline_dock
    timeline.refresh()
    diffs = {f.index: f.difference for f in state.frames.values()}
    timeline.set_order("drop")
    assert timeline.listed_frames() == sorted(diffs, key=lambda i: diffs[i])
    timeline.set_order("gain")
    assert timeline.listed_frames() == sorted(diffs, key=lambda i: -diffs[i])
    x, y = timeline.curve_data()["difference"]
    assert list(x) == [0, 1] and np.allclose(y, [100 * diffs[0], 100 * diffs[1]])
    timeline.frame_list.itemClicked.emit(timeline.frame_list.item(1))
    qtbot.waitUntil(lambda: s.index == timeline.listed_frames()[1], timeout=WAIT_MS)

    # File > Export while comparing: the dialog's job loads a fresh pair and writes A | B.
    out = tmp_path / "a-vs-b.mp4"
    written = run_export(str(folder), out, options=ExportOptions(), make_segmenter=comparison.segmenter_factory(),
                         progress=lambda *a: None, cancel=threading.Event())
    assert written.frames == 2 and written.size == (2 * w + PANEL_GAP, h)
    assert any("B = camvid-lite0-perturbed" in note for note in written.notes)

    # Stop comparing: model A alone, the single-model view, the compare docks gone.
    comparison.stop_action.trigger()
    qtbot.waitUntil(lambda: s.result is not None and s.result.second is None and not window.pipeline.busy, timeout=WAIT_MS)
    assert not isinstance(s.model, SegmenterPair) and not comparison.dock.isVisible()
    assert window.canvas.image().width() == w and comparison.segmenter_factory() is None


def test_two_onnx_models_play_every_frame_on_their_lanes(qtbot, tmp_path, camvid_root, weaker_checkpoint):  # noqa: F811
    folder = _copy_split(camvid_root, tmp_path, 3)
    window = _make_window(qtbot, default_model_path(), backend="onnx", precision="fp32")
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, folder)
    window.comparison.compare_with(str(weaker_checkpoint))
    qtbot.waitUntil(_compared_result(window, 0), timeout=WAIT_MS * 2)
    s = window.session
    assert s.model.first.backend == s.model.second.backend == "onnx"
    shown = play_every_frame(qtbot, window)
    assert sorted(shown) == [0, 1, 2] and all(r.second is not None for r in shown.values())
    assert sorted(window.comparison.state.frames) == [0, 1, 2]
    # Each model's labels are its own, on the same frame: B's equal B run alone.
    b_model = s.model.second
    alone = b_model.segment(shown[2].frame).labels
    assert np.array_equal(shown[2].second.labels, alone)
    # Temporal smoothing while comparing smooths A; B stays as it is; off again, A alone.
    window.analysis_dock.smoothing.setChecked(True)
    assert isinstance(s.model, SegmenterPair) and isinstance(s.model.first, TemporalSmoother) and s.model.second is b_model
    shown.clear()
    with qtbot.waitSignal(window.pipeline.finished, timeout=WAIT_MS * 2):
        window.play(start=0)
    assert sorted(shown) == [0, 1, 2] and np.array_equal(shown[2].second.labels, alone)
    window.analysis_dock.smoothing.setChecked(False)
    assert isinstance(s.model, SegmenterPair) and not isinstance(s.model.first, TemporalSmoother)


def test_compare_with_an_onnx_model_of_other_classes(qtbot, frames_dir, onnx_model):  # noqa: F811
    """B is an ONNX Cityscapes model (19 classes, scored as CamVid through its card's mapping):
    its panel is drawn in its own classes, its scores and the difference in CamVid's."""
    window = _make_window(qtbot, default_model_path())
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, frames_dir / "val")
    window.comparison.compare_with(str(onnx_model))
    qtbot.waitUntil(_compared_result(window, 0), timeout=WAIT_MS)
    s, result = window.session, window.session.result
    second = result.second
    assert second.label_set.names == tuple(CITYSCAPES) and second.scored_set == CAMVID
    assert second.frame_matrix.shape == (CAMVID.count, CAMVID.count)
    window._render()
    h, w = result.frame.shape[:2]
    right = _canvas_array(window)[:, w + PANEL_GAP:]
    c = second.label_set
    own = render_view("overlay", result.frame, second.labels, None, palette_bgr=c.palette_bgr, opacity=s.opacity,
                      legend=False, class_names=c.names, void_index=c.void_index)
    assert np.array_equal(right[40:], own[40:])
    dock = window.comparison.dock
    dock.refresh()
    b_scores = window.comparison.state.frame_scores(result)
    road = CAMVID.names.index("road")
    assert dock.cell_text(road, 0) == "road" and dock.cell_text(road, 2) == format_score(b_scores.iou[road])
    window.comparison.set_view("difference")
    kinds = difference_classes(result.labels, second.scored, result.truth, void_index=CAMVID.void_index)
    shown = _canvas_array(window)
    top = (kinds == 0) & (np.arange(h)[:, None] < h // 2)
    assert top.any() and (shown[top] == DIFFERENCE_PALETTE_BGR[0]).all()


def test_a_layout_saved_while_comparing_shows_no_compare_docks_later(qtbot, tmp_path, camvid_root):
    folder = _copy_split(camvid_root, tmp_path, 1)
    window = _make_window(qtbot, default_model_path())
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, folder)
    window.comparison.compare_with(str(default_model_path()))  # a model with itself: nothing differs
    qtbot.waitUntil(_compared_result(window, 0), timeout=WAIT_MS)
    assert window.comparison.dock.isVisible() and window.comparison.timeline_dock.isVisible()
    assert window.comparison.state.frames[0].difference == 0
    window.close()  # saves the layout with the compare docks shown
    again = _make_window(qtbot, default_model_path())
    qtbot.waitUntil(lambda: again.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, again, folder)
    qtbot.waitUntil(lambda: not again.comparison.dock.isVisible() and not again.comparison.timeline_dock.isVisible(),
                    timeout=WAIT_MS)
    assert not again.comparison.state.active and again.canvas.image().width() == again.session.result.frame.shape[1]
