"""eval --compare and export --compare on real CamVid frames: the shipped model against itself
and against a weaker copy of it."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from compare_models import weaker_checkpoint  # noqa: F401 - a fixture

from camvid_viewer.commands.parser import run_command
from camvid_viewer.rendering.colour import colourise
from camvid_viewer.rendering.compare_views import PANEL_GAP
from model.comparison import format_comparison
from model.inference import Segmenter, default_model_path

pytestmark = pytest.mark.timeout(240)
FRAMES = 2


@pytest.fixture(scope="module")
def val_frames(tmp_path_factory, camvid_root):
    """A few real val frames and their annotations, as ``val`` and ``valannot``."""
    root = tmp_path_factory.mktemp("compare")
    images = sorted((camvid_root / "val").glob("*.png"))[:FRAMES]
    for sub, src in (("val", "val"), ("valannot", "valannot")):
        (root / sub).mkdir()
        for image in images:
            shutil.copy(camvid_root / src / image.name, root / sub / image.name)
    return root


def _eval_json(capsys, *args) -> dict:
    capsys.readouterr()
    assert run_command(["eval", *args, "--backend", "torch", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_compare_of_a_model_with_itself_is_zero_difference(capsys, val_frames):
    shipped = str(default_model_path())
    result = _eval_json(capsys, "--images", str(val_frames / "val"), "--annotations", str(val_frames / "valannot"),
                        "--model", shipped, "--compare", shipped)
    d = result["difference"]
    assert d["mean_iou"] == 0 and d["pixel_accuracy"] == 0 and d["mean_dice"] == 0
    assert all(v is None or (v["iou"] == 0 and v["dice"] == 0) for v in d["per_class"].values())
    assert result["a"] == result["b"] and result["frames_differing_most"] == []


def test_eval_compare_gives_the_two_eval_runs_and_their_difference(capsys, val_frames, weaker_checkpoint):  # noqa: F811
    folders = ["--images", str(val_frames / "val"), "--annotations", str(val_frames / "valannot")]
    shipped = str(default_model_path())
    alone_a = _eval_json(capsys, *folders, "--model", shipped)
    alone_b = _eval_json(capsys, *folders, "--model", str(weaker_checkpoint))
    result = _eval_json(capsys, *folders, "--model", shipped, "--compare", str(weaker_checkpoint))
    # Each side keeps eval's own keys and values (plus the model's name).
    assert {k: v for k, v in result["a"].items() if k != "model"} == alone_a
    assert {k: v for k, v in result["b"].items() if k != "model"} == alone_b
    assert result["b"]["model"] == "camvid-lite0-perturbed"
    d = result["difference"]
    assert d["mean_iou"] == pytest.approx(alone_b["mean_iou"] - alone_a["mean_iou"]) and d["mean_iou"] < -0.02
    for name, scores in alone_a["per_class"].items():
        if scores is not None:
            assert d["per_class"][name]["iou"] == pytest.approx(alone_b["per_class"][name]["iou"] - scores["iou"])
    frames = result["frames_differing_most"]
    assert len(frames) == FRAMES and frames[0]["difference"] < 0
    assert [abs(f["difference"]) for f in frames] == sorted((abs(f["difference"]) for f in frames), reverse=True)
    assert all(f["difference"] == pytest.approx(f["mean_iou_b"] - f["mean_iou_a"]) for f in frames)
    # The table (eval --compare without --json) names both and the difference, in percentage points.
    table = format_comparison(result)
    assert "B: camvid-lite0-perturbed" in table and f"{100 * d['mean_iou']:+.2f}" in table


def test_eval_compare_refuses_predictions_and_a_bad_model(capsys, tmp_path, val_frames):
    folders = ["--images", str(val_frames / "val"), "--annotations", str(val_frames / "valannot")]
    code = run_command(["eval", *folders, "--predictions", str(val_frames / "valannot"), "--compare", str(default_model_path())])
    assert code == 2 and "--compare runs two models" in capsys.readouterr().err
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    assert run_command(["eval", *folders, "--compare", str(broken), "--backend", "torch"]) == 2
    err = capsys.readouterr().err
    assert "broken.safetensors" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_export_compare_has_both_models_panels_per_frame(tmp_path, val_frames, weaker_checkpoint):  # noqa: F811
    out = tmp_path / "a-vs-b.mp4"
    assert run_command(["export", str(val_frames / "val"), "-o", str(out), "--compare", str(weaker_checkpoint),
                        "--view", "mask", "--no-legend", "--backend", "torch", "--quality", "high"]) == 0
    frames = sorted((val_frames / "val").glob("*.png"))
    models = [Segmenter(path, backend="torch") for path in (default_model_path(), weaker_checkpoint)]
    video = cv2.VideoCapture(str(out))
    try:
        for path in frames:
            ok, image = video.read()
            assert ok
            frame = cv2.imread(str(path))
            h, w = frame.shape[:2]
            assert image.shape == (h, 2 * w + PANEL_GAP, 3)
            panels = (image[:, :w], image[:, w + PANEL_GAP:])
            own = [colourise(m.segment(frame).labels, palette_bgr=m.palette_bgr) for m in models]
            band = slice(40, h)  # below the name and scores band at the top
            for side, (panel, mine, other) in enumerate(zip(panels, own, own[::-1], strict=True)):
                error_own = np.abs(panel[band].astype(int) - mine[band]).mean()
                error_other = np.abs(panel[band].astype(int) - other[band]).mean()
                assert error_own < 3 and error_own < error_other / 2, (path.name, side, error_own, error_other)
            assert not video.read()[0] if path == frames[-1] else True
    finally:
        video.release()


def test_export_compare_refuses_a_missing_model_and_smoothing(tmp_path, capsys, val_frames):
    args = ["export", str(val_frames / "val"), "-o", str(tmp_path / "x.mp4")]
    assert run_command([*args, "--compare", str(tmp_path / "none.safetensors")]) == 2
    assert "none.safetensors: no such model file (--compare)" in capsys.readouterr().err
    assert run_command([*args, "--compare", str(default_model_path()), "--temporal-smoothing"]) == 2
    assert "cannot be used together" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
