"""The analysis views (pytest-qt, offscreen): click-to-seek, heat map values, and the dock in the real window."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt

from camvid_viewer import analysis
from model.classes import CLASS_NAMES, NUM_CLASSES, VOID_INDEX

WAIT_MS = 60_000
pytestmark = pytest.mark.timeout(180)


def make_evaluation(n: int = 12, start: int = 0, step: int = 1, seed: int = 3) -> analysis.SourceEvaluation:
    """A hand-built evaluation with per-frame matrices (frame 5 is the worst by mIoU)."""
    rng = np.random.default_rng(seed)
    matrices = []
    for k in range(n):
        m = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
        for c in range(VOID_INDEX):
            m[c, c] = rng.integers(50, 100)
            m[c, (c + 1) % VOID_INDEX] = 200 if k == 5 else rng.integers(0, 20)
        matrices.append(m)
    flicker = rng.uniform(0.01, 0.05, n)
    flicker[0] = np.nan
    return analysis.SourceEvaluation(
        source_path="clip", model_name="test", indices=np.arange(start, start + n * step, step, dtype=np.int64),
        names=tuple(f"frame{k}" for k in range(n)), matrices=np.asarray(matrices), flicker=flicker,
        flicker_compensated=flicker / 2, truth_change=flicker / 3, truth_change_compensated=flicker / 4,
        class_names=CLASS_NAMES, ignore_index=VOID_INDEX)


def click_plot(qtbot, timeline, plot, x: float, y: float) -> None:
    scene_point = plot.vb.mapViewToScene(QPointF(x, y))
    point = timeline.graphics.mapFromScene(scene_point)
    qtbot.mouseClick(timeline.graphics.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_timeline_click_seeks_to_the_nearest_evaluated_frame(qtbot):
    from camvid_viewer.ui.timeline import MetricsTimeline, nearest_index

    timeline = MetricsTimeline()
    qtbot.addWidget(timeline)
    timeline.resize(800, 300)
    timeline.show()
    qtbot.waitExposed(timeline)
    ev = make_evaluation(n=10, start=30, step=30)  # sparse truth: frames 30, 60, ..., 300
    timeline.set_evaluation(ev)
    data = timeline.curve_data()
    np.testing.assert_array_equal(data["mean_iou"][0], ev.indices)
    np.testing.assert_allclose(data["mean_iou"][1], [s.mean_iou for s in ev.frame_scores])
    qtbot.wait(50)  # let the layout settle before mapping plot coordinates to pixels
    with qtbot.waitSignal(timeline.seek_requested, timeout=5000) as blocker:
        click_plot(qtbot, timeline, timeline.score_plot, 152.0, 0.5)
    assert blocker.args == [150]
    with qtbot.waitSignal(timeline.seek_requested, timeout=5000) as blocker:
        click_plot(qtbot, timeline, timeline.flicker_plot, 268.0, 0.02)
    assert blocker.args == [270]
    timeline.set_current_index(90)
    assert timeline.playhead == 90
    assert nearest_index(44.9, [30, 60]) == 30 and nearest_index(3, []) is None


def test_worst_frames_sort_and_click_to_seek(qtbot):
    from camvid_viewer.ui.worst_frames import WorstFramesView

    view = WorstFramesView()
    qtbot.addWidget(view)
    view.resize(500, 400)
    view.show()
    qtbot.waitExposed(view)
    ev = make_evaluation(n=12, start=100)
    view.set_evaluation(ev)
    assert view.frame_at_row(0) == 105  # frame 5 (source index 105) has the worst mIoU
    rect = view.table.visualRect(view.proxy.index(0, 2))
    with qtbot.waitSignal(view.seek_requested, timeout=5000) as blocker:
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [105]

    view.sort_by(8)  # vehicle IoU, worst first
    rows = analysis.frame_rows(ev)
    expected = analysis.worst_frames(rows, by=8)[0].index
    assert view.frame_at_row(0) == expected
    rect = view.table.visualRect(view.proxy.index(0, 0))
    with qtbot.waitSignal(view.seek_requested, timeout=5000) as blocker:
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [expected]


def test_confusion_heat_map_shows_row_normalised_values(qtbot):
    from camvid_viewer.ui.confusion_view import ConfusionMatrixView

    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(600, 600)
    view.show()
    qtbot.waitExposed(view)
    m = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    m[3, 3], m[3, 4], m[4, 4], m[4, 3], m[8, 8], m[8, 1] = 600, 400, 900, 100, 50, 150
    view.set_matrix(m, class_names=CLASS_NAMES, ignore_index=VOID_INDEX)
    heat = view.heat_map
    assert heat.value_at(3, 4) == pytest.approx(0.4)
    assert heat.value_at(8, 1) == pytest.approx(0.75)
    assert heat.value_at(4, 4) == pytest.approx(0.9)
    assert VOID_INDEX not in heat.rows and VOID_INDEX not in heat.columns
    centre = heat.cell_rect(3, 4).center()
    assert heat.cell_at(centre) == (3, 4)
    tip = heat.tooltip_at(centre)
    assert "true road -> predicted sidewalk" in tip and "40.0%" in tip and "400 of 1,000" in tip
    assert view.pairs.item(0).text().startswith("vehicle -> building: 75.0%")
    image = heat.grab().toImage()
    dark = image.pixelColor(heat.cell_rect(8, 1).center())
    light = image.pixelColor(heat.cell_rect(8, 2).center())
    assert dark.lightness() < light.lightness()  # a bigger share paints darker


# -- the dock in the real window, on real CamVid frames -------------------------------------------
@pytest.fixture
def val_folder(tmp_path, camvid_root) -> Path:
    names = sorted(p.name for p in (camvid_root / "val").glob("*.png"))[:10]
    for sub in ("val", "valannot"):
        (tmp_path / "camvid" / sub).mkdir(parents=True)
        for n in names:
            shutil.copy(camvid_root / sub / n, tmp_path / "camvid" / sub / n)
    return tmp_path / "camvid" / "val"


class TruthWithRoadAsSidewalk:
    """Predicts the frame's own truth (looked up by file) with road turned into sidewalk."""

    name, card, device, backend = "road-as-sidewalk", {"name": "road-as-sidewalk"}, "cpu", "test"

    def __init__(self, folder: Path) -> None:
        from model.data import read_image, read_label

        self.table = {read_image(p).tobytes(): read_label(folder.parent / "valannot" / p.name) for p in sorted(folder.glob("*.png"))}

    def segment(self, frame, *, probabilities=False):
        from dataclasses import dataclass

        @dataclass
        class Prediction:
            labels: np.ndarray
            probabilities: np.ndarray | None = None
            confidence: np.ndarray | None = None

        labels = self.table[frame.tobytes()].copy()
        labels[labels == 3] = 4
        probs = None
        if probabilities:
            probs = np.eye(NUM_CLASSES, dtype=np.float32)[labels].transpose(2, 0, 1) * 0.8 + 0.2 / NUM_CLASSES
        return Prediction(labels, probs, None if probs is None else probs.max(0))


