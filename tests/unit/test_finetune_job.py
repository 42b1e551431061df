"""The fine-tune dialog's pure logic (camvid_viewer.training.finetune_job) on real CamVid frames:
the labelled-frame count, the checks, the child's command line and the before/after rows."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest

from camvid_viewer import training as job
from camvid_viewer.training import finetune_job


@pytest.fixture
def footage(tmp_path, camvid_root):
    """4 frames of drive 0001TP in ``drive/``, 3 of them labelled in ``driveannot/``; a 2-frame replay root."""
    frames, labels, replay = tmp_path / "drive", tmp_path / "driveannot", tmp_path / "replay"
    for folder in (frames, labels, replay / "train", replay / "trainannot"):
        folder.mkdir(parents=True)
    images = sorted((camvid_root / "train").glob("0001TP_*.png"))[::20][:4]
    for i, image in enumerate(images):
        shutil.copy(image, frames / image.name)
        if i < 3:
            shutil.copy(camvid_root / "trainannot" / image.name, labels / image.name)
    for image in sorted((camvid_root / "train").glob("0006R0_*.png"))[:2]:
        shutil.copy(image, replay / "train" / image.name)
        shutil.copy(camvid_root / "trainannot" / image.name, replay / "trainannot" / image.name)
    return frames, labels, replay


def _form(init, frames, labels, out, **overrides) -> dict:
    form = dict(init=str(init), data=str(frames), annotations=str(labels), replay="", out=str(out), epochs="2",
                batch_size="2", lr="0.0003", crop="64x96", augment=True, device="cpu", holdout="0.2")
    form.update(overrides)
    return form


def test_labelled_frames_are_counted_and_split(footage):
    frames, labels, _ = footage
    count = finetune_job.count_labels(data=frames, annotations=labels, holdout=0.2)
    assert (count.labelled, count.held_out, count.problem) == (3, 1, None)
    assert count.text() == "3 labelled frames: 2 to learn from, 1 held out to score before and after"
    for label in sorted(labels.iterdir())[1:]:
        label.unlink()
    one = finetune_job.count_labels(data=frames, annotations=labels)
    assert one.labelled == 1 and "needs at least 2" in one.problem and "\n" not in one.problem


def test_the_request_runs_train_init_with_annotations_and_replay(footage, tmp_path, random_checkpoint):
    frames, labels, replay = footage
    out = tmp_path / "models" / "tuned.safetensors"
    request = finetune_job.build_finetune_request(**_form(random_checkpoint, frames, labels, out, replay=str(replay)),
                                                  max_steps_per_epoch=2)
    _, args = job.train_command(request=request, python="python")
    flags = dict(zip(args[2::2], args[3::2], strict=False))  # after "main.py train"
    assert args[1] == "train" and flags["--progress"] == "json"
    i = args.index
    assert args[i("--init") + 1] == str(random_checkpoint) and args[i("--data") + 1] == str(frames)
    assert args[i("--annotations") + 1] == str(labels) and args[i("--replay") + 1] == str(replay)
    assert args[i("--holdout") + 1] == "0.2" and args[i("--head-width") + 1] == "16"  # the parent's network
    assert args[i("--max-steps-per-epoch") + 1] == "2"
    assert job.run_label_set(request=request).names[0] == "sky"  # the parent's classes
    plain = job.TrainRequest(data=frames, out=out)  # the plain dialog's request: no fine-tune flags
    assert not {"--init", "--annotations", "--replay", "--holdout"} & set(job.train_command(request=plain)[1])


@pytest.mark.parametrize(("change", "message"), [
    ("one_label", "1 labelled frame of drive; fine-tuning needs at least 2"),
    ("out_inside_frames", "lies inside"),
    ("out_exists", "already exists; choose a new output file"),
    ("not_a_model", "not a checkpoint"),
    ("replay_without_train", "no train split to replay"),
    ("bad_holdout", "Hold out: expected a share"),
    ("onnx_model", "an ONNX model has no weights this program can train"),
])
def test_bad_forms_are_one_line(footage, tmp_path, random_checkpoint, change, message):
    frames, labels, _ = footage
    out = tmp_path / "models" / "tuned.safetensors"
    form = _form(random_checkpoint, frames, labels, out)
    if change == "one_label":
        for label in sorted(labels.iterdir())[1:]:
            label.unlink()
    elif change == "out_inside_frames":
        form["out"] = str(frames / "tuned.safetensors")
    elif change == "out_exists":
        out.parent.mkdir()
        out.write_bytes(b"the user's model")
    elif change == "not_a_model":
        form["init"] = str(sorted(frames.iterdir())[0])
    elif change == "replay_without_train":
        form["replay"] = str(tmp_path)
    elif change == "onnx_model":
        form["init"] = str(tmp_path / "lraspp.onnx")
    else:
        form["holdout"] = "most"
    with pytest.raises(job.JobInputError) as caught:
        finetune_job.build_finetune_request(**form)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    if change == "out_exists":
        assert out.read_bytes() == b"the user's model"


def test_default_output_is_a_new_file(tmp_path, random_checkpoint):
    now = datetime(2026, 5, 1, 9, 30)
    first = finetune_job.default_finetune_output(init=random_checkpoint, models_dir=tmp_path, now=now)
    assert first == tmp_path / f"{random_checkpoint.stem}-finetuned-20260501-0930.safetensors"
    job.last_checkpoint_path(out=first).write_bytes(b"x")  # a killed run's .last file counts as taken
    second = finetune_job.default_finetune_output(init=random_checkpoint, models_dir=tmp_path, now=now)
    assert second.name.endswith("-0930-2.safetensors") and not second.exists()


def test_before_after_rows_come_from_the_card():
    before = {"pixel_accuracy": 0.5, "mean_iou": 0.2, "frames": 2,
              "per_class": {"sky": {"iou": 0.6}, "road": {"iou": 0.4}, "sign": None}}
    after = {"pixel_accuracy": 0.7, "mean_iou": 0.3, "frames": 2,
             "per_class": {"sky": {"iou": 0.65}, "road": {"iou": 0.7}, "sign": {"iou": 0.1}}}
    card = {"finetune": {"parent": {"name": "camvid-lite0"}, "held_out_before": before, "held_out_frames": 2},
            "held_out_metrics": after}
    result = finetune_job.before_after(card=card)
    assert result.parent == "camvid-lite0" and result.frames == 2
    assert result.rows == (("mean IoU", 0.2, 0.3), ("pixel accuracy", 0.5, 0.7),
                           ("sky", 0.6, 0.65), ("road", 0.4, 0.7), ("sign", None, 0.1))
    assert finetune_job.before_after(card={"held_out_metrics": after}) is None  # not a fine-tune
    assert finetune_job.before_after(card={"finetune": {"held_out_before": None}, "held_out_metrics": None}) is None
