"""The int8 CPU path: agreement with fp32 on real CamVid frames, the card's calibration, ``auto``'s
choice, refusals of bad calibrations, the graph cache key, and the quantize/predict/eval commands."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import message_lines, run_main

from model.checkpoint import CheckpointError, load_checkpoint, read_card, save_checkpoint
from model.data import read_image
from model.inference import Segmenter, choose_precision
from model.quantize import calibration_hash

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "models" / "camvid-lite0.safetensors"


@pytest.fixture(scope="module")
def val_frames(camvid_root) -> list[np.ndarray]:
    return [read_image(p) for p in sorted((camvid_root / "val").glob("*.png"))[::20][:5]]


def with_card(tmp_path: Path, name: str, change) -> Path:
    """A copy of the shipped model whose card ``change(card)`` edited (weights untouched)."""
    ckpt = load_checkpoint(SHIPPED)
    card = copy.deepcopy(ckpt.card)
    change(card)
    return save_checkpoint(tmp_path / name, ckpt.build(), card, half=True)


def test_shipped_model_runs_int8_on_the_cpu_and_agrees_with_fp32(val_frames):
    fp32 = Segmenter(SHIPPED, backend="onnx", precision="fp32")
    auto = Segmenter(SHIPPED, backend="onnx")
    assert (fp32.precision, auto.precision, auto.precision_note) == ("fp32", "int8", None)
    check = read_card(SHIPPED)["int8"]["check"]
    assert check["equal_pixels"] >= 0.97 and check["miou_fp32"] - check["miou_int8"] <= 0.005
    assert "held out of the calibration" in check["frames_source"]
    equal = np.mean([(fp32.segment(f).labels == auto.segment(f).labels).mean() for f in val_frames])
    assert equal >= 0.97, equal
    # the logits graph (probabilities, the confidence view) is int8 too, and agrees
    p32, p8 = fp32.segment(val_frames[0], probabilities=True), auto.segment(val_frames[0], probabilities=True)
    assert (p32.labels == p8.labels).mean() >= 0.97
    assert np.allclose(p8.probabilities.sum(axis=0), 1.0, atol=1e-3)
    # the labels-and-confidence graph (the window's panels) is int8 with the same labels; its
    # float tail (after the logits) is left unquantized
    for frame in val_frames[:2]:
        s8 = auto.segment(frame, confidence=True)
        assert np.array_equal(s8.labels, auto.segment(frame).labels)
        assert abs(float(s8.confidence.mean()) - float(fp32.segment(frame, confidence=True).confidence.mean())) < 0.02


def test_torch_and_cuda_never_take_int8():
    entry = read_card(SHIPPED)["int8"]
    assert choose_precision("auto", backend="torch", device="cpu", entry=entry) == ("fp32", None)
    assert choose_precision("auto", backend="torch", device="cuda", entry=entry) == ("fp16", None)
    with pytest.raises(ValueError, match="ONNX backend"):
        choose_precision("int8", backend="torch", device="cpu", entry=entry)


def test_calibration_survives_a_save_load_round_trip(tmp_path):
    path = with_card(tmp_path, "copy.safetensors", lambda card: None)
    assert read_card(path)["int8"] == read_card(SHIPPED)["int8"]
    assert load_checkpoint(path).card["int8"]["passed"] is True


def test_auto_uses_int8_only_when_the_recorded_check_passed(tmp_path):
    def fail(card):
        card["int8"]["check"]["equal_pixels"] = 0.90

    failed = with_card(tmp_path, "failed.safetensors", fail)
    auto = Segmenter(failed, backend="onnx")
    assert auto.precision == "fp32" and "int8 check failed" in auto.precision_note and "90.0% equal" in auto.precision_note
    forced = Segmenter(failed, backend="onnx", precision="int8")
    assert forced.precision == "int8" and "as asked" in forced.precision_note

    def unchecked(card):
        card["int8"]["check"] = None

    assert Segmenter(with_card(tmp_path, "unchecked.safetensors", unchecked), backend="onnx").precision == "fp32"


def test_a_model_without_calibration_falls_back_to_fp32(random_checkpoint):
    segmenter = Segmenter(random_checkpoint, backend="onnx", precision="int8")
    assert segmenter.precision == "fp32"
    assert segmenter.precision_note.startswith("fp32: the model has no int8 calibration")


@pytest.mark.parametrize(("change", "problem"), [
    (lambda c: c["int8"].update(format="tensorrt-calib/9"), "format 'tensorrt-calib/9'"),
    (lambda c: c["int8"].update(ranges={"data": {}}), "holds no activation ranges"),
    (lambda c: next(iter(c["int8"]["ranges"]["data"].values()))["highest"].update(data=[float("nan")]), "not a finite"),
    (lambda c: c["int8"].update(fp32_nodes="node_Conv_971"), "fp32_nodes is not a list"),
    (lambda c: c["int8"]["check"].pop("miou_int8"), "accuracy check is incomplete"),
    (lambda c: c.update(int8=[1, 2, 3]), "int8 entry is not an object"),
])
def test_a_corrupt_calibration_is_refused_in_one_line(tmp_path, change, problem):
    ckpt = load_checkpoint(SHIPPED)
    card = copy.deepcopy(ckpt.card)
    change(card)
    with pytest.raises(CheckpointError) as caught:  # refused on save, as on load
        save_checkpoint(tmp_path / "bad.safetensors", ckpt.build(), card, half=True)
    assert problem in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "bad.safetensors").exists()


def test_a_new_calibration_never_reuses_an_old_int8_graph(tmp_path):
    entry = read_card(SHIPPED)["int8"]
    other = copy.deepcopy(entry)
    next(iter(other["ranges"]["data"].values()))["highest"]["data"][0] += 1.0
    assert calibration_hash(entry) != calibration_hash(other)
    runner = Segmenter(SHIPPED, backend="onnx")._runner
    first = runner.cache_path((360, 480), True, int8=True)
    runner.int8 = other
    assert runner.cache_path((360, 480), True, int8=True) != first != runner.cache_path((360, 480), True)


def test_quantize_command_calibrates_a_model_and_commands_take_precision(tmp_path, camvid_subset, random_checkpoint,
                                                                         capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "random-int8.safetensors"
    assert run_main(["quantize", str(random_checkpoint), "--data", str(camvid_subset), "--out", str(out)]) == 0
    lines = message_lines(capfd.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith(f"wrote {out}: int8 vs fp32 on ")
    entry = read_card(out)["int8"]
    assert entry["check"]["frames"] > 0 and set(entry) >= {"ranges", "fp32_nodes", "calibration", "passed"}
    # the output may not land inside the dataset, nor replace the input without --in-place
    assert run_main(["quantize", str(out), "--data", str(camvid_subset), "--out", str(camvid_subset / "m.safetensors")]) == 2
    assert run_main(["quantize", str(out), "--data", str(camvid_subset), "--out", str(out)]) == 2
    capfd.readouterr()
    frames = camvid_subset / "val"
    assert run_main(["predict", str(frames), "-o", "pred", "--model", str(out), "--precision", "int8"]) == 0
    assert len(list((tmp_path / "pred" / "labels").iterdir())) == len(list(frames.iterdir()))
    capfd.readouterr()
    assert run_main(["eval", "--images", str(frames), "--annotations", str(camvid_subset / "valannot"),
                     "--model", str(random_checkpoint), "--precision", "int8", "--json"]) == 0
    out_text, err = capfd.readouterr()
    assert json.loads(out_text)["frames"] == len(list(frames.iterdir()))
    assert message_lines(err) == [f"camvid-viewer: {random_checkpoint.name}: fp32: the model has no int8 calibration "
                                  "(make one with: main.py quantize MODEL --data DIR)"]


def test_bench_prints_both_precisions_side_by_side(capfd):
    assert run_main(["bench", "--backend", "onnx", "--frames", "3", "--runs", "1", "--json"]) == 0
    rows = json.loads(capfd.readouterr().out)
    assert [r["precision"] for r in rows] == ["fp32", "int8"]
    assert rows[1]["vs_fp32"] > 0


def test_train_calibrates_its_best_checkpoint(tmp_path, camvid_subset):
    shutil.rmtree(camvid_subset / "val")  # train on train/, validate on none: a fast run
    shutil.rmtree(camvid_subset / "valannot")
    out = tmp_path / "m.safetensors"
    code = run_main(["train", "--data", str(camvid_subset), "--out", str(out), "--epochs", "1", "--crop", "96x128",
                     "--batch-size", "2", "--head-width", "16", "--val-split", "none"])
    assert code == 0
    assert read_card(out)["int8"]["check"]["frames"] >= 1


def test_a_failing_in_process_export_is_redone_in_a_new_process(random_checkpoint, tmp_path, monkeypatch):
    import model.onnx_backend as backend

    def broken(*args, **kwargs):
        raise RuntimeError("Unable to cast NotImplemented to Tensor")  # what torch's exporter said, once

    monkeypatch.setenv("CAMVID_VIEWER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(backend, "_quiet_export", broken)
    segmenter = Segmenter(random_checkpoint, backend="onnx", precision="fp32")
    frame = np.full((90, 120, 3), 128, np.uint8)
    assert segmenter.segment(frame).labels.shape == (90, 120)
    graphs = list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert len(graphs) == 1 and graphs[0].with_suffix(".json").is_file()
