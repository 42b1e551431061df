"""File > Export overlay video end to end (pytest-qt, offscreen): the real window and dialog on
8 real CamVid val frames (SegNet layout in tmp_path), the random checkpoint at a 120-pixel
working height, QSettings in a temporary folder."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QMessageBox

from camvid_viewer.sources import open_source
from camvid_viewer.ui.export_dialog import ExportDialog

WAIT_MS = 120_000  # a model load plus 8 frames on 2 busy cores
pytestmark = pytest.mark.timeout(240)


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_checkpoint(random_checkpoint, tmp_path_factory) -> Path:
    """The random checkpoint at a 120-pixel working height: 9x less compute, the same pipeline."""
    from model.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(random_checkpoint)
    card = dict(ckpt.card, input=dict(ckpt.card["input"], working_height=120))
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "random-small.safetensors", ckpt.build(), card)


@pytest.fixture
def val_folder(tmp_path, camvid_root) -> Path:
    """8 real val frames as ``camvid/val`` + ``camvid/valannot``."""
    names = [p.name for p in sorted((camvid_root / "val").glob("*.png"))[:8]]
    for sub in ("val", "valannot"):
        (tmp_path / "camvid" / sub).mkdir(parents=True)
        for name in names:
            shutil.copy(camvid_root / sub / name, tmp_path / "camvid" / sub / name)
    return tmp_path / "camvid" / "val"


@pytest.fixture
def window(qtbot, small_checkpoint, val_folder):
    """The viewer with the folder open, side-by-side view at 30% opacity, the legend on."""
    from camvid_viewer.ui.main_window import MainWindow
    from camvid_viewer.ui.settings import ViewerSettings

    w = MainWindow(settings=ViewerSettings(organization="camvid-viewer-tests"), model_path=str(small_checkpoint), backend="torch")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.session.model is not None, timeout=WAIT_MS)
    with qtbot.waitSignal(w.source_opened, timeout=WAIT_MS):
        w.open_path(str(val_folder))
    # frame 0 painted: no model call of the window is in flight when a test ends
    qtbot.waitUntil(lambda: w.session.result is not None, timeout=WAIT_MS)
    w.session.set_view("side-by-side")
    w.session.set_opacity(0.3)
    w.session.set_legend(True)
    return w


@pytest.fixture
def make_dialog(qtbot, window):
    dialogs = []

    def make(**kwargs) -> ExportDialog:
        d = ExportDialog(window.session, parent=window, **kwargs)
        qtbot.addWidget(d)
        d.show()
        dialogs.append(d)
        return d

    yield make
    for d in dialogs:
        d.shutdown()


def entries(folder: Path) -> list[str]:
    """Everything in ``folder``, hidden temp files included."""
    return sorted(p.name for p in folder.iterdir())


def export_and_wait(qtbot, dialog: ExportDialog) -> str:
    with qtbot.waitSignal(dialog.export_finished, timeout=WAIT_MS) as finished:
        assert dialog.start(), dialog.message_label.text()
    return finished.args[0]


# -- the dialog -----------------------------------------------------------------------------------
def test_defaults_follow_the_window_and_export_writes_every_frame(qtbot, window, make_dialog, val_folder, tmp_path, monkeypatch):
    dialog = make_dialog()
    assert dialog.input_edit.text() == str(val_folder)
    assert Path(dialog.annotations_edit.text()) == val_folder.parent / "valannot"
    assert dialog.view_box.currentData() == "side-by-side"
    assert dialog.opacity_spin.value() == 30 and dialog.legend_check.isChecked()
    assert (dialog.first_spin.value(), dialog.last_spin.value(), dialog.last_spin.maximum()) == (0, 7, 7)
    assert dialog.fps_spin.isEnabled() and dialog.fps_spin.value() == 15
    assert "random-test-model" in dialog.model_label.text()
    assert dialog.output_edit.text() == str(val_folder.parent / "val-export.mp4")

    out_dir = tmp_path / "exports"
    dialog.output_edit.setText(str(out_dir / "val.mp4"))
    dialog.csv_edit.setText(str(out_dir / "val.csv"))
    progress = []
    dialog.progress_changed.connect(lambda done, total: progress.append((done, total)))
    assert export_and_wait(qtbot, dialog) == "done", dialog.message_label.text()
    assert progress[0] == (1, 8) and progress[-1] == (8, 8)
    with open_source(str(out_dir / "val.mp4")) as video:
        assert video.frame_count == 8
        assert video.size == (3 * 480, 360)  # side by side: frame | prediction | truth
    assert entries(out_dir) == ["val.csv", "val.mp4"]
    summary = dialog.message_label.text()
    assert "val.mp4 (8 frames" in summary and "8 labelled frame(s)" in summary and "\n" not in summary
    assert dialog.open_folder_button.isVisible() and dialog.export_button.isVisible()
    opened = []
    monkeypatch.setattr("camvid_viewer.ui.export_dialog.QDesktopServices.openUrl", lambda url: opened.append(url.toLocalFile()))
    dialog.open_folder_button.click()
    assert opened == [str(out_dir)]
    assert window.session.model is not None and window.session.source is not None  # the viewer's own state untouched


def test_from_the_file_menu_the_viewer_stays_usable_while_exporting(qtbot, window, tmp_path):
    """The window opens the dialog with exec(); starting the export must give the window back."""
    out = tmp_path / "menu.mp4"
    seen = {}

    def fill_and_start():
        dialog = window.findChild(ExportDialog)
        try:
            dialog.output_edit.setText(str(out))
            dialog.last_spin.setValue(2)
            seen["finished"] = qtbot.waitSignal(dialog.export_finished, timeout=WAIT_MS)
            dialog.export_button.click()
        finally:
            if QApplication.activeModalWidget() is dialog:
                dialog.done(0)  # never leave exec() hanging

    QTimer.singleShot(0, fill_and_start)
    window.open_export_dialog()  # with exec(): returns once the export runs
    qtbot.waitUntil(lambda: "finished" in seen, timeout=WAIT_MS)
    dialog = window.findChild(ExportDialog)
    assert dialog.is_running() and dialog.isVisible() and not dialog.isModal()
    assert QApplication.activeModalWidget() is None
    window.step(1)  # the viewer still answers while the export runs
    qtbot.waitUntil(lambda: window.session.result is not None and window.session.result.index == 1, timeout=WAIT_MS)
    seen["finished"].wait()
    assert seen["finished"].args == ["done"], dialog.message_label.text()
    with open_source(str(out)) as video:
        assert video.frame_count == 3
    dialog.shutdown()


class GatedSegmenter:
    """A real model that waits at its third frame until the test has pressed Cancel."""

    def __init__(self, segmenter, gate: threading.Event) -> None:
        self.segmenter, self.gate, self.calls = segmenter, gate, 0

    def __getattr__(self, name):
        return getattr(self.segmenter, name)

    def segment(self, frame, **kwargs):
        self.calls += 1
        if self.calls >= 3:
            self.gate.wait(30)
        return self.segmenter.segment(frame, **kwargs)


def test_cancel_midway_leaves_no_output_and_no_temp_file(qtbot, make_dialog, small_checkpoint, tmp_path):
    from camvid_viewer.loaders import load_segmenter

    gate = threading.Event()
    dialog = make_dialog(segmenter_factory=lambda: GatedSegmenter(load_segmenter(str(small_checkpoint), backend="torch"), gate))
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    dialog.output_edit.setText(str(out_dir / "v.mp4"))
    dialog.csv_edit.setText(str(out_dir / "v.csv"))
    dialog.masks_edit.setText(str(out_dir / "masks"))

    def cancel_after_first_frame(done, total):
        if done == 1:
            dialog.cancel_button.click()
            gate.set()

    dialog.progress_changed.connect(cancel_after_first_frame)
    assert export_and_wait(qtbot, dialog) == "cancelled"
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=WAIT_MS)
    assert entries(out_dir) == []
    assert "cancelled; nothing was written" in dialog.message_label.text()
    assert dialog.export_button.isVisible() and not dialog.cancel_button.isVisible() and dialog.form_groups[0].isEnabled()


def test_closing_as_the_export_ends_asks_nothing(qtbot, make_dialog, tmp_path, monkeypatch):
    """The result is shown a moment before the worker thread ends; Close then must not ask to stop."""
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: asked.append(args) or QMessageBox.StandardButton.No)
    dialog = make_dialog()
    dialog.output_edit.setText(str(tmp_path / "v.mp4"))
    dialog.last_spin.setValue(1)
    closed = []

    def close_at_once(outcome):
        dialog._job_done.clear()  # as when the worker thread has not quite returned yet
        closed.append(dialog.close())
        dialog._job_done.set()

    dialog.export_finished.connect(close_at_once)
    assert export_and_wait(qtbot, dialog) == "done"
    assert closed == [True] and asked == [] and not dialog.isVisible()


def test_existing_output_needs_confirmation(qtbot, make_dialog, tmp_path, monkeypatch):
    out = tmp_path / "old.mp4"
    out.write_bytes(b"precious")
    asked = []

    def answer(reply):
        def question(parent, title, text, *args, **kwargs):
            asked.append(text)
            return reply
        return question

    dialog = make_dialog()
    dialog.output_edit.setText(str(out))
    dialog.last_spin.setValue(1)
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert not dialog.start() and not dialog.is_running()
    assert out.read_bytes() == b"precious" and str(out) in asked[0]

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    assert dialog.smoothing_check.isVisible()
    dialog.smoothing_check.setChecked(True)  # the same export through TemporalSmoother
    assert export_and_wait(qtbot, dialog) == "done", dialog.message_label.text()
    assert len(asked) == 2
    with open_source(str(out)) as video:
        assert video.frame_count == 2
    assert entries(tmp_path).count("old.mp4") == 1 and not [n for n in entries(tmp_path) if n.startswith(".old.mp4")]


def test_bad_output_or_input_is_one_clear_line(qtbot, make_dialog, tmp_path, val_folder):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    loaded = []
    dialog = make_dialog(segmenter_factory=lambda: loaded.append(1))
    dialog.output_edit.setText(str(blocker / "v.mp4"))
    assert not dialog.start() and not dialog.is_running()
    assert dialog.message_label.text() == f"{blocker / 'v.mp4'}: cannot write here: {blocker} is a file, not a folder"

    dialog.output_edit.setText(str(tmp_path / "v.avi"))
    assert not dialog.start()
    assert "give it a .mp4 name" in dialog.message_label.text()

    empty = tmp_path / "no-labels"
    empty.mkdir()
    dialog.output_edit.setText(str(tmp_path / "v.mp4"))
    dialog.annotations_edit.setText(str(empty))
    assert export_and_wait(qtbot, dialog) == "failed"  # found on the worker, before the model loads
    text = dialog.message_label.text()
    assert text.startswith(f"{empty}: no annotation matches a frame of") and "\n" not in text and "Traceback" not in text
    assert loaded == [] and entries(tmp_path).count("v.mp4") == 0
