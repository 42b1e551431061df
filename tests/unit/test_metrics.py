"""ConfusionMatrix and derived scores against small hand-computed cases."""

import numpy as np
import pytest

from model.metrics import ConfusionMatrix


def test_hand_computed_two_class_case():
    truth = np.array([[0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1]])
    cm = ConfusionMatrix(3, ignore_index=None, class_names=("a", "b", "c"))
    cm.update(pred, truth)
    s = cm.compute()
    # class a: TP 1, FN 1, FP 0 -> IoU 1/2, Dice 2/3; class b: TP 2, FP 1 -> IoU 2/3, Dice 4/5
    assert s.iou[0] == pytest.approx(0.5)
    assert s.dice[0] == pytest.approx(2 / 3)
    assert s.iou[1] == pytest.approx(2 / 3)
    assert s.dice[1] == pytest.approx(0.8)
    assert s.iou[2] is None and s.dice[2] is None  # absent from both: n/a, never 1.0
    assert s.pixel_accuracy == pytest.approx(0.75)
    assert s.mean_iou == pytest.approx((0.5 + 2 / 3) / 2)
    assert s.pixel_share == pytest.approx((0.5, 0.5, 0.0))


def test_void_ignored_by_default_and_includable():
    truth = np.array([0, 11, 11, 1])
    pred = np.array([0, 0, 1, 0])
    ignored = ConfusionMatrix().compute
    cm = ConfusionMatrix()
    cm.update(pred, truth)
    s = cm.compute()
    assert s.pixels == 2
    assert s.pixel_accuracy == pytest.approx(0.5)
    assert s.iou[0] == pytest.approx(0.5)  # TP 1, FP 1 (the pixel whose truth is 1)
    assert s.iou[1] == pytest.approx(0.0)
    assert s.iou[11] is None
    assert ignored().pixel_accuracy is None  # nothing scored yet
    with_void = ConfusionMatrix(ignore_index=None)
    with_void.update(pred, truth)
    assert with_void.compute().pixels == 4
    assert with_void.compute().iou[11] == pytest.approx(0.0)


def test_predicted_but_absent_class_scores_zero_not_na():
    cm = ConfusionMatrix(2, ignore_index=None, class_names=("a", "b"))
    cm.update(np.array([1, 1]), np.array([0, 0]))
    s = cm.compute()
    assert s.iou == (0.0, 0.0)
    assert s.mean_iou == 0.0


def test_pooled_over_frames_is_not_mean_of_frames():
    cm = ConfusionMatrix(2, ignore_index=None, class_names=("a", "b"))
    f1 = cm.update(np.array([0, 0, 0, 0]), np.array([0, 0, 0, 1]))
    f2 = cm.update(np.array([1]), np.array([1]))
    assert f1.sum() == 4 and f2.sum() == 1
    assert (cm.matrix == f1 + f2).all()
    assert cm.compute().iou[1] == pytest.approx(0.5)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        ConfusionMatrix().update(np.zeros((2, 2)), np.zeros((2, 3)))


def test_json_schema_marks_na_as_null():
    cm = ConfusionMatrix()
    cm.update(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    out = cm.compute().to_json(frames=1)
    assert out["frames"] == 1
    assert out["per_class"]["sky"] == {"iou": 1.0, "dice": 1.0}
    assert out["per_class"]["road"] is None
    assert out["mean_iou"] == 1.0


def test_uint8_fast_path_counts_exactly_like_the_general_one(camvid_root):
    """The 16-bit path the window uses equals the int64 path on real labels, void and stray values included."""
    from model.data import read_label

    truth = read_label(sorted((camvid_root / "valannot").glob("*.png"))[3])
    prediction = np.roll(truth, 7, axis=1).copy()
    prediction[:5] = 200  # out of range: not counted
    fast = ConfusionMatrix(12, ignore_index=11).matrix_of(prediction, truth)
    general = ConfusionMatrix(12, ignore_index=11).matrix_of(prediction.astype(np.int64), truth.astype(np.int64))
    assert truth.dtype == np.uint8 and fast.sum() > 0
    np.testing.assert_array_equal(fast, general)