def test_dock_in_window_evaluates_and_seeks(qtbot, tmp_path, monkeypatch, val_folder):
    from PyQt6.QtCore import QSettings

    from camvid_viewer.ui.main_window import MainWindow
    from camvid_viewer.ui.settings import ViewerSettings

    monkeypatch.setenv("CAMVID_VIEWER_CONFIG_DIR", str(tmp_path / "settings"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    window = MainWindow(settings=ViewerSettings(organization="camvid-viewer-tests"), load_model=False)
    qtbot.addWidget(window)
    dock = window.analysis_dock  # the window installs the analysis parts itself
    dock.cache_dir = tmp_path / "cache"
    window.show()
    with qtbot.waitSignal(window.source_opened, timeout=WAIT_MS):
        window.open_path(str(val_folder))
    window.session.set_model(TruthWithRoadAsSidewalk(val_folder))
    with qtbot.waitSignal(dock.evaluation_ready, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(dock.evaluate_button, Qt.MouseButton.LeftButton)
    ev = blocker.args[0]
    assert len(ev) == 10 and ev.complete
    pooled = analysis.pooled_scores(ev)
    assert pooled.iou[3] == 0.0 and dock.pooled.mean_iou.text() != "n/a"
    assert "Pooled" in dock.pooled.title() and "Mean of per-frame" in dock.mean.title()
    qtbot.waitUntil(lambda: not dock.busy, timeout=WAIT_MS)

    target = dock.worst.frame_at_row(0)
    rect = dock.worst.table.visualRect(dock.worst.proxy.index(0, 0))
    dock.tabs.setCurrentWidget(dock.worst)
    dock.raise_()
    qtbot.mouseClick(dock.worst.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.session.index == target, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: dock.timeline.playhead == target, timeout=WAIT_MS)

    out = dock.export_json(str(tmp_path / "summary.json"))
    assert out and Path(out).read_text().count('"mean_of_frames"') == 1
