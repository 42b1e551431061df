"""predict, bench and eval through the real CLI on real CamVid frames, and their bad-input lines."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, timeout=600, env_extra=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


@pytest.fixture
def val_few(tmp_path, camvid_root):
    images, annots = tmp_path / "val", tmp_path / "valannot"
    images.mkdir()
    annots.mkdir()
    for p in sorted((camvid_root / "val").glob("*.png"))[:4]:
        shutil.copy(p, images / p.name)
        shutil.copy(camvid_root / "valannot" / p.name, annots / p.name)
    return images, annots


@pytest.mark.parametrize("backend", ["torch", "onnx"])  # onnx: frames overlap on parallel lanes
def test_predict_then_eval_predictions_equals_eval_with_model(val_few, tmp_path, random_checkpoint, backend):
    images, annots = val_few
    out = tmp_path / "pred"
    done = run_cli("predict", str(images), "-o", str(out), "--model", str(random_checkpoint), "--backend", backend)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (out / "labels").iterdir()) == sorted(p.name for p in images.iterdir())
    assert len(list((out / "colour").iterdir())) == 4
    again = run_cli("predict", str(images), "-o", str(out), "--model", str(random_checkpoint))
    assert again.returncode == 2 and "already exists" in again.stderr

    from_masks = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--predictions", str(out / "labels"), "--json")
    from_model = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--model", str(random_checkpoint), "--backend", backend, "--json")
    assert from_masks.returncode == 0 and from_model.returncode == 0, from_masks.stderr + from_model.stderr
    assert json.loads(from_masks.stdout) == json.loads(from_model.stdout)
    table = run_cli("eval", "--images", str(images), "--annotations", str(annots), "--predictions", str(out / "labels"))
    assert "mean IoU" in table.stdout and "column/pole" in table.stdout


def test_bench_json_has_the_documented_fields(random_checkpoint, tmp_path):
    done = run_cli("bench", "--model", str(random_checkpoint), "--backend", "torch", "--size", "160x120", "--frames", "3", "--runs", "1", "--json",
                   env_extra={"CAMVID_VIEWER_CACHE": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"backend", "model_fps", "pipeline_fps", "size", "peak_rss_mb"} <= set(result)
    assert result["backend"] == "torch" and result["size"] == "160x120"
    assert result["model_fps"] > 0 and result["pipeline_fps"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "--images", "{tmp}/nope", "--annotations", "{tmp}"], "not a folder"),
        (["eval", "--images", "{images}", "--annotations", "{annots}", "--model", "{tmp}/junk.safetensors"], "not a checkpoint"),
        (["eval", "--images", "{images}", "--annotations", "{tmp}/emptydir"], "has no annotation"),
        (["predict", "{tmp}/notes.txt", "-o", "{tmp}/o"], "notes.txt"),
        (["bench", "--size", "axb"], "WIDTHxHEIGHT"),
        (["eval", "--images"], "expected one argument"),
    ],
)
def test_bad_input_is_one_clear_line(args, message, tmp_path, val_few):
    images, annots = val_few
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    argv = [a.format(tmp=tmp_path, images=images, annots=annots) for a in args]
    done = run_cli(*argv)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr
