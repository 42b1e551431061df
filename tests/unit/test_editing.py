"""Editing tools as pure functions on label maps: brush, fill, polygon, eraser, undo/redo, saving."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from camvid_viewer.editing import (
    EditHistory,
    LabelEdit,
    paint,
    polygon_mask,
    stroke_mask,
)
from camvid_viewer.editing.saving import (
    SaveError,
    default_annotation_folder,
    label_target,
    truth_with,
    write_label_png,
)
from camvid_viewer.editing.worth_correcting import disagreement_share, frames_worth_correcting
from camvid_viewer.sources import open_source
from camvid_viewer.sources.truth import TruthIndex, find_annotations
from model.classes import CAMVID
from model.data import read_label
from model.metrics import ConfusionMatrix
from model.signals import frame_signals

VOID = 11
ROOT = Path(__file__).resolve().parents[2]


def _blank(h=540, w=960, value=3) -> np.ndarray:
    return np.full((h, w), value, np.uint8)


def test_brush_paints_a_round_stroke_between_two_points():
    labels = _blank()
    box, mask = stroke_mask(labels.shape, start=(100, 200), end=(300, 200), radius=10)
    change = paint(labels, box, mask, value=8)
    painted = labels == 8
    assert change is not None and painted.sum() == mask.sum()
    # Every pixel within the radius of the segment is painted; nothing beyond radius + 1.
    ys, xs = np.mgrid[0:540, 0:960]
    distance = np.hypot(np.clip(xs, 100, 300) - xs, ys - 200)
    assert painted[distance <= 9.5].all() and not painted[distance > 11.5].any()
    # Only the stroke's bounding box is kept for undo, not the frame.
    assert change.before.size < 0.05 * labels.size and (change.before == 3).all()


def test_a_dot_and_a_stroke_off_the_frame_are_clipped():
    labels = _blank(60, 80)
    box, mask = stroke_mask(labels.shape, start=(-5, -5), end=(3, 3), radius=4)
    paint(labels, box, mask, value=1)
    assert labels[0, 0] == 1 and labels[40, 60] == 3
    box, mask = stroke_mask(labels.shape, start=(500, 500), radius=4)
    assert paint(labels, box, mask, value=1) is None  # nothing inside the frame


def test_fill_of_a_class_region_is_the_connected_part_only():
    labels = _blank(100, 100, value=0)
    labels[10:30, 10:30] = 5
    labels[60:90, 60:90] = 5  # the same class elsewhere, not connected
    edit = LabelEdit(labels, void_index=VOID)
    boxes = edit.fill((15, 15), value=2, by="class-region")
    assert boxes == [(10, 10, 30, 30)]
    assert (edit.labels[10:30, 10:30] == 2).all() and (edit.labels[60:90, 60:90] == 5).all()
    assert (labels[10:30, 10:30] == 5).all()  # the original is untouched


def test_fill_of_a_superpixel_fills_exactly_one_region():
    rng = np.random.default_rng(0)
    frame = np.zeros((270, 480, 3), np.uint8)
    frame[:, 240:] = (200, 40, 40)  # two flat halves: superpixels never cross the edge
    frame += rng.integers(0, 6, frame.shape, dtype=np.uint8)
    edit = LabelEdit(_blank(270, 480, value=0), frame=frame, void_index=VOID)
    regions = edit.superpixels()
    assert regions.shape == (270, 480) and regions.max() > 20
    edit.fill((300, 100), value=4, by="superpixel")
    filled = edit.labels == 4
    assert np.array_equal(filled, regions == regions[100, 300])
    assert not filled[:, :240].any()  # stays on its side of the frame's edge


def test_polygon_fills_its_inside():
    labels = _blank(100, 100, value=0)
    box, mask = polygon_mask(labels.shape, [(10, 10), (60, 10), (60, 50), (10, 50)])
    paint(labels, box, mask, value=7)
    assert (labels[10:51, 10:61] == 7).all() and (labels == 7).sum() == 41 * 51
    assert polygon_mask(labels.shape, [(1, 1), (5, 5)])[0].empty  # two points are no polygon


def test_eraser_writes_void_and_needs_a_void_class():
    edit = LabelEdit(_blank(50, 50), void_index=VOID)
    edit.erase((25, 25), radius=3)
    assert edit.labels[25, 25] == VOID
    no_void = LabelEdit(_blank(50, 50), void_index=None)
    assert no_void.erase((25, 25), radius=3) == [] and not no_void.dirty


def test_undo_redo_walks_the_steps_and_tracks_unsaved_edits():
    start = _blank(120, 160)
    edit = LabelEdit(start, void_index=VOID)
    assert not edit.dirty and edit.undo() == []
    edit.begin_stroke()  # one drag of three segments is one step
    for a, b in (((10, 10), (40, 10)), ((40, 10), (40, 40)), ((40, 40), (70, 40))):
        edit.brush(a, b, radius=3, value=1)
    edit.end_stroke()
    after_stroke = edit.labels.copy()
    edit.polygon([(100, 60), (150, 60), (150, 110)], value=9)
    after_polygon = edit.labels.copy()
    assert edit.dirty and edit.history.can_undo
    assert edit.undo() and np.array_equal(edit.labels, after_stroke)
    assert len(edit.undo()) == 3 and np.array_equal(edit.labels, start) and not edit.dirty
    assert edit.redo() and np.array_equal(edit.labels, after_stroke) and edit.dirty
    edit.mark_saved()
    assert not edit.dirty
    assert edit.redo() and np.array_equal(edit.labels, after_polygon) and edit.dirty
    edit.undo()
    assert not edit.dirty
    edit.erase((5, 100), radius=2)  # a new step drops the redo tail
    assert not edit.history.can_redo and edit.dirty


def test_history_keeps_patches_not_copies():
    history = EditHistory(limit=3)
    labels = _blank()
    for i in range(5):
        box, mask = stroke_mask(labels.shape, start=(10 + 20 * i, 10), radius=4)
        history.push([paint(labels, box, mask, value=1)])
    assert history.nbytes < 1000  # three 11x11 patches twice, not three frames
    assert history.undo(labels) and history.undo(labels) and history.undo(labels) and history.undo(labels) == []
    assert history.dirty  # the saved state fell off the end of the history


def test_frames_worth_correcting_skip_near_duplicates_and_labelled_frames():
    labels = _blank(10, 10, value=0)
    signals = {i: frame_signals(labels, np.full((10, 10), c, np.float32), 12) for i, c in
               enumerate([0.9, 0.2, 0.25, 0.8, 0.9, 0.9, 0.9, 0.9, 0.3, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5])}
    picks = frames_worth_correcting(signals, spacing=3)
    assert [p.index for p in picks] == [1, 8, 14] and picks[0].value == pytest.approx(0.2)
    assert [p.index for p in frames_worth_correcting(signals, spacing=3, labelled=[7])] == [1, 14]
    disagreement = {0: 0.1, 5: 0.4, 6: 0.39, 12: 0.2}
    picks = frames_worth_correcting(signals, by="disagreement", disagreement=disagreement, spacing=3)
    assert [p.index for p in picks] == [5, 12, 0]
    assert disagreement_share(np.zeros((2, 2), np.uint8), np.eye(2, dtype=np.uint8)) == 0.5


# -- saving ------------------------------------------------------------------------------------
def _video(path, frames, size=(480, 360)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    for frame in frames:
        writer.write(cv2.resize(frame, size))
    writer.release()
    return path


def test_a_videos_labels_named_by_frame_index_are_found_when_it_is_reopened(tmp_path, camvid_root):
    images = sorted((camvid_root / "val").glob("*.png"))[:6]
    video = _video(tmp_path / "drive.mp4", [cv2.imread(str(p)) for p in images])
    truths = {i: read_label(camvid_root / "valannot" / images[i].name) for i in (1, 4)}
    with open_source(video) as source:
        assert find_annotations(source) is None
        truth = None
        for index, labels in truths.items():
            target = label_target(source, index, truth=truth)
            assert target.folder == tmp_path / "driveannot" and not target.exists
            write_label_png(target.path, labels)
            truth = truth_with(truth, source, index, target.path)
        assert truth.labelled_indices == [1, 4]
    assert sorted(p.name for p in (tmp_path / "driveannot").iterdir()) == ["000001.png", "000004.png"]
    assert video.stat().st_size > 0 and sorted(p.name for p in tmp_path.iterdir()) == ["drive.mp4", "driveannot"]
    with open_source(video) as source:  # reopened: found beside it, paired by frame index
        found = TruthIndex.for_source(source, find_annotations(source))
        assert found.labelled_indices == [1, 4]
        for index, labels in truths.items():
            assert np.array_equal(found.read(index), labels)
        again = label_target(source, 4, truth=found)
        assert again.exists and again.path == tmp_path / "driveannot" / "000004.png"


def test_saved_png_reads_back_identical_and_eval_scores_it(tmp_path, camvid_root):
    names = sorted((camvid_root / "val").glob("*.png"))[:3]
    clip = tmp_path / "clip"
    clip.mkdir()
    for image in names:
        (clip / image.name).write_bytes(image.read_bytes())
    with open_source(clip) as source:
        assert default_annotation_folder(source) == tmp_path / "clipannot"
        edited = {}
        truth = None
        for index, image in enumerate(names):
            edit = LabelEdit(read_label(camvid_root / "valannot" / image.name), void_index=VOID, index=index)
            edit.brush((50, 50), (200, 80), radius=12, value=8)
            edit.fill((400, 300), value=4, by="class-region")
            target = label_target(source, index, truth=truth)
            write_label_png(target.path, edit.labels)
            truth = truth_with(truth, source, index, target.path)
            edited[index] = edit.labels
            assert target.path.name == image.name and np.array_equal(read_label(target.path), edit.labels)
    assert not list((tmp_path / "clipannot").glob(".*"))  # no temp file left
    assert sorted(p.name for p in clip.iterdir()) == [p.name for p in names]  # the input untouched
    # eval scores the saved labels as truth: CamVid's own labels against them give the same
    # figures as one confusion matrix over the arrays edited here.
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "eval", "--images", str(clip), "--annotations",
                           str(tmp_path / "clipannot"), "--predictions", str(camvid_root / "valannot"), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = ConfusionMatrix(12, ignore_index=VOID, class_names=CAMVID.names)
    for index, image in enumerate(names):
        expected.update(read_label(camvid_root / "valannot" / image.name), edited[index])
    scored, want = json.loads(done.stdout), json.loads(json.dumps(expected.compute().to_json(frames=3)))
    assert {key: scored[key] for key in want} == want


def test_labels_are_never_written_inside_the_input(tmp_path, camvid_root):
    clip = tmp_path / "clip"
    clip.mkdir()
    image = sorted((camvid_root / "val").glob("*.png"))[0]
    (clip / image.name).write_bytes(image.read_bytes())
    with open_source(clip) as source:
        with pytest.raises(SaveError, match="inside"):
            label_target(source, 0, folder=clip / "labels")
        with pytest.raises(SaveError, match="clip"):
            label_target(source, 0, folder=clip)
