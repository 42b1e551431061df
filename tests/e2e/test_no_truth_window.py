"""The window on footage without truth: the model's own signals, live (real CamVid frames as a video)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_viewer import WAIT_MS, _make_window, open_and_wait, play_every_frame

from camvid_viewer.session import format_score

pytestmark = pytest.mark.timeout(240)
FRAMES = 12


@pytest.fixture
def dashcam(tmp_path, camvid_root):
    """A 960x540 25 fps MP4 of consecutive val frames, with no annotations anywhere near it."""
    path = tmp_path / "drive.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (960, 540))
    for image in sorted((camvid_root / "val").glob("*.png"))[:FRAMES]:
        writer.write(cv2.resize(cv2.imread(str(image)), (960, 540)))
    writer.release()
    return path


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_playing_a_video_without_truth_shows_the_models_own_signals(qtbot, random_checkpoint, dashcam, backend):
    from model.inference import Segmenter

    window = _make_window(qtbot, random_checkpoint, backend=backend)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, dashcam)
    window.analysis_dock.timeline_dock.show()
    shown = play_every_frame(qtbot, window)
    s, dock = window.session, window.metrics_dock
    assert sorted(shown) == list(range(FRAMES)) and s.truth is None
    assert dock.no_truth_label.isVisible() and dock.annotations_button.isVisible() and not dock.truth_panel.isVisible()

    # The dock: shares of the last frame sum to 100% and are the label map's own counts.
    last = shown[FRAMES - 1]
    counts = np.bincount(last.labels.ravel(), minlength=12) / last.labels.size
    assert [dock.cell_text(row, 6) for row in range(12)] == [format_score(c) for c in counts]
    assert abs(sum(last.signals.class_share) - 1) < 1e-9
    # Mean confidence: the winning-class probability straight from the model, on the same frame.
    reference = Segmenter(random_checkpoint, backend="torch", device="cpu").segment(last.frame, probabilities=True)
    assert last.signals.mean_confidence == pytest.approx(float(reference.probabilities.max(0).mean()), abs=2e-3)
    assert dock.confidence_label.text() == format_score(last.signals.mean_confidence)
    # Flicker: the share of labels changed since the frame before.
    changed = float((last.labels != shown[FRAMES - 2].labels).mean())
    assert last.signals.flicker == pytest.approx(changed) and dock.flicker_label.text() == format_score(changed)
    # Running shares over every frame played; the timeline has one point per played frame.
    played = np.concatenate([r.labels.ravel() for r in shown.values()])
    expected = np.bincount(played, minlength=12) / played.size
    assert [dock.cell_text(row, 7) for row in range(12)] == [format_score(c) for c in expected]
    timeline = window.analysis_dock.timeline
    assert list(timeline.live_indices) == list(range(FRAMES))
    (x_from, x_to), _ = timeline.score_plot.viewRange()
    assert x_from <= 0 and x_to >= FRAMES - 1  # the whole source from the first point on: axes not redrawn per frame
    x, y = timeline.confidence_curve.getData()
    assert len(x) == FRAMES and y[-1] == pytest.approx(last.signals.mean_confidence)
    least, most = timeline.marked_frames
    confidences = {i: r.signals.mean_confidence for i, r in shown.items()}
    assert least[0] == min(confidences, key=confidences.get) and 1 <= len(most) <= 3  # one mark per bad moment
    # Worst frames without truth: least confident first, near-duplicate neighbours skipped.
    looked = window.analysis_dock.worst.looked_frames()
    assert looked[0] == least[0] and all(abs(a - b) > 5 for i, a in enumerate(looked) for b in looked[:i])


def test_the_threshold_is_settable_and_redraws_the_frame(qtbot, random_checkpoint, dashcam):
    window = _make_window(qtbot, random_checkpoint)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, dashcam)
    dock = window.metrics_dock
    qtbot.waitUntil(lambda: window.session.result.signals is not None, timeout=WAIT_MS)
    dock.threshold_box.setValue(90)
    dock.threshold_box.editingFinished.emit()
    qtbot.waitUntil(lambda: window.session.shows_named_frame and window.session.result.signals.threshold == 0.9,
                    timeout=WAIT_MS)
    result = window.session.result
    assert result.signals.low_confidence_share == pytest.approx(float((result.confidence < 0.9).mean()))
    assert dock.low_share_label.text() == format_score(result.signals.low_confidence_share)


def test_signals_are_not_computed_while_no_view_shows_them(qtbot, random_checkpoint, dashcam):
    window = _make_window(qtbot, random_checkpoint)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, dashcam)
    window.metrics_dock.hide()
    window.analysis_dock.timeline_dock.hide()
    window.seek(3)
    qtbot.waitUntil(lambda: window.session.shows_named_frame, timeout=WAIT_MS)
    assert window.session.result.signals is None and window.session.result.confidence is None
    window.metrics_dock.show()
    qtbot.waitUntil(lambda: window.session.result.signals is not None, timeout=WAIT_MS)


def test_motion_compensated_flicker_is_the_analysis_tools_measure(qtbot, random_checkpoint, dashcam):
    """Ticked, the dock's flicker is the change of labels after warping the previous frame's labels
    by the optical flow (``analysis.temporal``), on the same two frames; unticked, the raw change."""
    from camvid_viewer.analysis.temporal import label_change_rate, motion_flow

    window = _make_window(qtbot, random_checkpoint)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    open_and_wait(qtbot, window, dashcam)
    dock, s = window.metrics_dock, window.session
    window.analysis_dock.timeline.compensated.setChecked(True)  # the timeline's box is the same choice
    assert dock.motion_box.isChecked() and s.motion_flicker
    shown = play_every_frame(qtbot, window)
    before, last = shown[FRAMES - 2], shown[FRAMES - 1]
    flow = motion_flow(before.frame, last.frame)
    expected = label_change_rate(before.labels, last.labels, flow=flow)
    assert last.signals.flicker == pytest.approx(expected, abs=1e-12)
    assert dock.flicker_label.text() == format_score(expected)
    raw = float((last.labels != before.labels).mean())
    assert shown[1].signals.flicker is not None and expected != raw  # the flow changed what is compared
    dock.motion_box.setChecked(False)
    assert not s.motion_flicker and s.signal_totals.frames == 0  # the old way's figures are gone
    assert not window.analysis_dock.timeline.compensated.isChecked()
