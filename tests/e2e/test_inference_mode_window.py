"""Model > Inference in the real window (pytest-qt, offscreen): the accurate mode reloads the model
flip-averaged at 1.2x its working height, the status bar says so, int8 and the accurate mode
exclude each other, and the export dialog runs the mode the window runs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_precision_window import (  # noqa: F401
    _make_window,
    device_label,
    int8_checkpoint,
    private_cache,
    small_checkpoint,
    two_frames,
)
from test_viewer import WAIT_MS, wait_for_index

pytestmark = pytest.mark.timeout(300)


def inference_menu(window) -> dict:
    model_menu = window.actions.menus["Model"]
    menu = next(a.menu() for a in model_menu.actions() if a.menu() is not None and a.text() == "&Inference")
    return {a.text().strip("&").split(" ")[0].lower(): a for a in menu.actions()}


def test_accurate_mode_from_the_menu(qtbot, int8_checkpoint, two_frames):  # noqa: F811
    from camvid_viewer.ui.export_dialog import ExportDialog
    from model.inference import Segmenter

    window = _make_window(qtbot, int8_checkpoint, precision="int8")
    entries = inference_menu(window)
    assert list(entries) == ["fast", "accurate"] and entries["fast"].isChecked()
    assert window.session.model.mode == "fast" and device_label(window) == "cpu / onnx / int8"

    with qtbot.waitSignal(window.model_loaded, timeout=WAIT_MS):
        entries["accurate"].trigger()
    model = window.session.model
    assert (model.mode, model.working_height, model.precision) == ("accurate", 144, "fp32")  # 120 x 1.2, float
    assert window.session.precision_choice == "auto" and window.actions.precisions["auto"].isChecked()
    assert entries["accurate"].isChecked() and device_label(window) == "cpu / onnx / fp32 / accurate"

    with qtbot.waitSignal(window.source_opened, timeout=WAIT_MS):
        window.open_path(str(two_frames))
    wait_for_index(qtbot, window, 0)
    frame = cv2.imread(str(sorted(two_frames.glob("*.png"))[0]))
    expected = Segmenter(int8_checkpoint, backend="onnx", mode="accurate").segment(frame).labels
    assert np.array_equal(window.session.result.labels, expected)  # what is shown is the accurate mode's
    dialog = ExportDialog(window.session, parent=window)
    qtbot.addWidget(dialog)
    assert dialog._make_segmenter().mode == "accurate"  # File > Export runs the mode the window runs

    # choosing int8 again goes back to the fast mode
    with qtbot.waitSignal(window.model_loaded, timeout=WAIT_MS):
        window.actions.precisions["int8"].trigger()
    assert (window.session.model.mode, window.session.model.precision) == ("fast", "int8")
    assert entries["fast"].isChecked() and window.session.inference_choice == "fast"
