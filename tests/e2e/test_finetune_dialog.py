"""Model > Fine-tune on my labels... in the real window on real CamVid frames: the dialog prefilled
from the window, a real ``train --init`` child (tiny: batch 2, 64x96 crops, 2 steps), the
before/after table read from the new model's card, comparing and adopting it, and the refusal
of fewer than 2 labelled frames."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from PyQt6.QtWidgets import QToolButton
from test_finetune import user_frames  # noqa: F401 - a fixture
from test_viewer import WAIT_MS, _make_window, open_and_wait

from camvid_viewer import training as job
from camvid_viewer.training.finetune_job import before_after
from model.data import default_camvid_root
from model.pair import SegmenterPair

pytestmark = pytest.mark.timeout(300)
RUN_TIMEOUT_MS = 240_000  # a loaded 2-core machine


@pytest.fixture
def footage(user_frames):  # noqa: F811 - the fixture imported above
    """The user's footage: 6 frames of drive 0001TP in ``frames/``, all labelled in ``framesannot/``
    (the folder edit mode saves into, found beside the frames), and a 2-frame CamVid root to replay."""
    frames, labels, replay = user_frames
    return frames, labels.rename(frames.parent / "framesannot"), replay


def _open_finetune(qtbot, window, models_dir: Path):
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    window.finetune.options.update(models_dir=models_dir, max_steps_per_epoch=2)
    window.finetune.action.trigger()
    dialog = window.finetune.dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_finetune_from_the_window_then_compare_and_adopt(qtbot, tmp_path, footage, random_checkpoint):
    frames, labels, replay = footage
    window = _make_window(qtbot, random_checkpoint)
    open_and_wait(qtbot, window, frames)
    entries = [a.text() for a in window.actions.menus["Model"].actions()]
    assert entries[entries.index("&Train...") + 1] == "&Fine-tune on my labels..."
    assert any(b.defaultAction() is window.finetune.action for b in window.editor.dock.findChildren(QToolButton))
    dialog = _open_finetune(qtbot, window, tmp_path / "models")

    # Prefilled from the window: its model, its source, the source's annotation folder, CamVid, a new file.
    assert dialog.init_edit.text() == str(random_checkpoint)
    assert dialog.data_edit.text() == str(frames) and dialog.annotations_edit.text() == str(labels)
    assert dialog.replay_edit.text() == str(default_camvid_root() or "")
    out = Path(dialog.out_edit.text())
    assert out.parent == tmp_path / "models" and out.suffix == ".safetensors" and not out.exists()
    assert dialog.labels_info.text() == "6 labelled frames: 5 to learn from, 1 held out to score before and after"
    assert (dialog.epochs_edit.text(), dialog.lr_edit.text()) == ("2", "0.0003")  # the command's defaults

    dialog.replay_edit.setText(str(replay))  # a tiny replay set: a fast test
    dialog.epochs_edit.setText("1")
    dialog.batch_edit.setText("2")
    dialog.crop_edit.setText("64x96")
    dialog.device_box.setCurrentText("cpu")
    with qtbot.waitSignal(dialog.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        assert dialog.start()
        command = dialog.log_view.toPlainText().splitlines()[0]
    assert finished.args == ["done"], dialog.log_view.toPlainText()
    for flag, value in (("--init", random_checkpoint), ("--annotations", labels), ("--replay", replay), ("--data", frames)):
        assert f"{flag} " in command and Path(value).name in command.split(f"{flag} ")[1].split(" ")[0]

    # Before / after on the held-out frame, per class: the card's figures, as the table shows them.
    card = job.read_checkpoint_card(path=out)
    assert card["finetune"]["parent"]["name"] == "random-test-model" and card["finetune"]["held_out_frames"] == 1
    rows = dialog.table_rows()
    expected = before_after(card=card).rows
    assert [r[0] for r in rows] == [name for name, _, _ in expected] and rows[0][0] == "mean IoU"
    before, after = card["finetune"]["held_out_before"], card["held_out_metrics"]
    assert rows[0][1:] == (f"{before['mean_iou']:.3f}", f"{after['mean_iou']:.3f}",
                           f"{after['mean_iou'] - before['mean_iou']:+.3f}")
    assert rows[1][1:3] == (f"{before['pixel_accuracy']:.3f}", f"{after['pixel_accuracy']:.3f}")
    sky = next(r for r in rows if r[0] == "sky")
    assert sky[2] == f"{after['per_class']['sky']['iou']:.3f}"
    assert "1 held-out labelled frame" in dialog.result_caption.text()

    # Compare: the window's model stays A, the fine-tuned one is B.
    assert dialog.compare_button.isEnabled()
    dialog.compare_button.click()
    qtbot.waitUntil(lambda: isinstance(window.session.model, SegmenterPair), timeout=WAIT_MS)
    assert window.comparison.state.active and Path(window.comparison.state.second_path) == out
    window.comparison.stop_action.trigger()
    qtbot.waitUntil(lambda: not isinstance(window.session.model, SegmenterPair), timeout=WAIT_MS)

    # Adopt: the window runs the fine-tuned model.
    dialog.use_button.click()
    qtbot.waitUntil(lambda: window.session.model_path == str(out), timeout=WAIT_MS)
    assert random_checkpoint.is_file()  # the parent is never touched
    dialog.close()


def test_fewer_than_two_labelled_frames_are_refused_in_one_line(qtbot, tmp_path, camvid_root, random_checkpoint):
    """A video with one frame labelled (named by its index, as edit mode saves a video's labels)."""
    video, labels = tmp_path / "dashcam.avi", tmp_path / "dashcamannot"
    images = sorted((camvid_root / "val").glob("*.png"))[:3]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, (480, 360))
    for image in images:
        writer.write(cv2.imread(str(image)))
    writer.release()
    labels.mkdir()
    shutil.copy(camvid_root / "valannot" / images[1].name, labels / "000001.png")
    window = _make_window(qtbot, random_checkpoint)
    open_and_wait(qtbot, window, video)
    dialog = _open_finetune(qtbot, window, tmp_path / "models")
    assert dialog.data_edit.text() == str(video) and dialog.annotations_edit.text() == str(labels)
    info = dialog.labels_info.text()
    assert "1 labelled frame of dashcam.avi; fine-tuning needs at least 2" in info and "\n" not in info
    assert dialog.start() is False and not dialog.is_running()
    assert dialog.message_label.text() == info
    assert not (tmp_path / "models").exists()  # nothing written
    dialog.close()


def test_finetune_dialog_module_does_not_import_torch():
    code = "import sys, camvid_viewer.ui.finetune_dialog; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=job.project_root(), timeout=120).returncode == 0
