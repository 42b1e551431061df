"""Comparing two models without a window: the pair of segmenters, the difference view, B - A."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from camvid_viewer.analysis.compare import ComparisonState, FrameDifference, class_differences
from camvid_viewer.rendering.compare_views import (
    DIFFERENCE_PALETTE_BGR,
    PANEL_GAP,
    a_b_view,
    difference_classes,
    difference_view,
)
from model.classes import VOID_INDEX
from model.comparison import score_difference
from model.metrics import ConfusionMatrix


@pytest.fixture(scope="module")
def frame_and_truth(camvid_root):
    image = sorted((camvid_root / "val").glob("*.png"))[0]
    frame = cv2.imread(str(image))
    truth = cv2.imread(str(camvid_root / "valannot" / image.name), cv2.IMREAD_GRAYSCALE)
    return frame, truth


def test_difference_classes_on_real_truth(frame_and_truth):
    _, truth = frame_and_truth
    a, b = truth.copy(), truth.copy()
    b[100:200, 100:300] = (b[100:200, 100:300] + 1) % 11  # B wrong in a box, A right everywhere
    box = np.zeros(truth.shape, bool)
    box[100:200, 100:300] = True
    scored = truth != VOID_INDEX
    kinds = difference_classes(a, b, truth, void_index=VOID_INDEX)
    assert (kinds[box & scored] == 0).all() and (kinds[~(box & scored)] == 255).all()
    assert (difference_classes(b, a, truth, void_index=VOID_INDEX)[box & scored] == 1).all()
    # Without truth: every pixel where the two disagree, void or not.
    assert np.array_equal(difference_classes(a, b, None, void_index=VOID_INDEX) == 3, a != b)
    # A model compared with itself: nothing to show.
    assert (difference_classes(b, b, truth, void_index=VOID_INDEX) == 255).all()


def test_difference_view_colours_and_dims(frame_and_truth):
    frame, truth = frame_and_truth
    a, b = truth.copy(), truth.copy()
    a[:50] = (a[:50] + 1) % 11  # A wrong at the top: B right there
    view = difference_view(frame, a, b, truth, void_index=VOID_INDEX, legend=False)
    top = np.zeros(truth.shape, bool)
    top[:50] = True
    top &= truth != VOID_INDEX
    assert (view[top] == DIFFERENCE_PALETTE_BGR[1]).all()
    rest = (~top) & (truth != VOID_INDEX)
    rest[:50] = False
    assert np.array_equal(view[rest], (frame[rest].astype(np.uint16) * 3 // 10).astype(np.uint8))
    assert np.array_equal(difference_view(frame, a, b, truth, void_index=VOID_INDEX)[:40], view[:40])  # legend bottom-left


def test_a_b_view_is_two_panels(frame_and_truth):
    frame, _ = frame_and_truth
    h, w = frame.shape[:2]
    out = a_b_view(frame, frame[:, ::-1].copy(), names=("one", "two"))
    assert out.shape == (h, 2 * w + PANEL_GAP, 3) and not out[:, w:w + PANEL_GAP].any()
    assert np.array_equal(out[60:, :w], frame[60:]) and np.array_equal(out[60:, w + PANEL_GAP:], frame[60:, ::-1])
    with pytest.raises(ValueError, match="the A panel is"):
        a_b_view(frame, frame[:10], names=("one", "two"))


def test_class_differences_and_ranking(frame_and_truth):
    _, truth = frame_and_truth
    worse = truth.copy()
    worse[truth == 3] = 4  # B calls the road sidewalk
    a = _scores(truth, truth)
    b = _scores(worse, truth)
    rows = {d.name: d for d in class_differences(a, b)}
    assert rows["road"].difference == pytest.approx(-1.0) and rows["sky"].difference == 0
    assert rows["void"].a is None and rows["void"].difference is None
    state = ComparisonState()
    state.frames = {i: FrameDifference(i, 0.5, 0.5 + d) for i, d in enumerate((0.1, -0.3, 0.0, -0.05))}
    assert [f.index for f in state.ranked("drop")] == [1, 3, 2, 0]
    assert [f.index for f in state.ranked("gain")] == [0, 2, 3, 1]


def _scores(prediction, truth):
    cm = ConfusionMatrix()
    cm.update(prediction, truth)
    return cm.compute()


def test_score_difference_of_two_eval_objects(frame_and_truth):
    _, truth = frame_and_truth
    worse = truth.copy()
    worse[truth == 3] = 4
    a = _scores(truth, truth).to_json(frames=1)
    b = _scores(worse, truth).to_json(frames=1)
    d = score_difference(a, b)
    assert d["mean_iou"] == pytest.approx(b["mean_iou"] - a["mean_iou"]) and d["mean_iou"] < 0
    assert d["per_class"]["road"]["iou"] == pytest.approx(-1.0) and d["per_class"]["void"] is None


def test_pair_runs_both_models_on_the_same_frame_on_their_lanes(frame_and_truth, random_checkpoint):
    from model.inference import Segmenter, default_model_path
    from model.pair import PairFuture, SegmenterPair, first_of, second_of

    frame, _ = frame_and_truth
    a = Segmenter(default_model_path(), backend="onnx", precision="fp32", threads=1)
    b = Segmenter(random_checkpoint, backend="torch", threads=1)
    pair = SegmenterPair(a, b)
    assert pair.label_set == a.label_set and pair.name == a.name and first_of(pair) is a and second_of(pair) is b
    future = pair.submit(frame, confidence=True)
    assert isinstance(future, PairFuture)
    both = future.result(timeout=60)
    assert np.array_equal(both.labels, a.segment(frame).labels) and both.confidence is not None
    assert np.array_equal(both.second.labels, b.segment(frame).labels)
    streamed = list(pair.segment_stream((i, frame[:, ::-1].copy() if i else frame) for i in range(3)))
    assert [k for k, _ in streamed] == [0, 1, 2] and np.array_equal(streamed[0][1].labels, both.labels)
    assert second_of(a) is None and first_of(a) is a
