"""Model > Precision end to end (pytest-qt, offscreen): the real window on the ONNX backend with
the random checkpoint at a 120-pixel working height, with and without an int8 calibration made
on real CamVid frames; QSettings and the ONNX graph cache in temporary folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_viewer import WAIT_MS, _copy_split, expect_message, wait_for_index

pytestmark = pytest.mark.timeout(300)


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """One ONNX graph cache for the module: each checkpoint's graphs are exported once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAMVID_VIEWER_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def small_checkpoint(random_checkpoint, tmp_path_factory) -> Path:
    """The random checkpoint (no int8 calibration) at a 120-pixel working height: same pipeline, less compute."""
    from model.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(random_checkpoint)
    card = dict(ckpt.card, input=dict(ckpt.card["input"], working_height=120))
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "random-small.safetensors", ckpt.build(), card)


@pytest.fixture(scope="module")
def int8_checkpoint(small_checkpoint, camvid_root, tmp_path_factory) -> Path:
    """``small_checkpoint`` calibrated for int8 (``main.py quantize``) on 4 train and 2 val frames."""
    from model.quantize_model import quantize_checkpoint

    data = tmp_path_factory.mktemp("calibration")
    for split, count in (("train", 4), ("val", 2)):
        for image in sorted((camvid_root / split).glob("*.png"))[:count]:
            for sub in (split, f"{split}annot"):
                (data / sub).mkdir(exist_ok=True)
                shutil.copy(camvid_root / sub / image.name, data / sub / image.name)
    out = data.parent / "random-small-int8.safetensors"
    quantize_checkpoint(small_checkpoint, data=data, out=out)
    return out


@pytest.fixture
def two_frames(tmp_path, camvid_root) -> Path:
    return _copy_split(camvid_root, tmp_path / "camvid", 2)


def _make_window(qtbot, checkpoint, **kwargs):
    from camvid_viewer.ui.main_window import MainWindow
    from camvid_viewer.ui.settings import ViewerSettings

    kwargs.setdefault("backend", "onnx")
    window = MainWindow(settings=ViewerSettings(organization="camvid-viewer-tests"), model_path=str(checkpoint), **kwargs)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    return window


def choose(qtbot, window, precision: str):
    """Model > Precision > ``precision``, then wait for the reloaded model; returns it."""
    old = window.session.model
    with qtbot.waitSignal(window.model_loaded, timeout=WAIT_MS):
        precision_menu(window)[precision].trigger()
    assert window.session.model is not old
    return window.session.model


def precision_menu(window) -> dict:
    """The Model > Precision entries by title, as the menu holds them."""
    model_menu = window.actions.menus["Model"]
    menu = next(a.menu() for a in model_menu.actions() if a.menu() is not None and a.text() == "&Precision")
    return {a.text().strip("&").lower(): a for a in menu.actions()}


def device_label(window) -> str:
    return window.status.labels["device"].text()


# -- tests ----------------------------------------------------------------------------------------
def test_precision_menu_reloads_the_model_and_the_status_bar_shows_what_runs(qtbot, int8_checkpoint, two_frames):
    from model.inference import PRECISIONS

    window = _make_window(qtbot, int8_checkpoint)
    entries = precision_menu(window)
    assert list(entries) == list(PRECISIONS) and all(a.isCheckable() for a in entries.values())
    assert entries["auto"].isChecked() and window.session.precision_choice == "auto"
    assert entries["auto"].actionGroup().isExclusive()
    assert device_label(window) == f"cpu / onnx / {window.session.model.precision}"

    model = choose(qtbot, window, "fp32")
    assert (model.precision, window.session.precision_choice) == ("fp32", "fp32")
    assert entries["fp32"].isChecked() and not entries["auto"].isChecked()
    assert device_label(window) == "cpu / onnx / fp32"

    model = choose(qtbot, window, "int8")  # the card holds a calibration: int8 runs, checked or not
    assert (model.precision, window.session.precision_choice) == ("int8", "int8")
    assert entries["int8"].isChecked() and device_label(window) == "cpu / onnx / int8"
    assert window.welcome.model_label.text() == "Model: random-test-model on cpu / onnx / int8"
    with qtbot.waitSignal(window.source_opened, timeout=WAIT_MS):
        window.open_path(str(two_frames))
    wait_for_index(qtbot, window, 0)  # a frame segmented by the int8 graph
    assert window.session.result.labels is not None and window.session.model is model
    assert device_label(window) == "cpu / onnx / int8"


