"""The training dialog's pure logic (camvid_viewer.training.job), without Qt."""

from __future__ import annotations

import io
import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from camvid_viewer import training as job
from camvid_viewer.training import job as training_job
from model.progress import ProgressReporter


def _form(data_root, out_file, **overrides) -> dict:
    form = dict(data=str(data_root), out=str(out_file), backbone="efficientnet-lite0", epochs="2", batch_size="2",
                lr="0.001", crop="64x96", augment=True, device="cpu", resume="")
    form.update(overrides)
    return form


def _reporter_lines() -> list[str]:
    """Real lines from the trainer's own reporter, so parser and producer cannot drift apart."""
    stream = io.StringIO()
    r = ProgressReporter("json", stream=stream)
    r.start(config={"epochs": 2}, frames=6, val_frames=4, steps_per_epoch=3, total_steps=6, start_epoch=0, skipped=0)
    for s in (1, 2, 3):
        r.step(epoch=1, step=s, loss=2.0 - s / 10, lr=1e-3)
    per_class = {"sky": {"iou": 0.5, "dice": 0.6}, "road": {"iou": 0.25, "dice": 0.4}, "void": None}
    val = {"pixel_accuracy": 0.4, "mean_iou": 0.2, "mean_dice": 0.3, "per_class": per_class, "frames": 4}
    r.epoch_end(epoch=1, epochs=2, loss=1.8, val=val, best=True, elapsed=3.0, eta=3.0)
    r.step(epoch=2, step=4, loss=1.5, lr=1e-3)
    r.done(best_path="runs/m.safetensors", last_path="runs/m.last.safetensors", best_val=dict(val, epoch=1))
    r.error("boom")
    return stream.getvalue().splitlines()


def test_reporter_lines_parse_and_fold_into_progress():
    events = [job.parse_progress_line(line=line) for line in _reporter_lines()]
    assert [e.kind for e in events] == ["start", "step", "step", "step", "epoch", "step", "done", "error"]
    p = job.RunProgress()
    for e in events[:4]:
        p.apply(e)
    assert (p.epochs, p.steps_per_epoch, p.total_steps, p.step) == (2, 3, 6, 3)
    assert p.epoch_fraction() == 1.0 and p.run_fraction() == 0.5
    assert p.losses == [(1, 1.9), (2, 1.8), (3, 1.7)]
    p.apply(events[4])
    assert p.epoch == 1 and p.epoch_fraction() == 0.0 and p.val == [(1, 0.4, 0.2)]
    assert p.class_iou == {"sky": 0.5, "road": 0.25, "void": None}
    assert p.best["epoch"] == 1 and p.eta_s == 3.0
    p.apply(events[5])
    assert p.epoch_fraction() == pytest.approx(1 / 3) and p.run_fraction() == pytest.approx(4 / 6)
    p.apply(events[6])
    assert p.best_path == "runs/m.safetensors" and p.eta_s == 0.0
    p.apply(events[7])
    assert p.error == "boom"


def test_resumed_run_starts_its_bars_at_the_resumed_epoch():
    p = job.RunProgress()
    p.apply(job.ProgressEvent("start", {"total_steps": 6, "steps_per_epoch": 3, "start_epoch": 1, "config": {"epochs": 2}}))
    assert (p.epoch, p.step, p.run_fraction(), p.epoch_fraction()) == (1, 3, 0.5, 0.0)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Traceback (most recent call last):", "not JSON"),
        ('{"event": "step", "epoch": 1', "not JSON"),
        ("[1, 2]", "unknown event None"),
        ('{"event": "party"}', "unknown event 'party'"),
        ('{"event": "step", "epoch": 1, "step": 2}', "step event without loss"),
        ('{"event": "step", "epoch": 1, "step": 2, "loss": "high"}', "loss is not a number"),
        ('{"event": "start", "total_steps": true, "steps_per_epoch": 3}', "total_steps is not a number"),
    ],
)
def test_malformed_lines_are_reported_not_raised(line, reason):
    event = job.parse_progress_line(line=line)
    assert event.kind == "malformed" and event.data["line"] == line and reason in event.data["reason"]


