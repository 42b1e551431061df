"""The model's own signals on real CamVid frames: confidence from the same call, shares, flicker."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from model.signals import FrameSignals, SignalTotals, flicker, frame_signals, worth_a_look

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def frames(camvid_root):
    """Two consecutive val frames (the val split is a continuous 15 fps clip)."""
    return [cv2.imread(str(p)) for p in sorted((camvid_root / "val").glob("*.png"))[10:12]]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_confidence_comes_with_the_labels_and_equals_the_probabilities(frames, random_checkpoint, backend):
    from model.inference import Segmenter

    segmenter = Segmenter(random_checkpoint, backend=backend, device="cpu")
    # Another frame size on one backend: bringing the map to frame size is shared code, and on
    # ONNX each size costs three graph exports (about a minute of the suite).
    sizes = (frames[0], cv2.resize(frames[0], (640, 400))) if backend == "torch" else (frames[0],)
    for frame in sizes:
        fast = segmenter.segment(frame, confidence=True)
        full = segmenter.segment(frame, probabilities=True)
        assert fast.probabilities is None and fast.confidence.shape == frame.shape[:2]
        np.testing.assert_array_equal(fast.labels, segmenter.segment(frame).labels)
        if frame.shape == frames[0].shape:  # at the working size: exact on the grid, each 2x2 block its sample
            exact = full.probabilities.max(0)
            np.testing.assert_allclose(fast.confidence[::2, ::2], exact[::2, ::2], atol=1e-5)
            blocks = np.repeat(np.repeat(fast.confidence[::2, ::2], 2, axis=0), 2, axis=1)[: frame.shape[0], : frame.shape[1]]
            np.testing.assert_array_equal(fast.confidence, blocks)
            assert abs(float((fast.confidence < 0.5).mean()) - float((exact < 0.5).mean())) < 0.01
        assert abs(float(fast.confidence.mean()) - float(full.confidence.mean())) < 2e-3
        lane = segmenter.submit(frame, confidence=True).result()
        np.testing.assert_allclose(lane.confidence, fast.confidence, atol=1e-6)


def test_signals_of_a_real_frame_pair_equal_their_definitions(frames, random_checkpoint):
    from model.inference import Segmenter

    segmenter = Segmenter(random_checkpoint, backend="torch", device="cpu")
    first, second = (segmenter.segment(f, confidence=True) for f in frames)
    signals = frame_signals(second.labels, second.confidence, 12, previous=first.labels, threshold=0.3)
    counts = np.bincount(second.labels.ravel(), minlength=12)
    assert signals.class_pixels == tuple(counts) and abs(sum(signals.class_share) - 1) < 1e-9
    assert signals.mean_confidence == pytest.approx(float(second.confidence.mean()), rel=1e-6)
    assert signals.low_confidence_share == pytest.approx(float((second.confidence < 0.3).mean()))
    assert signals.flicker == pytest.approx(float((second.labels != first.labels).mean()))
    sample_labels, sample_conf = second.labels[::2, ::2], second.confidence[::2, ::2]
    for c in range(12):
        mask, sampled = second.labels == c, sample_labels == c
        if sampled.any():  # a class's mean confidence: over every second pixel of every second row
            expected = float(sample_conf[sampled].mean())
            if mask.sum() >= 1000:  # and that sample stands for the class's pixels
                assert expected == pytest.approx(float(second.confidence[mask].mean()), abs=0.01)
        else:
            expected = float(second.confidence[mask].mean()) if mask.any() else None
        assert signals.class_confidence[c] == (pytest.approx(expected, rel=1e-6) if expected is not None else None)
    totals = SignalTotals(12)
    totals.add(frame_signals(first.labels, first.confidence, 12))
    totals.add(signals)
    both = np.concatenate([first.labels.ravel(), second.labels.ravel()])
    assert totals.class_share == pytest.approx(tuple(np.bincount(both, minlength=12) / both.size))
    assert totals.mean_flicker == signals.flicker and totals.frames == 2


def test_flicker_needs_a_previous_frame_of_the_same_size():
    labels = np.zeros((4, 6), np.uint8)
    assert flicker(labels, None) is None and flicker(labels, np.zeros((6, 4), np.uint8)) is None
    changed = labels.copy()
    changed[0, :3] = 2
    assert flicker(changed, labels) == pytest.approx(3 / 24)
    with pytest.raises(ValueError, match="confidence map"):
        frame_signals(labels, np.ones((6, 4), np.float32), 3)


def test_frames_worth_a_look_skip_near_duplicates():
    def sig(confidence, flick):
        return FrameSignals((1,), (confidence,), confidence, 0.0, 0.5, flick)

    signals = {i: sig(0.9, 0.01) for i in range(40)}
    signals.update({10: sig(0.2, 0.5), 11: sig(0.21, 0.6), 12: sig(0.3, None), 30: sig(0.5, 0.2)})
    assert worth_a_look(signals, by="confidence", count=3) == [10, 30, 0]  # 11 and 12: the same moment as 10
    assert worth_a_look(signals, by="flicker", count=2) == [11, 30]
    assert worth_a_look(signals, by="confidence", spacing=0, count=3) == [10, 11, 12]
    with pytest.raises(ValueError, match="unknown ranking"):
        worth_a_look(signals, by="iou")


def test_a_confidence_grid_fills_odd_working_sizes_and_refuses_a_mismatch():
    from model.confidence import confidence_at, winning_probability_grid_numpy

    logits = np.random.default_rng(0).normal(size=(1, 12, 7, 9)).astype(np.float32)
    grid = winning_probability_grid_numpy(logits)[0]
    assert grid.shape == (4, 5)
    full = confidence_at(grid, (7, 9))
    exact = (np.exp(logits[0]) / np.exp(logits[0]).sum(0)).max(0)
    assert full.shape == (7, 9) and np.allclose(full[::2, ::2], exact[::2, ::2], atol=1e-6)
    assert full[6, 8] == grid[3, 4] and full[1, 1] == grid[0, 0]
    with pytest.raises(ValueError, match="does not match"):
        confidence_at(grid, (12, 9))
