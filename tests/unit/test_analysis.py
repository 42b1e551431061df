"""Headless tests of camvid_viewer.analysis.evaluation, analysis_cache, temporal and analysis_render (no Qt, no torch)."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from camvid_viewer import analysis
from camvid_viewer.analysis import cache as analysis_cache
from camvid_viewer.analysis import temporal
from camvid_viewer.analysis.pixel_views import (
    CORRECT_DIM,
    confidence_heatmap,
    error_overlay,
    error_split,
    hover_readout,
)
from model.classes import CAMVID, CLASS_NAMES, NUM_CLASSES, VOID_INDEX, palette_bgr
from model.data import read_label
from model.metrics import ConfusionMatrix, scores_from_matrix


# -- fakes ----------------------------------------------------------------------------------------
class ListSource:
    """A FrameSource over in-memory frames; ``path`` is a real folder so the cache key can stat it."""

    kind, is_live, fps = "folder", False, 15.0

    def __init__(self, folder: Path, frames: list[np.ndarray]) -> None:
        self.path, self._frames = str(folder), frames
        self.frame_count = len(frames)
        self.size = (frames[0].shape[1], frames[0].shape[0])

    def read(self, index: int) -> np.ndarray:
        return self._frames[index]

    def frames(self, start: int = 0, stop: int | None = None):
        for i in range(start, min(stop or self.frame_count, self.frame_count)):
            yield i, self._frames[i]

    def frame_name(self, index: int) -> str:
        return f"f{index:03d}"


class DictTruth:
    label_set = CAMVID  # CamVid label maps: the classes a model whose card names none is scored in

    def __init__(self, labels: dict[int, np.ndarray], annotations_dir: Path | None = None) -> None:
        self.labels, self.annotations_dir = labels, annotations_dir
        self.labelled_indices = sorted(labels)

    def read(self, index: int):
        return self.labels.get(index)


@dataclass
class Prediction:
    labels: np.ndarray
    probabilities: np.ndarray | None = None
    confidence: np.ndarray | None = None


class LookupSegmenter:
    """Returns a fixed prediction per frame (looked up by the frame's bytes); counts calls."""

    name, card = "lookup", {"name": "lookup"}

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.table = {hashlib.sha1(f.tobytes()).hexdigest(): p for f, p in pairs}
        self.calls = 0

    def segment(self, frame, *, probabilities=False):
        self.calls += 1
        return Prediction(self.table[hashlib.sha1(frame.tobytes()).hexdigest()])


def synthetic_clip(tmp_path: Path, n: int = 6, seed: int = 0):
    """n random frames, truth and a prediction with ~30% of pixels wrong."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 255, (12, 16, 3), dtype=np.uint8) for _ in range(n)]
    truths = [rng.integers(0, NUM_CLASSES, (12, 16), dtype=np.uint8) for _ in range(n)]
    preds = [np.where(rng.random((12, 16)) < 0.3, rng.integers(0, 11, (12, 16)), t).astype(np.uint8) for t in truths]
    folder = tmp_path / "clip"
    folder.mkdir(exist_ok=True)
    source = ListSource(folder, frames)
    truth = DictTruth(dict(enumerate(truths)))
    return source, truth, LookupSegmenter(list(zip(frames, preds, strict=True))), preds, truths


# -- cache ----------------------------------------------------------------------------------------
def test_cache_round_trip_and_corrupt_cache_rebuilt(tmp_path):
    source, truth, seg, _, _ = synthetic_clip(tmp_path)
    cache = tmp_path / "cache"
    first = analysis.evaluate_source(source, truth, seg, cache_dir=cache)
    assert seg.calls == 6 and not first.from_cache
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as data:  # no object arrays in the file
        assert data["matrices"].dtype == np.int64 and data["matrices"].shape == (6, NUM_CLASSES, NUM_CLASSES)

    second = analysis.evaluate_source(source, truth, seg, cache_dir=cache)
    assert seg.calls == 6 and second.from_cache
    np.testing.assert_array_equal(second.matrices, first.matrices)
    np.testing.assert_array_equal(second.indices, first.indices)
    np.testing.assert_array_equal(second.flicker, first.flicker)
    assert second.names == first.names

    files[0].write_bytes(b"PK\x03\x04 not really a zip")
    third = analysis.evaluate_source(source, truth, seg, cache_dir=cache)
    assert seg.calls == 12 and not third.from_cache
    np.testing.assert_array_equal(third.matrices, first.matrices)
    assert analysis.evaluate_source(source, truth, seg, cache_dir=cache).from_cache  # rewritten, valid again
    assert not list(cache.glob(".*.tmp"))  # atomic writes leave no temp files


def test_cache_key_changes_with_frames_and_model(tmp_path):
    source, _, seg, _, _ = synthetic_clip(tmp_path)
    base = analysis_cache.cache_key(seg, source, [0, 1, 2])
    assert analysis_cache.cache_key(seg, source, [0, 1]) != base
    other = LookupSegmenter([])
    other.card = {"name": "another"}
    assert analysis_cache.cache_key(other, source, [0, 1, 2]) != base
    smoothed = temporal.TemporalSmoother(seg, alpha=0.5)
    assert analysis_cache.cache_key(smoothed, source, [0, 1, 2]) != base


def test_cancel_returns_partial_and_does_not_cache(tmp_path):
    source, truth, seg, _, _ = synthetic_clip(tmp_path)
    calls = []
    ev = analysis.evaluate_source(source, truth, seg, cache_dir=tmp_path / "c",
                                  progress=lambda d, t: calls.append((d, t)), cancel=lambda: len(calls) >= 2)
    assert not ev.complete and len(ev) == 2
    assert not list((tmp_path / "c").glob("*.npz"))


# -- the two aggregations -------------------------------------------------------------------------
def test_pooled_equals_metrics_on_concatenated_frames(tmp_path):
    source, truth, seg, preds, truths = synthetic_clip(tmp_path)
    ev = analysis.evaluate_source(source, truth, seg, use_cache=False)
    cm = ConfusionMatrix(NUM_CLASSES, ignore_index=VOID_INDEX)
    cm.update(np.concatenate(preds), np.concatenate(truths))
    expected = cm.compute()
    assert analysis.pooled_scores(ev) == expected
    assert analysis.summary_json(ev)["mean_iou"] == expected.mean_iou


def test_mean_of_frames_is_mean_of_per_frame_values(tmp_path):
    source, truth, seg, preds, truths = synthetic_clip(tmp_path)
    truths[2][:] = 0  # frame 2 has only sky: every other class is n/a there
    ev = analysis.evaluate_source(source, truth, seg, use_cache=False)
    per_frame = [scores_from_matrix(ConfusionMatrix().matrix_of(p, t)) for p, t in zip(preds, truths, strict=True)]
    mean = analysis.mean_of_frames(ev)
    assert mean.mean_iou == pytest.approx(np.mean([s.mean_iou for s in per_frame]))
    assert mean.pixel_accuracy == pytest.approx(np.mean([s.pixel_accuracy for s in per_frame]))
    for c in range(NUM_CLASSES):
        values = [s.iou[c] for s in per_frame if s.iou[c] is not None]
        assert mean.iou[c] == (pytest.approx(np.mean(values)) if values else None)
        assert mean.class_frames[c] == len(values)
    assert mean.mean_iou != pytest.approx(analysis.pooled_scores(ev).mean_iou)  # they really differ


def test_rows_worst_frames_pairs_and_exports(tmp_path):
    source, truth, seg, _, _ = synthetic_clip(tmp_path)
    ev = analysis.evaluate_source(source, truth, seg, use_cache=False)
    rows = analysis.frame_rows(ev)
    assert [r.index for r in rows] == list(range(6)) and rows[0].name == "f000"
    worst = analysis.worst_frames(rows, by="mean_iou")
    assert [r.mean_iou for r in worst] == sorted(r.mean_iou for r in rows)
    by_road = analysis.worst_frames(rows, by="road", count=2)
    assert len(by_road) == 2 and by_road[0].iou[3] == min(r.iou[3] for r in rows)

    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    matrix[3, 3], matrix[3, 4], matrix[4, 4], matrix[4, 3], matrix[0, 0] = 60, 40, 90, 10, 5
    pairs = analysis.most_confused_pairs(matrix, class_names=CLASS_NAMES, ignore_index=VOID_INDEX, top=3)
    assert [(p.truth_name, p.prediction_name) for p in pairs] == [("road", "sidewalk"), ("sidewalk", "road")]
    assert pairs[0].share == pytest.approx(0.4) and pairs[0].pixels == 40
    np.testing.assert_allclose(analysis.row_normalised(matrix)[3, [3, 4]], [0.6, 0.4])

    with open(analysis.write_frame_csv(tmp_path / "frames.csv", ev), newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 6 and float(table[1]["mean_iou"]) == pytest.approx(rows[1].mean_iou, abs=1e-6)
    assert table[0]["flicker"] == ""  # frame 0 has no previous frame: n/a
    summary = json.loads(analysis.write_summary_json(tmp_path / "s.json", ev).read_text())
    eval_keys = set(analysis.pooled_scores(ev).to_json(frames=6))
    assert eval_keys <= set(summary) and summary["frames"] == 6
    assert set(summary["mean_of_frames"]) >= {"mean_iou", "pixel_accuracy", "per_class", "frames"}
    assert summary["per_class"]["void"] is None


# -- error map, confidence, readout ---------------------------------------------------------------
def test_error_views_colour_a_hand_made_frame():
    lut = palette_bgr()
    frame = np.full((2, 3, 3), 200, np.uint8)
    truth = np.array([[3, 3, VOID_INDEX], [8, 0, 0]], np.uint8)
    labels = np.array([[3, 4, 3], [9, 0, 8]], np.uint8)
    missed = error_overlay(frame, labels, truth, palette_bgr=lut, void_index=VOID_INDEX, mode="truth").astype(int)
    alarms = error_overlay(frame, labels, truth, palette_bgr=lut, void_index=VOID_INDEX, mode="prediction").astype(int)
    dim = round(200 * CORRECT_DIM)
    for view in (missed, alarms):
        assert (view[0, 0] == dim).all() and (view[1, 1] == dim).all()  # correct: dimmed frame
        assert (view[0, 2] == view[0, 2, 0]).all() and view[0, 2, 0] < 90  # void: dark grey, not a class colour
    def coloured(c):
        return np.round(0.85 * lut[c].astype(float) + 0.15 * 200).astype(int)
    np.testing.assert_array_equal(missed[0, 1], coloured(3))  # road missed -> road colour
    np.testing.assert_array_equal(alarms[0, 1], coloured(4))  # false sidewalk -> sidewalk colour
    np.testing.assert_array_equal(missed[1, 0], coloured(8))
    np.testing.assert_array_equal(alarms[1, 2], coloured(8))
    split = error_split(frame, labels, truth, palette_bgr=lut, void_index=VOID_INDEX, captions=False)
    assert split.shape == (2, 3 + 4 + 3, 3)
    np.testing.assert_array_equal(split[:, :3], missed.astype(np.uint8))
    np.testing.assert_array_equal(split[:, 7:], alarms.astype(np.uint8))


def test_confidence_heatmap_is_bright_where_unsure():
    frame = np.zeros((40, 80, 3), np.uint8)
    confidence = np.ones((40, 80), np.float32)
    confidence[:, 40:] = 0.1
    out = confidence_heatmap(frame, confidence, opacity=1.0, legend=False)
    assert out[:, 60].mean() > out[:, 20].mean() + 100


def test_hover_readout():
    labels = np.array([[3, 4]], np.uint8)
    truth = np.array([[3, VOID_INDEX]], np.uint8)
    conf = np.array([[0.93, 0.5]], np.float32)
    assert hover_readout(0, 0, labels, truth, conf, CLASS_NAMES, void_index=VOID_INDEX) == "x 0, y 0 | predicted road (93%) | true road | correct"
    assert "true void (not scored)" in hover_readout(1, 0, labels, truth, None, CLASS_NAMES, void_index=VOID_INDEX)
    assert hover_readout(0, 0, labels, None, None, CLASS_NAMES, void_index=VOID_INDEX) == "x 0, y 0 | predicted road"
    assert hover_readout(5, 0, labels, truth, conf, CLASS_NAMES, void_index=VOID_INDEX) == ""
    assert "WRONG" in hover_readout(0, 0, labels, np.array([[4, 4]], np.uint8), None, CLASS_NAMES, void_index=VOID_INDEX)


# -- flicker and smoothing ------------------------------------------------------------------------
def test_flicker_of_a_sequence_with_known_changes():
    a = np.zeros((10, 10), np.uint8)
    b = a.copy()
    b[0, :7] = 5  # 7 of 100 pixels change
    c = b.copy()
    c[5:, :] = 2  # 50 more change
    np.testing.assert_allclose(temporal.sequence_flicker([a, b, c, c]), [np.nan, 0.07, 0.5, 0.0])
    v = a.copy()
    v[0, :] = VOID_INDEX  # ignored pixels are not compared
    assert temporal.label_change_rate(v, b, ignore_index=VOID_INDEX) == 0.0


def test_motion_compensation_removes_camera_pan():
    rng = np.random.default_rng(1)
    world = cv2.GaussianBlur(rng.integers(0, 255, (120, 200), dtype=np.uint8), (0, 0), 3)
    world = cv2.normalize(world, None, 0, 255, cv2.NORM_MINMAX)
    world_labels = (world > 128).astype(np.uint8) * 3
    frames = [cv2.cvtColor(np.ascontiguousarray(world[:, 8 * k : 8 * k + 160]), cv2.COLOR_GRAY2BGR) for k in range(3)]
    labels = [np.ascontiguousarray(world_labels[:, 8 * k : 8 * k + 160]) for k in range(3)]
    raw = temporal.sequence_flicker(labels)
    compensated = temporal.sequence_flicker(labels, frames)
    assert raw[1] > 0.05
    assert compensated[1] < raw[1] / 3


class NoisySegmenter:
    """Stripes of classes whose probabilities carry heavy per-frame noise (argmax flickers)."""

    name, card = "noisy", {}

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.truth = (np.arange(32)[None, :].repeat(24, 0) // 8).astype(np.uint8)

    def segment(self, frame, *, probabilities=False):
        onehot = np.eye(NUM_CLASSES, dtype=np.float32)[self.truth].transpose(2, 0, 1)
        logits = 1.5 * onehot + self.rng.normal(0, 0.8, onehot.shape).astype(np.float32)
        p = np.exp(logits) / np.exp(logits).sum(0, keepdims=True)
        return Prediction(p.argmax(0).astype(np.uint8), p if probabilities else None)


def test_smoothing_reduces_flicker_on_a_noisy_sequence(tmp_path):
    frame = np.full((24, 32, 3), 100, np.uint8)
    source = ListSource(tmp_path, [frame] * 20)
    truth = DictTruth({i: NoisySegmenter().truth for i in range(20)})
    raw = analysis.evaluate_source(source, truth, NoisySegmenter(), use_cache=False)
    smooth = analysis.evaluate_source(source, truth, temporal.TemporalSmoother(NoisySegmenter(), alpha=0.3), use_cache=False)
    assert smooth.flicker_total() < raw.flicker_total() / 2
    assert analysis.pooled_scores(smooth).mean_iou > analysis.pooled_scores(raw).mean_iou
    assert raw.truth_change_total() == 0.0


def test_smoother_resets_on_seek_and_on_cuts():
    seg = temporal.TemporalSmoother(NoisySegmenter(), alpha=0.5)
    frame = np.full((24, 32, 3), 100, np.uint8)
    seg.segment_at(0, frame)
    seg.segment_at(1, frame)
    assert seg._running is not None and seg._last_index == 1
    before = seg._running.copy()
    seg.segment_at(7, frame)  # a seek: the average restarts from this frame alone
    assert not np.allclose(seg._running, 0.5 * before + 0.5 * seg._running)
    assert seg._last_index == 7
    out = seg.segment(np.full((24, 32, 3), 250, np.uint8), probabilities=True)  # a cut (big change)
    np.testing.assert_allclose(out.probabilities.sum(0), 1, atol=1e-5)
    assert seg.name.startswith("noisy + temporal smoothing") and seg.card == {}
    with pytest.raises(ValueError):
        temporal.TemporalSmoother(NoisySegmenter(), alpha=0)


def test_smoother_submit_smooths_in_order_like_segment():
    """Export submits frames; the smoother must not hand them to the wrapped model's lanes."""
    frames = [np.full((24, 32, 3), 100, np.uint8)] * 4
    by_segment = temporal.TemporalSmoother(NoisySegmenter(seed=3), alpha=0.5)
    by_submit = temporal.TemporalSmoother(NoisySegmenter(seed=3), alpha=0.5)
    for frame in frames:
        future = by_submit.submit(frame)
        assert future.done()
        np.testing.assert_array_equal(future.result().labels, by_segment.segment(frame).labels)
    assert by_submit._running is not None


# -- real CamVid frames ---------------------------------------------------------------------------
def _real_clip(tmp_path: Path, camvid_root: Path, count: int) -> Path:
    names = sorted(p.name for p in (camvid_root / "val").glob("*.png"))[:count]
    for sub in ("val", "valannot"):
        (tmp_path / sub).mkdir()
        for n in names:
            shutil.copy(camvid_root / sub / n, tmp_path / sub / n)
    return tmp_path / "val"


class RoadAsSidewalk:
    """The truth itself, except road predicted as sidewalk and void as building: exact expectations."""

    name, card = "road-as-sidewalk", {}

    def __init__(self, annotations: Path) -> None:
        from model.data import list_images, read_image

        self.truth = {}
        for path in list_images(annotations):
            frame = read_image(annotations.parent / "val" / path.name)
            self.truth[hashlib.sha1(frame.tobytes()).hexdigest()] = read_label(path)

    def segment(self, frame, *, probabilities=False):
        t = self.truth[hashlib.sha1(frame.tobytes()).hexdigest()]
        p = t.copy()
        p[t == 3] = 4
        p[t == VOID_INDEX] = 1
        return Prediction(p)


def test_real_clip_evaluation_matches_eval_and_exact_numbers(tmp_path, camvid_root):
    from camvid_viewer.sources import open_source
    from camvid_viewer.sources.truth import TruthIndex, find_annotations
    from model.evaluation import evaluate_folder

    images = _real_clip(tmp_path, camvid_root, 8)
    seg = RoadAsSidewalk(tmp_path / "valannot")
    with open_source(str(images)) as source:
        truth = TruthIndex.for_source(source, find_annotations(source))
        ev = analysis.evaluate_source(source, truth, seg, cache_dir=tmp_path / "cache")
        assert analysis.evaluate_source(source, truth, seg, cache_dir=tmp_path / "cache").from_cache
    labels = [read_label(p) for p in sorted((tmp_path / "valannot").glob("*.png"))]
    road = sum(int((t == 3).sum()) for t in labels)
    sidewalk = sum(int((t == 4).sum()) for t in labels)
    pooled = analysis.pooled_scores(ev)
    assert len(ev) == 8 and pooled.iou[3] == 0.0
    assert pooled.iou[4] == pytest.approx(sidewalk / (sidewalk + road))
    assert pooled.iou[0] == 1.0 and pooled.iou[1] == 1.0  # void is not scored, so building stays perfect
    assert pooled.pixel_accuracy == pytest.approx(1 - road / sum(int((t != VOID_INDEX).sum()) for t in labels))

    predicted = tmp_path / "pred"
    predicted.mkdir()
    for stem, t in zip(ev.names, labels, strict=True):
        p = t.copy()
        p[t == 3] = 4
        p[t == VOID_INDEX] = 1
        cv2.imwrite(str(predicted / f"{stem}.png"), p)
    scored = evaluate_folder(images=images, annotations=tmp_path / "valannot", predictions=predicted, progress=False)
    assert scored.pop("drives")["0016E5"]["mean_iou"] == scored["mean_iou"]  # one drive: its scores are the pooled ones
    assert scored == pooled.to_json(frames=8)


def test_truth_flicker_on_the_real_clip(tmp_path, camvid_root):
    from model.data import read_image

    images = _real_clip(tmp_path, camvid_root, 10)
    frames = [read_image(p) for p in sorted(images.glob("*.png"))]
    labels = [read_label(p) for p in sorted((tmp_path / "valannot").glob("*.png"))]
    raw = temporal.sequence_flicker(labels, ignore_index=VOID_INDEX)
    compensated = temporal.sequence_flicker(labels, frames, ignore_index=VOID_INDEX)
    assert np.isnan(raw[0]) and np.all((raw[1:] > 0.005) & (raw[1:] < 0.25))
    assert np.nanmean(compensated) < np.nanmean(raw)  # the car drives: much of the change is motion
    # evaluate_source reports the same truth change rates beside the prediction's flicker
    source = ListSource(images, frames)
    truth = DictTruth(dict(enumerate(labels)))
    seg = LookupSegmenter(list(zip(frames, labels, strict=True)))
    ev = analysis.evaluate_source(source, truth, seg, use_cache=False)
    np.testing.assert_allclose(ev.truth_change, raw)
    np.testing.assert_allclose(ev.truth_change_compensated, compensated)
