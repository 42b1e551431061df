"""The accurate mode on real CamVid frames: the same labels on every backend, what eval, predict and
export run when asked for it, and never the default."""

import json
import shutil

import cv2
import numpy as np
import pytest

from model.data import read_label
from model.inference import Segmenter
from model.metrics import ConfusionMatrix
from model.test_time import accurate_height, flip_averaged
from tests.e2e.test_train_cli import run_cli


@pytest.fixture(scope="module")
def val_clip(tmp_path_factory, camvid_root):
    """4 real val frames (every 20th) and their truth."""
    root = tmp_path_factory.mktemp("val_clip")
    (root / "frames").mkdir()
    (root / "truth").mkdir()
    for image in sorted((camvid_root / "val").glob("*.png"))[::20][:4]:
        shutil.copy(image, root / "frames" / image.name)
        shutil.copy(camvid_root / "valannot" / image.name, root / "truth" / image.name)
    return root


@pytest.fixture(scope="module")
def accurate_models():
    return {backend: Segmenter(backend=backend, mode="accurate") for backend in ("torch", "onnx")}


def test_accurate_labels_agree_across_backends_and_differ_from_fast(val_clip, accurate_models):
    fast = Segmenter(backend="onnx")
    assert fast.mode == "fast" and Segmenter(backend="torch").mode == "fast"  # the default stays fast
    torch_model, onnx_model = accurate_models["torch"], accurate_models["onnx"]
    assert torch_model.working_height == onnx_model.working_height == 432 == accurate_height({"working_height": 360})
    assert fast.working_height == 360
    changed = 0.0
    for path in sorted((val_clip / "frames").iterdir()):
        frame = cv2.imread(str(path))
        a, b = torch_model.segment(frame).labels, onnx_model.segment(frame).labels
        assert a.shape == frame.shape[:2] and (a == b).mean() >= 0.995
        conf = onnx_model.segment(frame, confidence=True)
        assert (conf.labels == b).mean() >= 0.995 and 0 < conf.confidence.min() <= conf.confidence.max() <= 1 + 1e-5
        changed += (fast.segment(frame).labels != b).mean()
    assert changed > 0  # it is another computation, not the fast mode under a new name


def test_flip_average_is_symmetric_on_a_mirrored_frame():
    import torch

    torch.manual_seed(0)
    inner = torch.nn.Conv2d(3, 4, 3, padding=1)
    averaged = flip_averaged(inner)
    x = torch.randn(1, 3, 8, 10)
    with torch.no_grad():
        assert torch.allclose(averaged(x.flip(3)), averaged(x).flip(3), atol=1e-6)
        assert torch.allclose(averaged(x), (inner(x) + inner(x.flip(3)).flip(3)) / 2, atol=1e-6)


def test_eval_and_predict_run_the_accurate_mode_when_asked(val_clip, accurate_models, tmp_path):
    onnx_model = accurate_models["onnx"]
    expected = ConfusionMatrix(12, ignore_index=11)
    for path in sorted((val_clip / "frames").iterdir()):
        expected.update(onnx_model.segment(cv2.imread(str(path))).labels, read_label(val_clip / "truth" / path.name))
    args = ["--images", str(val_clip / "frames"), "--annotations", str(val_clip / "truth"), "--json", "--backend", "onnx"]
    accurate = json.loads(run_cli("eval", *args, "--mode", "accurate").stdout)
    fast = json.loads(run_cli("eval", *args).stdout)
    assert accurate["mean_iou"] == pytest.approx(expected.compute().mean_iou, abs=1e-9)
    assert accurate["mean_iou"] != fast["mean_iou"]

    done = run_cli("predict", str(val_clip / "frames"), "-o", str(tmp_path / "pred"), "--mode", "accurate", "--backend", "onnx")
    assert done.returncode == 0, done.stderr
    for path in sorted((val_clip / "frames").iterdir()):
        saved = read_label(tmp_path / "pred" / "labels" / path.name)
        assert np.array_equal(saved, onnx_model.segment(cv2.imread(str(path))).labels)


def test_int8_in_the_accurate_mode_is_one_line(val_clip):
    done = run_cli("eval", "--images", str(val_clip / "frames"), "--annotations", str(val_clip / "truth"),
                   "--mode", "accurate", "--precision", "int8")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "int8 runs in the fast mode" in done.stderr
