"""The train command on real CamVid frames: loss goes down, resume, determinism, DDP, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model.checkpoint import load_checkpoint, read_card

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--crop", "96x128", "--batch-size", "2", "--head-width", "16", "--workers", "0", "--no-int8"]


def run_cli(*args, env_extra=None, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_training_steps_lower_the_loss_on_real_frames():
    """Eight real frames, the same batch seen repeatedly: the loss must fall."""
    import torch

    from model.data import CamVidDataset, TrainTransform, default_camvid_root, pair_by_stem
    from model.networks import Architecture, build_model
    from model.progress import ProgressReporter
    from model.train import TrainConfig, train_one_epoch

    root = default_camvid_root()
    if root is None:
        pytest.skip("real CamVid not found: set CAMVID_ROOT or put it at ../shared/camvid")
    torch.manual_seed(0)
    pairs = pair_by_stem(root / "train", root / "trainannot")[:8]
    ds = CamVidDataset(pairs, transform=TrainTransform(crop=(96, 128), augment=False))
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    model = build_model(Architecture(head_width=16), pretrained=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    cfg = TrainConfig(lr=1e-3, warmup_epochs=0)
    report = ProgressReporter("json", enabled=False)
    losses = []
    for epoch in range(6):
        _, loss = train_one_epoch(model, loader, opt, cfg, epoch=epoch, step0=0, total_steps=10**6, weights=None, device=torch.device("cpu"), report=report)
        losses.append(loss)
    assert losses[-1] < 0.7 * losses[0], losses


def test_train_json_progress_checkpoint_and_resume(camvid_subset, tmp_path):
    out = tmp_path / "m.safetensors"
    first = run_cli("train", "--data", str(camvid_subset), "--epochs", "2", "--out", str(out), "--progress", "json", "--seed", "1", "--max-steps-per-epoch", "2", *SMALL)
    assert first.returncode == 0, first.stderr
    evs = events(first.stdout)
    kinds = [e["event"] for e in evs]
    assert kinds[0] == "start" and kinds[-1] == "done"
    steps = [e for e in evs if e["event"] == "step"]
    assert {"step", "epoch", "loss", "lr", "eta"} <= set(steps[0])
    epochs = [e for e in evs if e["event"] == "epoch"]
    assert len(epochs) == 2 and 0 <= epochs[-1]["val"]["mean_iou"] <= 1
    card = read_card(out)
    assert card["val_metrics"]["frames"] == 4
    assert card["training"]["seed"] == 1
    last = out.with_name("m.last.safetensors")
    assert load_checkpoint(last).optimizer_tensors

    resumed = run_cli("train", "--data", str(camvid_subset), "--epochs", "3", "--out", str(out), "--progress", "json", "--seed", "1", "--max-steps-per-epoch", "2", "--resume", str(last), *SMALL)
    assert resumed.returncode == 0, resumed.stderr
    epochs = [e for e in events(resumed.stdout) if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [3]
    assert read_card(last)["train_state"]["epoch"] == 3


def test_same_seed_same_weights(camvid_subset, tmp_path):
    from model.train import TrainConfig, main

    outs = []
    for name in ("a", "b"):
        cfg = TrainConfig(data=str(camvid_subset), out=str(tmp_path / f"{name}.safetensors"), epochs=1, batch_size=2, crop=(96, 128), head_width=16, seed=7, max_steps_per_epoch=2, progress="json", val_split=None, int8=False)
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            main(cfg)
        outs.append(load_checkpoint(tmp_path / f"{name}.safetensors").weights)
    assert all((outs[0][k] == outs[1][k]).all() for k in outs[0])


@pytest.mark.slow
def test_two_process_ddp_on_cpu(camvid_subset, tmp_path):
    out = tmp_path / "ddp.safetensors"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(ROOT / "main.py"),
           "train", "--data", str(camvid_subset), "--epochs", "1", "--out", str(out), "--progress", "json", "--device", "cpu", "--max-steps-per-epoch", "2", *SMALL]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    evs = events(done.stdout)
    assert sum(e["event"] == "done" for e in evs) == 1  # only rank 0 reports
    assert load_checkpoint(out).card["val_metrics"]["frames"] == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "{missing}"], "no such dataset folder"),
        (["--data", "{empty}"], "no dataset layout found"),
        (["--data", "{data}", "--epochs", "0"], "expected a number > 0"),
        (["--data", "{data}", "--lr", "abc"], "expected a number"),
        (["--data", "{data}", "--crop", "12"], "HEIGHTxWIDTH"),
        (["--data", "{data}", "--resume", "{junk}"], "not a checkpoint"),
        (["--data", "{data}", "--out", "{readonly}/m.safetensors"], "not writable"),
    ],
)
def test_train_bad_input_is_one_line(args, message, tmp_path, camvid_subset):
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    fill = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "data": camvid_subset, "junk": tmp_path / "junk.safetensors", "readonly": readonly}
    argv = [a.format(**fill) for a in args]
    if os.geteuid() == 0 and "{readonly}" in " ".join(args):
        pytest.skip("root can write anywhere; the writability check cannot be exercised")
    done = run_cli("train", *argv, "--epochs" if "--epochs" not in args else "--seed", "1", *SMALL)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_resume_of_other_architecture_is_refused(camvid_subset, tmp_path, random_checkpoint):
    done = run_cli("train", "--data", str(camvid_subset), "--resume", str(random_checkpoint), "--head", "plain", *SMALL)
    assert done.returncode != 0
    assert "holds a efficientnet-lite0/conv network" in done.stderr


def test_weight_average_follows_every_step_on_real_frames(camvid_root):
    """--ema: after each optimizer step the average moves toward the new weights (BN statistics too)."""
    import torch

    from model.data import CamVidDataset, TrainTransform, pair_by_stem
    from model.networks import Architecture, build_model
    from model.progress import ProgressReporter
    from model.train import TrainConfig, train_one_epoch
    from model.train_setup import make_optimizer, weight_average

    torch.manual_seed(0)
    pairs = pair_by_stem(camvid_root / "train", camvid_root / "trainannot")[:2]
    loader = torch.utils.data.DataLoader(CamVidDataset(pairs, transform=TrainTransform(crop=(96, 128), augment=False)), batch_size=2)
    model = build_model(Architecture(head_width=16), pretrained=True)
    cfg = TrainConfig(lr=1e-3, warmup_epochs=0, ema=0.5)
    optimizer, average = make_optimizer(model, cfg), weight_average(model, cfg.ema)
    report = ProgressReporter("json", enabled=False)
    states = []
    for epoch in range(2):  # one step each
        train_one_epoch(model, loader, optimizer, cfg, epoch=epoch, step0=epoch, total_steps=10**6, weights=None,
                        device=torch.device("cpu"), report=report, average=average)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    averaged = average.module.state_dict()
    for key, value in averaged.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.5 * states[0][key] + 0.5 * states[1][key])
    assert any(not torch.equal(averaged[k], states[1][k]) for k in averaged if averaged[k].is_floating_point())


def test_ema_run_keeps_and_scores_the_average(camvid_subset, tmp_path):
    import contextlib
    import io

    from model.data import read_image, read_label
    from model.inference import Segmenter
    from model.metrics import ConfusionMatrix
    from model.train import TrainConfig, main

    out = tmp_path / "ema.safetensors"
    cfg = TrainConfig(data=str(camvid_subset), out=str(out), epochs=1, batch_size=2, crop=(96, 128), head_width=16, seed=7,
                      max_steps_per_epoch=3, progress="json", int8=False, ema=0.9)
    with contextlib.redirect_stdout(io.StringIO()):
        main(cfg)
    kept, last = load_checkpoint(out), load_checkpoint(out.with_suffix(".last.safetensors"))
    assert kept.card["training"]["ema"] == 0.9
    assert any(not (kept.weights[k] == last.weights[k]).all() for k in kept.weights)  # the average, not the last step
    segmenter, cm = Segmenter(out, backend="torch", device="cpu"), ConfusionMatrix()
    for image in sorted((camvid_subset / "val").glob("*.png")):
        cm.update(segmenter.segment(read_image(image)).labels, read_label(camvid_subset / "valannot" / image.name))
    assert kept.card["val_metrics"]["mean_iou"] == pytest.approx(cm.compute().mean_iou, abs=1e-3)  # what was scored is what was kept


def test_a_teacher_is_distilled_from_and_recorded_and_a_foreign_one_refused(camvid_subset, tmp_path, random_checkpoint):
    import contextlib
    import copy
    import io

    from model.checkpoint import CheckpointError, save_checkpoint
    from model.train import TrainConfig, main

    def run(teacher, out, weight=1.0):
        cfg = TrainConfig(data=str(camvid_subset), out=str(out), epochs=1, batch_size=2, crop=(96, 128), head_width=16, seed=7,
                          max_steps_per_epoch=2, progress="json", int8=False, teacher=str(teacher), distill_weight=weight)
        stream = io.StringIO()
        with contextlib.redirect_stdout(stream):
            main(cfg)
        return [e for e in events(stream.getvalue()) if e["event"] == "step"]

    taught, plain = run(random_checkpoint, tmp_path / "kd.safetensors"), run(random_checkpoint, tmp_path / "w0.safetensors", weight=1e-9)
    assert load_checkpoint(tmp_path / "kd.safetensors").card["training"]["teacher"] == str(random_checkpoint)
    assert taught[0]["loss"] > plain[0]["loss"] + 1e-3  # the same first batch, with the teacher's term added
    ckpt = load_checkpoint(random_checkpoint)
    card = copy.deepcopy(ckpt.card)
    card["input"]["mean"] = [0.485, 0.456, 0.406]
    other = save_checkpoint(tmp_path / "other-input.safetensors", ckpt.build(), card)
    with pytest.raises(CheckpointError, match="other-input.safetensors: the teacher normalises its input otherwise"):
        run(other, tmp_path / "refused.safetensors")
