"""The model's own signals without truth, headless: ``export --metrics-csv``, ``eval`` and ``batch eval``.

Real val frames as a 960x540 dashcam-like MP4 and as a bare frame folder (no annotations
anywhere near either); the shipped model at a 120-pixel working height (its real labels, 9x
less compute), on the torch CPU backend so a direct model call is the reference.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from camvid_viewer.commands.parser import run_command
from model.classes import CLASS_NAMES

FRAMES = 8
CPU = ["--backend", "torch", "--device", "cpu"]
COLUMNS = [name.replace("/", "_").replace(" ", "_") for name in CLASS_NAMES]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from model.checkpoint import load_checkpoint, save_checkpoint
    from model.inference import default_model_path

    shipped = load_checkpoint(default_model_path())
    card = dict(shipped.card, input=dict(shipped.card["input"], working_height=120))
    card.pop("int8", None)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "shipped-small.safetensors", shipped.build(), card)


@pytest.fixture(scope="module")
def segmenter(model):
    from model.inference import Segmenter

    return Segmenter(model, backend="torch", device="cpu")


@pytest.fixture(scope="module")
def dashcam(tmp_path_factory, camvid_root) -> Path:
    """Consecutive val frames as a 960x540 25 fps MP4, alone in its folder."""
    path = tmp_path_factory.mktemp("dashcam") / "drive.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (960, 540))
    for image in sorted((camvid_root / "val").glob("*.png"))[:FRAMES]:
        writer.write(cv2.resize(cv2.imread(str(image)), (960, 540)))
    writer.release()
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory, camvid_root) -> Path:
    """Consecutive val frames in a folder with no annotations beside it."""
    out = tmp_path_factory.mktemp("frames") / "frames"
    out.mkdir()
    for image in sorted((camvid_root / "val").glob("*.png"))[:FRAMES]:
        shutil.copy(image, out / image.name)
    return out


def _decoded(path: Path) -> list[np.ndarray]:
    from camvid_viewer.sources import open_source

    with open_source(path) as source:
        return [frame for _, frame in source.frames(0, source.frame_count)]


def _confidence(segmenter, frame) -> float:
    """The mean winning-class probability, straight from the model."""
    return float(segmenter.segment(frame, probabilities=True).probabilities.max(0).mean())


def test_export_csv_without_truth_holds_shares_confidence_and_flicker(tmp_path, dashcam, model, segmenter):
    table, masks = tmp_path / "drive.csv", tmp_path / "masks"
    assert run_command(["export", str(dashcam), "-o", str(tmp_path / "drive-overlay.mp4"), "--model", str(model),
                        "--metrics-csv", str(table), "--masks", str(masks), "--quality", "draft", *CPU]) == 0
    rows = list(csv.DictReader(table.open()))
    frames, total = rows[:-1], rows[-1]
    assert len(frames) == FRAMES and total["frame"] == "total"
    assert all(r["labelled"] == "0" and r["mean_iou"] == "" for r in rows)
    labels = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(masks.iterdir())]
    decoded = _decoded(dashcam)
    for i, row in enumerate(frames):
        shares = [float(row[f"share_{c}"]) for c in COLUMNS]
        assert sum(shares) == pytest.approx(1.0, abs=1e-12)
        assert shares == pytest.approx(list(np.bincount(labels[i].ravel(), minlength=len(COLUMNS)) / labels[i].size), abs=1e-12)
        if i == 0:
            assert row["flicker"] == ""  # nothing before the first frame
        else:
            assert float(row["flicker"]) == pytest.approx(float((labels[i] != labels[i - 1]).mean()), abs=1e-12)
        assert float(row["mean_confidence"]) == pytest.approx(_confidence(segmenter, decoded[i]), abs=2e-3)
        assert 0 <= float(row["low_confidence_share"]) <= 1
    assert any(float(r["flicker"]) > 0 for r in frames[1:])  # a moving camera: labels do change
    # Totals: every frame has the same pixel count, so pooled = the mean of the rows.
    assert float(total["mean_confidence"]) == pytest.approx(np.mean([float(r["mean_confidence"]) for r in frames]), abs=1e-9)
    assert float(total["flicker"]) == pytest.approx(np.mean([float(r["flicker"]) for r in frames[1:]]), abs=1e-12)
    pooled = np.bincount(np.concatenate([m.ravel() for m in labels]), minlength=len(COLUMNS))
    assert [float(total[f"share_{c}"]) for c in COLUMNS] == pytest.approx(list(pooled / pooled.sum()), abs=1e-12)


def test_eval_without_annotations_reports_the_models_signals(folder, model, segmenter, capsys):
    capsys.readouterr()
    assert run_command(["eval", "--images", str(folder), "--model", str(model), "--json", *CPU]) == 0
    result = json.loads(capsys.readouterr().out)
    signals = result["signals"]
    assert result["truth"] is None and signals["frames"] == FRAMES
    assert sum(signals["class_share"].values()) == pytest.approx(1.0, abs=1e-12)
    frames = [cv2.imread(str(p)) for p in sorted(folder.iterdir())]
    assert signals["mean_confidence"] == pytest.approx(np.mean([_confidence(segmenter, f) for f in frames]), abs=2e-3)
    names = {p.stem for p in folder.iterdir()}
    assert result["least_confident"] and {item["name"] for item in result["least_confident"]} <= names
    worst = min(result["least_confident"], key=lambda item: item["mean_confidence"])
    assert worst == result["least_confident"][0]  # the least confident frame comes first
    assert result["most_flicker"][0]["flicker"] == max(item["flicker"] for item in result["most_flicker"])

    assert run_command(["eval", "--images", str(folder), "--model", str(model), *CPU]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"no truth: the model's own signals over {FRAMES} frames") and "least confident:" in text
    assert run_command(["eval", "--images", str(folder), "--predictions", str(folder)]) == 2
    assert "--predictions needs --annotations" in capsys.readouterr().err


def test_batch_eval_of_sources_without_truth_sorts_them_by_confidence(tmp_path, dashcam, folder, segmenter):
    """The batch job and summary on this process (no Ray): each source's JSON, pooled signals, order."""
    from camvid_viewer.batch.summary import SourceResult, write_summary
    from camvid_viewer.commands.batch_jobs import EvalJob
    from model.signal_summary import summarize_signals
    from model.signals import SignalTotals

    job, results, totals = EvalJob(), [], []
    for source in (dashcam, folder):
        assert job.check(str(source)) == [] and job.frames_of(str(source)) == FRAMES
        name = job.name_of(str(source))
        work = tmp_path / name
        work.mkdir()
        outcome = job.run(segmenter, str(source), name, work, report=lambda done: None)
        written = json.loads((work / f"{name}.json").read_text())
        assert outcome.frames == FRAMES and written["signals"]["frames"] == FRAMES
        totals.append(SignalTotals.from_record(outcome.signals))
        results.append(SourceResult(source=str(source), name=name, status="done", frames=outcome.frames,
                                    seconds=1.0, outputs=[f"{name}.json"], class_names=list(CLASS_NAMES),
                                    signals=outcome.signals))
    # The video's figures are those of its decoded frames through the model, one call each.
    direct = summarize_signals(((i, str(i), f) for i, f in enumerate(_decoded(dashcam))), segmenter)
    assert totals[0].mean_confidence == pytest.approx(direct.totals.mean_confidence, abs=1e-12)

    summary = write_summary(tmp_path, command="eval", results=results, wall_s=2.0)
    pooled = SignalTotals(len(CLASS_NAMES))
    for t in totals:
        pooled.merge(t)
    assert summary["signals"]["frames"] == 2 * FRAMES
    assert summary["signals"]["mean_confidence"] == pytest.approx(pooled.mean_confidence, abs=1e-12)
    order = sorted(zip((t.mean_confidence for t in totals), ("drive", "frames"), strict=True))
    assert summary["least_confident_first"] == [name for _, name in order]
    by_name = {s["source"]: s for s in summary["per_source"]}
    assert by_name[str(dashcam)]["signals"]["mean_flicker"] == pytest.approx(totals[0].mean_flicker, abs=1e-12)
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert float(rows[0]["mean_confidence"]) == pytest.approx(totals[0].mean_confidence, abs=1e-6)
    assert float(rows[-1]["mean_confidence"]) == pytest.approx(pooled.mean_confidence, abs=1e-6)
