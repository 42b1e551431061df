"""The training dialog end to end: real child processes training on real CamVid frames (kept tiny:
6 train / 4 val frames, batch 2, 64x96 crops, 2 steps per epoch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from camvid_viewer import training as job
from camvid_viewer.ui.train_dialog import TrainDialog

RUN_TIMEOUT_MS = 240_000  # a loaded 2-core machine; a tiny epoch takes a few seconds


@pytest.fixture
def dialog(qtbot, camvid_subset, tmp_path):
    d = TrainDialog(data_root=str(camvid_subset), models_dir=tmp_path / "models", max_steps_per_epoch=2, stop_timeout_ms=10_000)
    qtbot.addWidget(d)
    d.batch_edit.setText("2")
    d.crop_edit.setText("64x96")
    d.device_box.setCurrentText("cpu")
    yield d
    d.shutdown()


def _record(d: TrainDialog) -> list:
    events = []
    d.event_received.connect(events.append)
    return events


def test_dataset_is_described_and_a_default_output_proposed(dialog, tmp_path):
    assert "SegNet layout: train 6, val 4 annotated frames" in dialog.dataset_info.text()
    assert Path(dialog.out_edit.text()).parent == tmp_path / "models"
    assert dialog.out_edit.text().endswith(".safetensors")


def test_one_epoch_run_then_use_this_model(qtbot, dialog, tmp_path):
    from model.checkpoint import load_checkpoint

    out = tmp_path / "out" / "m.safetensors"
    dialog.out_edit.setText(str(out))
    dialog.epochs_edit.setText("1")
    events = _record(dialog)
    with qtbot.waitSignal(dialog.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        assert dialog.start()
        assert dialog.is_running() and not dialog.start_button.isEnabled()
    assert finished.args == ["done"], dialog.log_view.toPlainText()
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds.count("step") == 2 and kinds[-2:] == ["epoch", "done"]
    assert dialog.run_bar.value() == 100 and dialog.epoch_bar.value() in (0, 100)
    assert len(dialog.loss_curve.getData()[0]) == 2
    assert list(dialog.miou_curve.getData()[0]) == [1] and len(dialog.acc_curve.getData()[1]) == 1
    assert any(w > 0 for w in dialog.class_bars.opts["width"])
    assert "val mIoU" in dialog.best_label.text() and str(out) in dialog.best_label.text()
    assert job.last_checkpoint_path(out=out).is_file()
    assert not list(out.parent.glob(".*.tmp"))
    assert dialog.use_button.isEnabled() and not dialog.resume_last_button.isEnabled()  # nothing left to resume
    with qtbot.waitSignal(dialog.model_chosen, timeout=5000) as chosen:
        dialog.use_button.click()
    assert chosen.args == [str(out)]
    assert dialog.compare_button.isEnabled()  # the other way to use it: beside the window's model
    with qtbot.waitSignal(dialog.compare_chosen, timeout=5000) as compared:
        dialog.compare_button.click()
    assert compared.args == [str(out)]
    model = load_checkpoint(chosen.args[0]).build()
    assert model is not None and load_checkpoint(chosen.args[0]).card["train_state"]["epoch"] == 1


def test_stop_mid_run_leaves_a_resumable_last_checkpoint(qtbot, dialog, tmp_path):
    from model.checkpoint import load_checkpoint

    out = tmp_path / "out" / "m.safetensors"
    dialog.out_edit.setText(str(out))
    dialog.epochs_edit.setText("2")

    def stop_in_epoch_two(event):
        if event.kind == "step" and event.data["epoch"] == 2:
            dialog.stop()

    dialog.event_received.connect(stop_in_epoch_two)
    with qtbot.waitSignal(dialog.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        assert dialog.start()
    assert finished.args == ["stopped"], dialog.log_view.toPlainText()
    dialog.event_received.disconnect(stop_in_epoch_two)
    last = job.last_checkpoint_path(out=out)
    assert load_checkpoint(last).card["train_state"]["epoch"] == 1
    assert not list(out.parent.glob(".*.tmp"))
    assert dialog.use_button.isEnabled() and dialog.resume_last_button.text() == "Resume from epoch 1"

    dialog.resume_last_button.click()
    assert dialog.resume_edit.text() == str(last)
    events = _record(dialog)
    with qtbot.waitSignal(dialog.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        assert dialog.start()
    assert finished.args == ["done"], dialog.log_view.toPlainText()
    start = next(e for e in events if e.kind == "start")
    assert start.data["start_epoch"] == 1
    assert [e.data["epoch"] for e in events if e.kind == "epoch"] == [2]
    assert load_checkpoint(last).card["train_state"]["epoch"] == 2


def test_close_while_training_asks_then_keeps_or_stops(qtbot, dialog, tmp_path, monkeypatch):
    dialog.out_edit.setText(str(tmp_path / "out" / "m.safetensors"))
    dialog.epochs_edit.setText("50")
    dialog.show()
    answers = iter(["cancel", "background", "stop"])
    monkeypatch.setattr(dialog, "_ask_close_action", lambda: next(answers))
    with qtbot.waitSignal(dialog.event_received, timeout=RUN_TIMEOUT_MS, check_params_cb=lambda e: e.kind == "step"):
        assert dialog.start()
    dialog.close()
    assert dialog.isVisible() and dialog.is_running()  # cancel
    dialog.close()
    assert not dialog.isVisible() and dialog.is_running()  # keeps training in the background
    dialog.show()  # Model > Train... again
    with qtbot.waitSignal(dialog.run_finished, timeout=30_000) as finished:
        dialog.close()  # asked again: stop
    assert finished.args == ["stopped"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_dataset", "no such dataset folder"),
        ("no_annotations", "no annotation folder"),
        ("unwritable_out", "is not writable"),
        ("other_architecture", "holds a efficientnet-lite0 network"),
        ("bad_epochs", "Epochs: expected a whole number"),
        ("bad_batch", "Batch size: expected a number from 1"),
        ("bad_lr", "Learning rate: expected a number"),
        ("bad_crop", "Crop: expected HEIGHTxWIDTH"),
    ],
)
def test_bad_input_is_refused_before_starting(dialog, tmp_path, camvid_subset, random_checkpoint, setup, message):
    dialog.out_edit.setText(str(tmp_path / "out" / "m.safetensors"))
    if setup == "no_dataset":
        dialog.data_edit.setText(str(tmp_path / "nowhere"))
    elif setup == "no_annotations":
        for annot in ("trainannot", "valannot"):
            for f in (camvid_subset / annot).iterdir():
                f.unlink()
            (camvid_subset / annot).rmdir()
    elif setup == "unwritable_out":
        blocker = tmp_path / "a_file"
        blocker.write_text("x")  # a folder that is a file: unwritable even for root
        dialog.out_edit.setText(str(blocker / "m.safetensors"))
    elif setup == "other_architecture":
        dialog.backbone_box.setCurrentText("vgg16")
        dialog.resume_edit.setText(str(random_checkpoint))
    else:
        edit = {"bad_epochs": dialog.epochs_edit, "bad_batch": dialog.batch_edit,
                "bad_lr": dialog.lr_edit, "bad_crop": dialog.crop_edit}[setup]
        edit.setText({"bad_epochs": "ten", "bad_batch": "0", "bad_lr": "fast", "bad_crop": "64"}[setup])
    dialog._dataset_changed()
    assert dialog.start() is False
    assert message in dialog.message_label.text()
    assert not dialog.is_running() and dialog.start_button.isEnabled()


def test_malformed_progress_lines_are_logged_not_fatal(dialog):
    events = _record(dialog)
    dialog._handle_line(b"Warning: something odd\n")
    dialog._handle_line(b'{"event": "step", "epoch": 1}')
    dialog._handle_line(b'{"event": "error", "message": "out of memory"}')
    assert [e.kind for e in events] == ["malformed", "malformed", "error"]
    log = dialog.log_view.toPlainText()
    assert "[unreadable progress line: not JSON] Warning: something odd" in log
    assert "step event without step, loss" in log and "Error: out of memory" in log


def test_a_failing_child_is_reported_and_the_dialog_survives(qtbot, dialog, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA to make the child fail")
    dialog.out_edit.setText(str(tmp_path / "out" / "m.safetensors"))
    dialog.device_box.setCurrentText("cuda")
    with qtbot.waitSignal(dialog.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        assert dialog.start()
    assert finished.args == ["failed"]
    assert "Training failed:" in dialog.message_label.text() and "CUDA" in dialog.message_label.text()
    assert dialog.start_button.isEnabled() and not dialog.use_button.isEnabled()


def test_dialog_module_does_not_import_torch():
    code = "import sys, camvid_viewer.ui.train_dialog; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=job.project_root(), timeout=120).returncode == 0
