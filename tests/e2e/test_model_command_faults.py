"""train and eval on real CamVid frames with broken inputs: one line on stderr, non-zero exit,
no traceback, nothing left behind; and eval on folders where only some frames have truth."""

import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "models" / "camvid-lite0.safetensors"
TINY = ["--crop", "64x64", "--batch-size", "2", "--head-width", "8", "--workers", "0", "--no-pretrained",
        "--epochs", "1", "--max-steps-per-epoch", "1", "--val-split", "none", "--progress", "json"]


def run_cli(*args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def bomb_png(path: Path) -> Path:
    """A well-formed PNG of a few hundred bytes whose header claims 100000x100000 grey pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * 200_002, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def without_palette(src: Path, dst: Path) -> Path:
    """A copy of a checkpoint whose card has lost its palette; tensors untouched."""
    data = src.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    card = json.loads(header["__metadata__"]["card"])
    del card["palette"]
    header["__metadata__"]["card"] = json.dumps(card)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    dst.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + size :])
    return dst


class FullDisk:
    """A file whose writes stop part-way with ENOSPC, as on a full disk."""

    def __init__(self, path, mode):
        self.file = open(path, mode)  # noqa: SIM115

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def run_in_process(argv, capsys) -> tuple[int, str, str]:
    """``main.py`` in this process (for faults that need a monkeypatch): exit code, stdout, one stderr line."""
    from camvid_viewer.commands.parser import run_command

    try:
        code = run_command(argv)
    except SystemExit as exc:  # argparse refusing an option
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, one_line(err)


@pytest.fixture
def val_frames(tmp_path, camvid_root):
    """Six real CamVid val frames with their annotations, in two folders."""
    images, annots = tmp_path / "val", tmp_path / "valannot"
    images.mkdir()
    annots.mkdir()
    for p in sorted((camvid_root / "val").glob("*.png"))[:6]:
        shutil.copy(p, images / p.name)
        shutil.copy(camvid_root / "valannot" / p.name, annots / p.name)
    return images, annots


@pytest.fixture(scope="module")
def five_class_checkpoint(tmp_path_factory):
    """A small untrained network with 5 classes (no void), its card consistent with its tensors."""
    from model.checkpoint import save_checkpoint
    from model.networks import Architecture, build_model

    arch = Architecture(head_width=8, num_classes=5)
    card = {"name": "five", "architecture": arch.to_dict(), "classes": ["a", "b", "c", "d", "e"],
            "palette": [[i * 50, 0, 0] for i in range(5)], "void_index": None,
            "input": {"colour": "RGB", "mean": [0.5] * 3, "std": [0.5] * 3, "working_height": 360}}
    return save_checkpoint(tmp_path_factory.mktemp("five") / "five.safetensors", build_model(arch), card)


def test_bomb_frame_and_bomb_annotation_stop_eval_in_one_line(val_frames, random_checkpoint, camvid_root):
    images, annots = val_frames
    name = sorted(images.iterdir())[2].name
    bomb_png(annots / name)
    done = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--predictions", str(annots))
    assert done.returncode != 0
    assert f"{annots / name}: image claims 100000x100000 pixels" in one_line(done.stderr)
    shutil.copy(camvid_root / "valannot" / name, annots / name)  # the annotation real again...
    bomb_png(images / name)  # ...the frame a bomb
    done = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--model", str(random_checkpoint), "--backend", "torch")
    assert done.returncode != 0
    assert f"{images / name}: image claims 100000x100000 pixels" in one_line(done.stderr)


def test_bomb_frame_stops_train_in_one_line_and_writes_nothing(camvid_subset, tmp_path):
    victim = sorted((camvid_subset / "train").iterdir())[1]
    bomb_png(victim)
    out = tmp_path / "runs"
    out.mkdir()
    done = run_cli("train", "--data", str(camvid_subset), "--out", str(out / "m.safetensors"), *TINY)
    assert done.returncode != 0
    assert f"{victim}: image claims 100000x100000 pixels" in one_line(done.stderr)
    assert json.loads(done.stdout.strip().splitlines()[-1])["event"] == "error"
    assert list(out.iterdir()) == []


def test_eval_refuses_a_model_whose_classes_do_not_cover_the_truth(val_frames, five_class_checkpoint):
    images, annots = val_frames
    done = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--model", str(five_class_checkpoint), "--backend", "torch")
    assert done.returncode != 0
    line = one_line(done.stderr)
    first = sorted(annots.iterdir())[0]
    assert line.startswith(f"camvid-viewer eval: {first}: truth label values ")
    assert "are not among the 5 classes (0..4) of" in line and "five.safetensors" in line


def test_eval_predictions_beyond_the_class_count_are_refused(val_frames, five_class_checkpoint, tmp_path):
    images, annots = val_frames
    # CamVid truth scored as predictions of a 5-class model: values 5..11 have no class.
    done = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--predictions", str(annots),
                   "--model", str(five_class_checkpoint))
    assert done.returncode != 0 and "predicted label values" not in done.stderr  # the truth is checked first
    assert "are not among the 5 classes (0..4)" in one_line(done.stderr)
    predicted = tmp_path / "pred"
    predicted.mkdir()
    for p in annots.iterdir():
        label = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        label[:10] = 40  # no CamVid class 40
        cv2.imwrite(str(predicted / p.name), label)
    done = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--predictions", str(predicted))
    assert done.returncode != 0
    assert "predicted label values 40 are not among the 12 classes (0..11) of CamVid" in one_line(done.stderr)


def test_eval_scores_only_the_frames_that_have_truth(val_frames, random_checkpoint):
    images, annots = val_frames
    kept = sorted(annots.iterdir())[1:3]
    for p in annots.iterdir():
        if p not in kept:
            p.unlink()
    done = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--predictions", str(annots), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["frames"] == 2 and result["frames_without_truth"] == 4
    assert result["pixel_accuracy"] == 1.0  # the truth scored against itself: only the labelled frames count
    done = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--model", str(random_checkpoint), "--backend", "torch")
    assert done.returncode == 0, done.stderr
    assert "frames          2" in done.stdout and "no truth        4 frames (not scored)" in done.stdout
    for p in kept:
        p.rename(p.with_name("other-" + p.name))  # annotations of no frame here
    done = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--predictions", str(annots))
    assert done.returncode != 0
    assert "nothing to score: each of its 6 frames has no annotation" in one_line(done.stderr)


def test_bad_model_card_is_one_line_from_eval(val_frames, tmp_path):
    bad = without_palette(SHIPPED, tmp_path / "nopalette.safetensors")
    images, annots = val_frames
    done = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--model", str(bad), "--backend", "torch")
    assert done.returncode != 0
    assert one_line(done.stderr) == f"camvid-viewer eval: {bad}: model card has no 'palette'"


@pytest.mark.parametrize(
    "option, message",
    [
        (["--weight-decay", "nan"], "argument --weight-decay: expected a number >= 0 and <= 1, got nan"),
        (["--weight-decay", "inf"], "expected a number >= 0 and <= 1, got inf"),
        (["--weight-decay=-1e-4"], "expected a number >= 0 and <= 1, got -1e-4"),
        (["--lr", "5"], "argument --lr: expected a number > 0 and <= 1, got 5"),
        (["--seed=-1"], "argument --seed: expected a number >= 0 and <= 4294967295, got -1"),
        (["--workers=-2"], "argument --workers: expected a number >= 0 and <= 64, got -2"),
        (["--working-height", "16"], "argument --working-height: expected a number >= 32 and <= 4320, got 16"),
        (["--head-width", "0"], "argument --head-width: expected a number > 0 and <= 1024, got 0"),
        (["--batch-size", "1.5"], "argument --batch-size: expected a whole number, got '1.5'"),
        (["--schedule", "linear"], "argument --schedule: invalid choice: 'linear'"),
        (["--val-split", "vall"], "--val-split: {data} has no 'vall' split (available: train, val, or none)"),
        (["--train-splits", "train,tset"], "--train-splits: {data} has no 'tset' split (available: train, val)"),
        (["--train-splits", "train,,val"], "--train-splits 'train,,val': expected distinct split names"),
        (["--train-splits", "train,val", "--val-split", "val"], "--val-split val: that split is also in --train-splits"),
    ],
)
def test_bad_training_options_are_one_line_and_write_nothing(option, message, camvid_subset, tmp_path, capsys):
    out = tmp_path / "runs"
    out.mkdir()
    argv = ["train", "--data", str(camvid_subset), "--out", str(out / "m.safetensors"), *TINY]
    if "--val-split" in option:
        argv.remove("--val-split")
        argv.remove("none")
    code, _, line = run_in_process(argv + option, capsys)
    assert code == 2
    assert message.format(data=camvid_subset) in line, line
    assert list(out.iterdir()) == []


def test_bad_split_through_the_real_cli(camvid_subset, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    done = run_cli("train", "--data", str(camvid_subset), "--out", str(out / "m.safetensors"), "--train-splits", "trian", *TINY)
    assert done.returncode == 2
    assert "no 'trian' split (available: train, val)" in one_line(done.stderr)
    assert [json.loads(line)["event"] for line in done.stdout.splitlines()] == ["error"]  # refused before the start
    assert list(out.iterdir()) == []


def test_nan_loss_ends_training_with_one_line_and_a_json_error(camvid_subset, tmp_path, capsys, monkeypatch):
    import torch

    real = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", lambda *a, **k: real(*a, **k) * float("nan"))
    out = tmp_path / "runs"
    out.mkdir()
    code, stdout, line = run_in_process(["train", "--data", str(camvid_subset), "--out", str(out / "m.safetensors"), *TINY], capsys)
    assert code == 2
    assert line == "camvid-viewer train: loss became nan at step 0; try a lower --lr"
    error = json.loads(stdout.strip().splitlines()[-1])
    assert error == {"event": "error", "message": "loss became nan at step 0; try a lower --lr"}
    assert list(out.iterdir()) == []


def test_disk_full_while_training_saves_is_one_line_and_leaves_no_temp_file(camvid_subset, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("model.checkpoint.open", FullDisk, raising=False)
    out = tmp_path / "runs"
    out.mkdir()
    code, stdout, line = run_in_process(["train", "--data", str(camvid_subset), "--out", str(out / "m.safetensors"), *TINY], capsys)
    assert code == 2
    assert line == f"camvid-viewer train: {out / 'm.last.safetensors'}: cannot write the checkpoint ({os.strerror(errno.ENOSPC)})"
    assert json.loads(stdout.strip().splitlines()[-1])["event"] == "error"
    assert list(out.iterdir()) == []


def test_read_only_output_folder_is_one_line(camvid_subset, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere; a read-only folder cannot be exercised (the disk-full test covers the write)")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    done = run_cli("train", "--data", str(camvid_subset), "--out", str(out / "m.safetensors"), *TINY)
    assert done.returncode == 2 and "not writable" in one_line(done.stderr)
    assert list(out.iterdir()) == []