def test_blank_and_byte_lines():
    assert job.parse_progress_line(line="  \n") is None
    assert job.parse_progress_line(line=b'{"event": "error", "message": "x"}\n').kind == "error"


def test_describe_real_dataset(camvid_subset):
    summary = job.describe_dataset(root=camvid_subset)
    assert summary.usable and summary.layout == "SegNet" and summary.splits == {"train": 6, "val": 4}
    assert summary.problems == () and "train 6, val 4" in summary.text()


def test_describe_problems(camvid_subset, tmp_path):
    first = sorted((camvid_subset / "train").iterdir())[0]
    (camvid_subset / "trainannot" / first.name).unlink()
    summary = job.describe_dataset(root=camvid_subset)
    assert summary.splits["train"] == 5 and "1 frame(s) without annotation" in summary.text()
    shutil.rmtree(camvid_subset / "valannot")
    assert "no val split" in job.describe_dataset(root=camvid_subset).text()
    images_only = tmp_path / "images_only"
    (images_only / "train").mkdir(parents=True)
    summary = job.describe_dataset(root=images_only)
    assert not summary.usable and "no annotation folder" in summary.problems[0]
    assert "no such dataset folder" in job.describe_dataset(root=tmp_path / "nowhere").problems[0]


def test_build_request_defaults_and_command_parse_with_the_real_cli(camvid_subset, tmp_path):
    from camvid_viewer.commands.parser import build_parser

    out = tmp_path / "models" / "m.safetensors"
    req = job.build_request(**_form(camvid_subset, out, augment=False), max_steps_per_epoch=3)
    assert req.crop == (64, 96) and req.epochs == 2 and req.resume is None
    program, args = job.train_command(request=req, python="/usr/bin/python3")
    assert program == "/usr/bin/python3" and Path(args[0]) == job.project_root() / "main.py"
    parsed = build_parser().parse_args(args[1:])
    assert (parsed.progress, parsed.data, parsed.out) == ("json", str(camvid_subset), str(out))
    assert (parsed.crop, parsed.batch_size, parsed.lr, parsed.epochs) == ((64, 96), 2, 0.001, 2)
    assert (parsed.augment, parsed.device, parsed.max_steps_per_epoch, parsed.head_width) == (False, "cpu", 3, 96)


def test_light_and_colour_augmentation_reaches_the_command(camvid_subset, tmp_path):
    """The dialog's choice is the child's --photometric; left to the command, it trains with strong."""
    from camvid_viewer.commands.parser import build_parser
    from model.cli import _finetune_defaults

    out = tmp_path / "m.safetensors"
    for choice in ("strong", "basic"):
        _, args = job.train_command(request=job.build_request(**_form(camvid_subset, out), photometric=choice))
        assert build_parser().parse_args(args[1:]).photometric == choice
    _, args = job.train_command(request=job.build_request(**_form(camvid_subset, out)))
    parsed = build_parser().parse_args(args[1:])
    assert parsed.photometric is None and "--photometric" not in args
    _finetune_defaults(parsed)
    assert parsed.photometric == "strong"  # from scratch: the measured best (docs/BENCHMARKS.md)
    with pytest.raises(job.JobInputError, match="Light and colour: unknown augmentation"):
        job.build_request(**_form(camvid_subset, out), photometric="extreme")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", "abc", "Epochs: expected a whole number"),
        ("epochs", "0", "Epochs: expected a number from 1"),
        ("batch_size", "2.5", "Batch size: expected a whole number"),
        ("lr", "fast", "Learning rate: expected a number"),
        ("lr", "-1e-3", "Learning rate: expected a number > 0"),
        ("lr", "nan", "Learning rate: expected a number > 0"),
        ("crop", "64", "Crop: expected HEIGHTxWIDTH"),
        ("crop", "8x8", "Crop: height and width must be 32"),
        ("data", "", "Dataset: choose a dataset folder"),
        ("backbone", "resnet", "Backbone: unknown"),
    ],
)
def test_bad_form_values(camvid_subset, tmp_path, field, value, message):
    with pytest.raises(job.JobInputError, match=message):
        job.build_request(**_form(camvid_subset, tmp_path / "m.safetensors", **{field: value}))


