"""Fine-tuning on a user's corrected frames (``train --init``) on real CamVid frames: the frames' loss
goes down, the card records the parent, a video's labels by frame index find their frames, and bad
requests are one line."""

import shutil

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.checkpoint import file_sha256, load_checkpoint, read_card
from model.data import read_image, read_label
from model.finetune import labelled_pairs
from tests.e2e.test_train_cli import run_cli

FAST = ["--crop", "96x128", "--batch-size", "2", "--workers", "0", "--no-int8"]


@pytest.fixture
def user_frames(tmp_path, camvid_root):
    """6 labelled frames of drive 0001TP in a plain folder (the "user's footage"), 2 replay frames of 0006R0."""
    frames, labels = tmp_path / "frames", tmp_path / "labels"
    replay = tmp_path / "replay"
    for folder in (frames, labels, replay / "train", replay / "trainannot"):
        folder.mkdir(parents=True)
    for image in sorted((camvid_root / "train").glob("0001TP_*.png"))[::10][:6]:
        shutil.copy(image, frames / image.name)
        shutil.copy(camvid_root / "trainannot" / image.name, labels / image.name)
    for image in sorted((camvid_root / "train").glob("0006R0_*.png"))[:2]:
        shutil.copy(image, replay / "train" / image.name)
        shutil.copy(camvid_root / "trainannot" / image.name, replay / "trainannot" / image.name)
    return frames, labels, replay


def _loss(checkpoint, frames, labels) -> float:
    network = load_checkpoint(checkpoint).build().float().eval()
    total = []
    with torch.no_grad():
        for path in sorted(frames.iterdir()):
            rgb = read_image(path)[..., ::-1].astype(np.float32) / 127.5 - 1
            x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
            y = torch.from_numpy(read_label(labels / path.name).astype(np.int64))[None]
            total.append(float(F.cross_entropy(network(x), y, ignore_index=11)))
    return float(np.mean(total))


def test_finetune_lowers_the_loss_of_the_users_frames_and_records_its_parent(user_frames, tmp_path, random_checkpoint):
    frames, labels, replay = user_frames
    out = tmp_path / "tuned.safetensors"
    done = run_cli("train", "--init", str(random_checkpoint), "--data", str(frames), "--annotations", str(labels),
                   "--replay", str(replay), "--out", str(out), "--epochs", "3", "--lr", "2e-3", "--progress", "json", *FAST)
    assert done.returncode == 0, done.stderr
    card = read_card(out)
    tuned = card["finetune"]
    assert tuned["parent"]["sha256"] == file_sha256(random_checkpoint) and tuned["parent"]["name"] == "random-test-model"
    assert (tuned["user_frames"], tuned["held_out_frames"], tuned["replay_frames"]) == (5, 1, 2)
    assert tuned["held_out_before"]["frames"] == 1 and card["held_out_metrics"]["frames"] == 1
    assert card["architecture"] == read_card(random_checkpoint)["architecture"]  # the parent's network
    assert "--init" in card["training_command"] and card["selection"].startswith("last epoch")
    assert card["drives"]["trained_on"]["0001TP"] == 5 and card["drives"]["trained_on"]["0006R0"] == 2
    trained = [p for p in sorted(frames.iterdir()) if p.name != sorted(frames.iterdir())[3].name]
    train_dir = tmp_path / "trained_on"
    train_dir.mkdir()
    for p in trained:
        shutil.copy(p, train_dir / p.name)
    assert _loss(out, train_dir, labels) < _loss(random_checkpoint, train_dir, labels)


def test_a_videos_labels_named_by_frame_index_find_their_frames(tmp_path, camvid_root):
    images = sorted((camvid_root / "val").glob("*.png"))[:6]
    video = tmp_path / "drive.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, (480, 360))
    for image in images:
        writer.write(cv2.imread(str(image)))
    writer.release()
    labels = tmp_path / "driveannot"
    labels.mkdir()
    for index in (1, 4):
        shutil.copy(camvid_root / "valannot" / images[index].name, labels / f"{index:06d}.png")
    work = tmp_path / "work"
    work.mkdir()
    pairs = labelled_pairs(video, labels, workdir=work)
    assert [(p[0].name, p[1].name) for p in pairs] == [("000001.png", "000001.png"), ("000004.png", "000004.png")]
    for (frame, _), index in zip(pairs, (1, 4), strict=True):
        decoded, original = cv2.imread(str(frame)).astype(int), cv2.imread(str(images[index])).astype(int)
        others = [np.abs(decoded - cv2.imread(str(images[j])).astype(int)).mean() for j in range(6) if j != index]
        assert np.abs(decoded - original).mean() < min(others)  # the very frame, through a lossy codec


@pytest.mark.parametrize(("extra", "message"), [
    (["--annotations", None], "labelled frame; fine-tuning needs at least 2"),
    ([], "--init fine-tunes on labelled frames: pass --annotations"),
    (["--annotations", "labels", "--train-splits", "train,val"], "--init holds out part of the labelled frames itself"),
])
def test_bad_finetune_requests_are_one_line(extra, message, tmp_path, camvid_root, random_checkpoint):
    frames, one = tmp_path / "frames", tmp_path / "one"
    frames.mkdir()
    one.mkdir()
    image = sorted((camvid_root / "train").glob("0001TP_*.png"))[0]
    shutil.copy(image, frames / image.name)
    shutil.copy(camvid_root / "trainannot" / image.name, one / image.name)
    extra = [str(one) if e is None else str(tmp_path / e) if e == "labels" else e for e in extra]
    done = run_cli("train", "--init", str(random_checkpoint), "--data", str(frames), *extra,
                   "--out", str(tmp_path / "x.safetensors"), *FAST)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_replay_without_init_is_one_line(tmp_path, camvid_subset):
    done = run_cli("train", "--data", str(camvid_subset), "--replay", str(camvid_subset), "--out", str(tmp_path / "x.safetensors"), *FAST)
    assert done.returncode != 0 and done.stderr.strip().count("\n") == 0 and "--replay" in done.stderr and "--init" in done.stderr
