"""Edit mode in the real window (pytest-qt, offscreen) on real CamVid frames: correcting a frame's
labels with the mouse, saving them as its annotation, and never losing unsaved edits silently."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QApplication, QMessageBox
from test_viewer import WAIT_MS, _copy_split, _make_window, open_and_wait, wait_for_index

from camvid_viewer.analysis.compare import SecondResult
from model.classes import VOID_INDEX
from model.data import read_label
from model.metrics import ConfusionMatrix

pytestmark = pytest.mark.timeout(240)
Button = QMessageBox.StandardButton


@pytest.fixture
def dashcam(tmp_path, camvid_root):
    """A 960x540 MP4 of 4 consecutive val frames, no annotations beside it."""
    path = tmp_path / "drive.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (960, 540))
    for image in sorted((camvid_root / "val").glob("*.png"))[:4]:
        writer.write(cv2.resize(cv2.imread(str(image)), (960, 540)))
    writer.release()
    return path


@pytest.fixture
def answers(monkeypatch):
    """Every question edit mode asks, answered from a list (and recorded), never a blocking dialog."""
    asked: list[str] = []
    queue: list = []

    def question(_parent, title, text, *_args, **_kwargs):
        asked.append(f"{title}: {text}")
        return queue.pop(0) if queue else Button.Discard  # (a failed test still closes its window)

    monkeypatch.setattr("camvid_viewer.ui.edit_mode.QMessageBox.question", question)
    return asked, queue


def _drag(layer, points, button=Qt.MouseButton.LeftButton) -> None:
    """A real press, moves and release on the edit layer at frame pixels ``points``."""
    def event(kind, point, buttons):
        pos = _screen(layer, point)
        return QMouseEvent(kind, pos, layer.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)

    QApplication.sendEvent(layer, event(QMouseEvent.Type.MouseButtonPress, points[0], button))
    for point in points[1:]:
        QApplication.sendEvent(layer, event(QMouseEvent.Type.MouseMove, point, button))
    QApplication.sendEvent(layer, event(QMouseEvent.Type.MouseButtonRelease, points[-1], Qt.MouseButton.NoButton))


def _screen(layer, point) -> QPointF:
    x, y, w, _h = layer._image_rect()
    scale = w / layer.labels.shape[1]
    return QPointF(x + (point[0] + 0.5) * scale, y + (point[1] + 0.5) * scale)


def _edit(qtbot, window):
    editor = window.editor
    window.actions.play.setEnabled(True)
    editor.actions.toggle.trigger()
    assert editor.active and window.editor.layer.isVisible()
    return editor


def test_edit_seek_asks_cancel_keeps_discard_drops_save_writes_and_scores(qtbot, random_checkpoint, dashcam, answers):
    asked, queue = answers
    window = _make_window(qtbot, random_checkpoint)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, dashcam)
    s, editor = window.session, window.editor
    # While two models are compared, each result carries model B's labels: the share of pixels
    # the two label differently ranks the frames worth correcting.
    first = s.result
    other = first.labels.copy()
    other[:135] = (other[:135] + 1) % 11
    assert s.accept_result(dataclasses.replace(first, second=SecondResult(other, s.label_set, other, s.label_set)))
    assert editor.disagreement == {0: pytest.approx(float((other != first.labels).mean()))}
    editor.dock.rank_box.setCurrentIndex(editor.dock.rank_box.findData("disagreement"))
    assert editor.dock.worth_frames() == [0]
    editor.dock.rank_box.setCurrentIndex(editor.dock.rank_box.findData("confidence"))
    editor = _edit(qtbot, window)
    prediction = s.result.labels.copy()
    assert np.array_equal(editor.edit.labels, prediction) and not editor.edit.from_truth
    assert s.result.frame.shape[:2] == (540, 960)

    # A brush stroke with the mouse, in the class picked by its number key's action.
    editor.actions.classes[8].trigger()  # key 9: class 8 (vehicle)
    editor.set_radius(15)
    _drag(editor.layer, [(100, 300), (200, 310), (300, 320)])
    painted = editor.edit.labels.copy()
    assert painted[310, 200] == 8 and editor.dirty and not np.array_equal(painted, prediction)
    assert editor.edit.history.nbytes < 0.25 * prediction.size  # patches of the stroke, not frames

    # Leaving the frame asks; Cancel keeps the frame and the edits.
    queue.append(Button.Cancel)
    window.step(1)
    assert len(asked) == 1 and "Frame 0" in asked[0] and "not saved" in asked[0]
    assert s.index == 0 and editor.active and np.array_equal(editor.edit.labels, painted) and editor.dirty
    queue.append(Button.Cancel)
    window.play()  # playback asks too, and stays paused on Cancel
    assert len(asked) == 2 and not s.playing and editor.active
    queue.append(Button.Cancel)
    window.close()
    assert len(asked) == 3 and window.isVisible()
    queue.append(Button.Cancel)
    source = s.source
    window.open_path(str(dashcam))  # opening another source asks too; Cancel keeps this one
    assert len(asked) == 4 and s.source is source and editor.dirty

    # Discard: the frame changes, the edits are gone, nothing was written.
    queue.append(Button.Discard)
    window.seek(2)
    wait_for_index(qtbot, window, 2)
    qtbot.waitUntil(lambda: editor.edit.index == 2, timeout=WAIT_MS)
    assert np.array_equal(editor.edit.labels, s.result.labels) and not editor.dirty
    assert not (dashcam.parent / "driveannot").exists()
    # Frames worth correcting: frames 0 and 2 are one moment (within 5 frames): listed once.
    assert set(s.signals) == {0, 2} and len(editor.dock.worth_frames()) == 1

    # Edit frame 2 with the other tools, then save (no question: a new annotation folder beside the video).
    editor.set_tool("fill")
    editor.set_fill_by("class-region")
    editor.set_class(3)
    _drag(editor.layer, [(480, 500)])
    editor.set_tool("polygon")
    editor.set_class(9)
    for point in ((600, 100), (700, 100), (700, 200)):
        _drag(editor.layer, [point])
    editor.close_polygon()
    editor.set_tool("eraser")
    _drag(editor.layer, [(50, 50), (60, 60)])
    assert editor.edit.labels[55, 55] == VOID_INDEX and editor.edit.labels[130, 690] == 9
    editor.undo()
    assert editor.edit.labels[55, 55] != VOID_INDEX
    editor.redo()
    edited = editor.edit.labels.copy()
    editor.actions.save.trigger()
    target = dashcam.parent / "driveannot" / "000002.png"
    assert len(asked) == 5 and np.array_equal(read_label(target), edited) and not editor.dirty
    assert window.playback_bar.slider.labelled == [2]  # the slider marks it at once
    assert editor.dock.worth_frames() == []  # its moment is labelled now
    qtbot.waitUntil(lambda: s.result.index == 2 and s.frame_scores is not None, timeout=WAIT_MS)
    expected = ConfusionMatrix(12, ignore_index=VOID_INDEX)
    expected.update(s.result.labels, edited)
    assert window.metrics_dock.frame_scores == expected.compute()  # the dock scores the saved labels
    assert editor.active and np.array_equal(editor.edit.labels, edited) and editor.edit.from_truth

    # Reopened, the video finds its labels by frame index; edit mode starts from them.
    open_and_wait(qtbot, window, dashcam)
    assert not editor.active and s.truth is not None and s.truth.labelled_indices == [2]
    window.seek(2)
    wait_for_index(qtbot, window, 2)
    qtbot.waitUntil(lambda: s.result.truth is not None, timeout=WAIT_MS)
    _edit(qtbot, window)
    assert editor.edit.from_truth and np.array_equal(editor.edit.labels, edited)
    assert sorted(p.name for p in dashcam.parent.iterdir()) == ["drive.mp4", "driveannot"]


def test_an_existing_annotation_is_replaced_only_when_the_user_says_so(qtbot, random_checkpoint, tmp_path, camvid_root, answers):
    asked, queue = answers
    frames = _copy_split(camvid_root, tmp_path / "camvid", 3)
    window = _make_window(qtbot, random_checkpoint)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, frames)
    qtbot.waitUntil(lambda: window.session.result.truth is not None, timeout=WAIT_MS)
    editor = _edit(qtbot, window)
    annotation = tmp_path / "camvid" / "valannot" / sorted(frames.iterdir())[0].name
    original = annotation.read_bytes()
    assert editor.edit.from_truth and np.array_equal(editor.edit.labels, read_label(annotation))

    editor.set_fill_by("superpixel")  # computed off the GUI thread once the fill is the tool
    qtbot.waitUntil(lambda: editor.edit.has_superpixels, timeout=WAIT_MS)
    regions = editor.edit.superpixels()
    editor.set_class(7)
    _drag(editor.layer, [(240, 200)])
    assert (editor.edit.labels[regions == regions[200, 240]] == 7).all()
    editor.set_tool("brush")
    editor.set_class(2)
    editor.set_radius(4)
    _drag(editor.layer, [(20, 20), (20, 300)])
    queue.append(Button.No)
    assert not editor.save()
    assert "already has an annotation" in asked[-1] and annotation.read_bytes() == original and editor.dirty
    queue.append(Button.Yes)
    assert editor.save()
    assert np.array_equal(read_label(annotation), editor.edit.labels) and not editor.dirty
    assert window.session.truth.labelled_indices == [0, 1, 2]
    assert not [p for p in annotation.parent.iterdir() if p.name.startswith(".")]  # no temp file left