def test_bad_paths(camvid_subset, tmp_path, random_checkpoint):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cases = [
        (dict(data=str(tmp_path / "nowhere")), "no such dataset folder"),
        (dict(out=str(blocker / "m.safetensors")), "is not writable"),
        (dict(out=str(tmp_path)), "must end in .safetensors"),
        (dict(resume=str(tmp_path / "gone.safetensors")), "no such checkpoint file"),
        (dict(resume=str(blocker)), "not a checkpoint"),
        (dict(resume=str(random_checkpoint), backbone="vgg16"), "holds a efficientnet-lite0 network"),
        (dict(resume=str(random_checkpoint)), "holds no training state"),
    ]
    for overrides, message in cases:
        with pytest.raises(job.JobInputError, match=message):
            job.build_request(**_form(camvid_subset, tmp_path / "m.safetensors", **overrides))


def test_card_reader_matches_model_checkpoint(random_checkpoint, tmp_path):
    from model.checkpoint import read_card

    assert job.read_checkpoint_card(path=random_checkpoint) == read_card(random_checkpoint)
    foreign = tmp_path / "foreign.safetensors"
    header = json.dumps({"__metadata__": {"card": json.dumps({"format": "other/9", "architecture": {}})}}).encode()
    foreign.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(ValueError, match="unknown checkpoint format 'other/9'"):
        job.read_checkpoint_card(path=foreign)


def test_paths_and_names_match_the_trainer(tmp_path):
    from model.networks import BACKBONES
    from model.train import TrainConfig

    out = tmp_path / "m.safetensors"
    assert job.last_checkpoint_path(out=out) == TrainConfig(out=str(out)).last_path
    from model.networks.backbones import EFFICIENTNET_LITE_VARIANTS

    assert job.BACKBONES == BACKBONES
    assert training_job.WEIGHT_PACKAGES == {k: v[1] for k, v in EFFICIENTNET_LITE_VARIANTS.items()}
    stale = [tmp_path / ".m.safetensors.abc.tmp", tmp_path / ".m.last.safetensors.x.tmp"]
    for p in stale:
        p.write_text("partial")
    out.write_text("keep")
    assert sorted(job.remove_stale_temp_files(out=out)) == sorted(stale) and out.exists()
    name = job.default_output_path(data_root="/d/camvid_small", backbone="efficientnet-lite0", models_dir=tmp_path,
                                   now=datetime(2024, 5, 6, 7, 8))
    assert name == tmp_path / "camvid_small-lite0-20240506-0708.safetensors"


def test_format_duration():
    assert [job.format_duration(seconds=s) for s in (None, 0, 59.6, 73, 3725, float("inf"))] == \
        ["--:--", "0:00", "1:00", "1:13", "1:02:05", "--:--"]


def test_val_figures_and_run_result(camvid_subset, tmp_path, random_checkpoint):
    assert job.val_figures(val=None) == "no val split"
    assert job.val_figures(val={"mean_iou": 0.31126, "pixel_accuracy": None}) == "val mIoU 0.3113, pixel accuracy n/a"
    req = job.build_request(**_form(camvid_subset, tmp_path / "m.safetensors"))
    assert job.run_result(request=req) == job.RunResult(None, 0, False)
    shutil.copy(random_checkpoint, req.out)
    result = job.run_result(request=req)
    assert result.best_text == f"{req.out}\nepoch ?: no val split" and not result.resumable


def test_missing_weight_package_is_named(camvid_subset, tmp_path, monkeypatch):
    monkeypatch.setitem(training_job.WEIGHT_PACKAGES, "efficientnet-lite0", "no_such_weights_package")
    with pytest.raises(job.JobInputError, match="need the package 'no-such-weights-package'"):
        job.build_request(**_form(camvid_subset, tmp_path / "m.safetensors"))


def test_project_root_holds_main_py():
    # The child is started as ``python <project_root>/main.py train``; a wrong root fails every run.
    assert (job.project_root() / "main.py").is_file()
