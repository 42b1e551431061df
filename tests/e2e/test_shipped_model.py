"""The shipped default model on real val frames: card figures, backend agreement."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model.checkpoint import read_card
from model.inference import default_model_path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "models" / "camvid-lite0.safetensors"


def test_shipped_model_exists_and_is_the_default():
    assert SHIPPED.is_file(), "resources/models/camvid-lite0.safetensors is missing"
    if "CAMVID_VIEWER_MODEL" not in os.environ:
        assert default_model_path() == SHIPPED
    card = read_card(SHIPPED)
    assert card["architecture"]["backbone"] == "efficientnet-lite0"
    for key in ("training_command", "val_metrics", "training", "classes", "palette", "input"):
        assert key in card, key
    assert card["val_metrics"]["mean_iou"] >= 0.70
    assert card["val_metrics"]["pixel_accuracy"] >= 0.92


def test_the_card_says_what_the_recipe_scores_on_a_drive_it_never_saw():
    """Trained on all 468 frames, the shipped model's val figure is a trained-on one; the card says
    so and carries its recipe's drive-held-out fold, which is what the status bar shows."""
    from camvid_viewer.session import format_score
    from camvid_viewer.ui.status import card_figure

    card = read_card(SHIPPED)
    assert card["val_trained_on"] and card["drives"]["trained_on"] == {"0001TP": 62, "0006R0": 101, "0016E5": 305}
    assert "--photometric strong" in card["training_command"] and "--train-splits train,val" in card["training_command"]
    (fold,) = card["recipe_folds"]
    assert fold["held_out"] == {"0001TP": 62} and "0001TP" not in fold["trained_on"]
    assert "--val-split drive:0001TP" in fold["training_command"] and "--photometric strong" in fold["training_command"]
    assert fold["held_out_metrics"]["frames"] == 62 and fold["held_out_metrics"]["mean_iou"] >= 0.5
    assert card_figure(card) == f"unseen-drive mIoU {format_score(fold['held_out_metrics']['mean_iou'])}"


@pytest.mark.slow
def test_eval_cli_reaches_the_card_figures(camvid_root):
    card = read_card(SHIPPED)["val_metrics"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "eval", "--images", str(camvid_root / "val"), "--annotations", str(camvid_root / "valannot"), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["frames"] == 101
    assert abs(result["mean_iou"] - card["mean_iou"]) * 100 <= 0.5
    assert abs(result["pixel_accuracy"] - card["pixel_accuracy"]) * 100 <= 0.5
    for name, scores in card["per_class"].items():
        if scores is None:
            assert result["per_class"][name] is None
        else:
            assert abs(result["per_class"][name]["iou"] - scores["iou"]) <= 0.02


@pytest.mark.slow
def test_backends_agree_on_real_frames(camvid_root):
    import cv2

    from model.inference import Segmenter

    frames = [cv2.imread(str(p)) for p in sorted((camvid_root / "val").glob("*.png"))[::25]]
    frames.append(cv2.resize(frames[0], (960, 540)))
    reference = Segmenter(SHIPPED, backend="torch", device="cpu")
    onnx = Segmenter(SHIPPED, backend="onnx", precision="fp32")
    int8 = Segmenter(SHIPPED, backend="onnx")  # auto: the shipped card's int8 check passed
    assert int8.precision == "int8"
    for frame in frames:
        expected = reference.segment(frame).labels
        assert (onnx.segment(frame).labels == expected).mean() >= 0.995
        assert (int8.segment(frame).labels == expected).mean() >= 0.97  # the card's own threshold