def test_int8_without_calibration_falls_back_to_fp32_with_one_notice(qtbot, small_checkpoint):
    window = _make_window(qtbot, small_checkpoint, precision="fp32")
    assert window.notice.text() == "" and device_label(window) == "cpu / onnx / fp32"
    messages: list[str] = []
    window.message.connect(messages.append)

    text = expect_message(qtbot, window, lambda: precision_menu(window)["int8"].trigger(),
                          "random-test-model", "fp32", "the model has no int8 calibration", "main.py quantize")
    qtbot.waitUntil(lambda: window.session.precision_choice == "int8", timeout=WAIT_MS)
    model = window.session.model
    assert (model.precision, model.precision_note) == ("fp32", "fp32: the model has no int8 calibration "
                                                       "(make one with: main.py quantize MODEL --data DIR)")
    assert window.actions.precisions["int8"].isChecked()  # asked for, and the model loaded
    assert device_label(window) == "cpu / onnx / fp32"  # what runs
    assert window.notice.text() == text and not window.notice.isHidden()  # non-blocking, in the window
    qtbot.wait(200)
    assert messages == [text]  # reported once for the load, not per frame or repeated

    # int8 is an ONNX graph: choosing PyTorch goes back to auto, which runs fp32 there
    with qtbot.waitSignal(window.model_loaded, timeout=WAIT_MS):
        window.actions.backends["torch"].trigger()
    model = window.session.model
    assert (model.precision, model.precision_note) == ("fp32", None)  # torch never takes int8, and says nothing
    assert (window.session.backend_choice, window.session.precision_choice) == ("torch", "auto")
    assert window.actions.precisions["auto"].isChecked() and device_label(window) == "cpu / torch / fp32"
    # A combination the model cannot run fails to load; the model, the choices and the menus stay.
    expect_message(qtbot, window, lambda: precision_menu(window)["int8"].trigger(), "int8", "ONNX backend")
    assert window.session.model is model and window.session.precision_choice == "auto"
    assert window.actions.precisions["auto"].isChecked() and not window.actions.precisions["int8"].isChecked()


def test_export_dialog_loads_its_model_with_the_windows_precision(qtbot, int8_checkpoint, two_frames, tmp_path,
                                                                  monkeypatch):
    from camvid_viewer.loaders import load_segmenter
    from camvid_viewer.ui.export_dialog import ExportDialog

    window = _make_window(qtbot, int8_checkpoint)
    choose(qtbot, window, "int8")
    with qtbot.waitSignal(window.source_opened, timeout=WAIT_MS):
        window.open_path(str(two_frames))
    wait_for_index(qtbot, window, 0)
    loaded = []

    def recording_load(path, **choice):
        segmenter = load_segmenter(path, **choice)
        loaded.append((path, choice, segmenter.precision))
        return segmenter

    monkeypatch.setattr("camvid_viewer.ui.export_dialog.load_segmenter", recording_load)
    dialog = ExportDialog(window.session, parent=window)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.output_edit.setText(str(tmp_path / "out.mp4"))
    dialog.last_spin.setValue(0)
    with qtbot.waitSignal(dialog.export_finished, timeout=WAIT_MS) as finished:
        assert dialog.start(), dialog.message_label.text()
    assert finished.args == ["done"], dialog.message_label.text()
    assert loaded == [(str(int8_checkpoint), {"device": "auto", "backend": "onnx", "precision": "int8", "mode": "fast",
                                              "card": None, "mapping": None}, "int8")]
    dialog.shutdown()
