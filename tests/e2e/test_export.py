"""The export command end to end on real CamVid frames: video, audio, metrics CSV = eval, masks, safety.

Uses the small random checkpoint (model quality does not matter here) on the torch CPU backend,
and a handful of frames per export so the file runs in well under a minute on two busy cores.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from media_samples import audio_samples, decode_all, dominant_frequency, val_frames, write_video

from camvid_viewer.export import ExportCancelled, ExportOptions, export_video
from main import main
from model.classes import CLASS_NAMES, VOID_INDEX

ROOT = Path(__file__).resolve().parents[2]
CPU = ["--backend", "torch", "--device", "cpu"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory, camvid_root) -> Path:
    """8 real val frames as H.264 MP4 (GOP 4, B-frames) with a 440 Hz tone."""
    folder = tmp_path_factory.mktemp("clip")
    return write_video(folder / "drive.mp4", val_frames(camvid_root, 8), fps=15, gop=4, b_frames=2, tone_hz=440.0)


def _val_subset(root: Path, camvid_root: Path, count: int) -> Path:
    """``root/val`` + ``root/valannot`` with the first ``count`` real val frames; returns ``root/val``."""
    names = [p.name for p in sorted((camvid_root / "val").glob("*.png"))[:count]]
    for sub in ("val", "valannot"):
        (root / sub).mkdir(parents=True)
        for name in names:
            shutil.copy(camvid_root / sub / name, root / sub / name)
    return root / "val"


@pytest.fixture(scope="module")
def checkpoint(random_checkpoint, tmp_path_factory) -> Path:
    """The random checkpoint at a 120-pixel working height: 9x less compute, the same pipeline."""
    from model.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(random_checkpoint)
    card = dict(ckpt.card, input=dict(ckpt.card["input"], working_height=120))
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "random-small.safetensors", ckpt.build(), card)


@pytest.fixture(scope="module")
def segmenter(checkpoint):
    from model.inference import Segmenter

    return Segmenter(checkpoint, backend="torch", device="cpu")


@pytest.fixture(scope="module")
def onnx_segmenter(checkpoint):
    from model.inference import Segmenter

    return Segmenter(checkpoint, backend="onnx", threads=2)


def run(capsys, *args) -> tuple[int, str, str]:
    """``python main.py export ...`` in this process: (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse rejects bad arguments by exiting
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """The one error line (progress bars redraw with carriage returns, not newlines)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_export_video_keeps_frames_size_fps_and_audio(tmp_path, clip, checkpoint, capsys):
    out, masks = tmp_path / "overlay.mp4", tmp_path / "masks"
    code, _, err = run(capsys, "export", str(clip), "-o", str(out), "--model", str(checkpoint), "--masks", str(masks), *CPU)
    assert code == 0, err
    assert "wrote" in err and "8 frames, 480x360, 15 fps" in err and "frame/s" in err  # summary and tqdm bar

    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.codec_context.pix_fmt, v.average_rate) == ("h264", "yuv420p", 15)
        assert (v.codec_context.width, v.codec_context.height) == (480, 360)
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
    exported, source = decode_all(out), decode_all(clip)
    assert len(exported) == 8 and exported[0].shape == (360, 480, 3)

    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(15)
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 8

    samples, rate = audio_samples(out)
    assert abs(len(samples) / rate - 8 / 15) < 0.1
    assert dominant_frequency(samples, rate) == pytest.approx(440, abs=10)

    # the overlay changes the pixels where the mask is drawn (outside the legend box)
    assert sorted(p.name for p in masks.iterdir()) == [f"{i:06d}.png" for i in range(8)]
    labels = cv2.imread(str(masks / "000003.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (360, 480) and labels.dtype == np.uint8 and labels.max() <= VOID_INDEX
    diff = np.abs(exported[3].astype(int) - source[3].astype(int)).sum(axis=2)
    assert diff[40:, 240:].mean() > 30
    assert leftovers(tmp_path) == []


def test_overwrite_protection_and_range(tmp_path, clip, checkpoint, capsys):
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"precious")
    code, _, err = run(capsys, "export", str(clip), "-o", str(out), "--model", str(checkpoint), *CPU)
    assert code == 2 and "clip.mp4: already exists (use --overwrite" in error_line(err)
    assert out.read_bytes() == b"precious"

    code, _, err = run(capsys, "export", str(clip), "-o", str(out), "--model", str(checkpoint), "--range", "2:6", "--overwrite", *CPU)
    assert code == 0, err
    frames = decode_all(out)
    assert len(frames) == 4
    samples, rate = audio_samples(out)
    assert abs(len(samples) / rate - 4 / 15) < 0.1  # the audio is cut to the range too
    assert leftovers(tmp_path) == []


def test_metrics_csv_totals_equal_eval_and_masks_round_trip(tmp_path, camvid_root, checkpoint, capsys):
    images = _val_subset(tmp_path / "data", camvid_root, 5)
    annotations = images.parent / "valannot"
    out, table, masks = tmp_path / "val.mp4", tmp_path / "val.csv", tmp_path / "masks"
    code, _, err = run(capsys, "export", str(images), "-o", str(out), "--model", str(checkpoint), "--fps", "10",
                       "--metrics-csv", str(table), "--masks", str(masks), *CPU)
    assert code == 0, err
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == 10
    assert len(decode_all(out)) == 5

    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 6 and rows[-1]["frame"] == "total"
    assert [r["name"] for r in rows[:-1]] == sorted(p.stem for p in images.iterdir())
    assert all(r["labelled"] == "1" and r["bad"] == "0" and r["mean_iou"] for r in rows[:-1])
    total = rows[-1]

    def assert_equal_to_csv(result: dict) -> None:
        assert result["frames"] == 5
        assert float(total["mean_iou"]) == pytest.approx(result["mean_iou"], abs=1e-12)
        assert float(total["pixel_accuracy"]) == pytest.approx(result["pixel_accuracy"], abs=1e-12)
        assert float(total["mean_dice"]) == pytest.approx(result["mean_dice"], abs=1e-12)
        for i, name in enumerate(CLASS_NAMES):
            if i == VOID_INDEX:
                continue
            key = name.replace("/", "_").replace(" ", "_")
            scores = result["per_class"][name]
            if scores is None:
                assert total[f"iou_{key}"] == "" and total[f"dice_{key}"] == ""
            else:
                assert float(total[f"iou_{key}"]) == pytest.approx(scores["iou"], abs=1e-12)
                assert float(total[f"dice_{key}"]) == pytest.approx(scores["dice"], abs=1e-12)

    # the model run by eval on the same frames
    code, stdout, err = run(capsys, "eval", "--images", str(images), "--annotations", str(annotations),
                            "--model", str(checkpoint), "--json", *CPU)
    assert code == 0, err
    assert_equal_to_csv(json.loads(stdout))
    # the exported masks read back by eval
    code, stdout, err = run(capsys, "eval", "--images", str(images), "--annotations", str(annotations),
                            "--predictions", str(masks), "--json")
    assert code == 0, err
    assert_equal_to_csv(json.loads(stdout))


def test_onnx_lanes_export_every_frame_in_order(tmp_path, camvid_root, onnx_segmenter):
    """The ONNX backend runs frames on parallel lanes; each mask must still be its own frame's."""
    images = tmp_path / "frames"
    images.mkdir()
    for name in [p.name for p in sorted((camvid_root / "val").glob("*.png"))][::12]:  # 9 distinct scenes
        shutil.copy(camvid_root / "val" / name, images / name)
    segmenter = onnx_segmenter
    assert segmenter.preferred_batch == 2
    result = export_video(images, tmp_path / "v.mp4", segmenter=segmenter,
                          options=ExportOptions(masks_dir=tmp_path / "masks", find_truth=False))
    frames = sorted(images.iterdir())
    sources = [cv2.imread(str(f)).astype(np.int16) for f in frames]
    video = decode_all(tmp_path / "v.mp4")
    assert result.frames == 9 and len(video) == 9
    with av.open(str(tmp_path / "v.mp4")) as container:  # quality "standard": ultrafast with B-frames back on
        assert av.video.frame.PictureType.B in {frame.pict_type for frame in container.decode(video=0)}
    for i, image in enumerate(video):  # each overlay is nearest its own source frame
        distances = [np.abs(image - source).mean() for source in sources]
        assert int(np.argmin(distances)) == i
    expected = [segmenter.segment(cv2.imread(str(f))).labels for f in frames]
    masks = [cv2.imread(str(tmp_path / "masks" / f.name), cv2.IMREAD_UNCHANGED) for f in frames]
    for mask, labels in zip(masks, expected, strict=True):
        assert (mask == labels).mean() >= 0.999
    assert min((a == b).mean() for a, b in zip(expected, expected[1:], strict=False)) < 0.99  # neighbours differ: order is tested


@pytest.mark.parametrize("backend", ["torch", "onnx"])  # onnx: frames in flight on the lanes when it stops
def test_cancel_or_interrupt_midway_leaves_nothing(tmp_path, camvid_root, request, backend):
    segmenter = request.getfixturevalue("segmenter" if backend == "torch" else "onnx_segmenter")
    images = _val_subset(tmp_path / "data", camvid_root, 6)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    options = ExportOptions(metrics_csv=out_dir / "m.csv", masks_dir=out_dir / "masks")
    cancel = threading.Event()
    seen = []

    def progress(done, total, fps):
        seen.append((done, total))
        if done == 2:
            cancel.set()

    with pytest.raises(ExportCancelled):
        export_video(images, out_dir / "v.mp4", segmenter=segmenter, options=options, cancel=cancel, progress=progress)
    assert seen[0] == (1, 6) and len(seen) < 6
    assert list(out_dir.iterdir()) == []

    def ctrl_c(done, total, fps):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_video(images, out_dir / "v.mp4", segmenter=segmenter, options=options, progress=ctrl_c)
    assert list(out_dir.iterdir()) == []


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path, clip, segmenter):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    stale_video = tmp_path / f".v.mp4.{pid}-0a1b2c.partial.mp4"
    stale_csv = tmp_path / f".m.csv.{pid}-0a1b2d.partial.csv"
    stale_masks = tmp_path / f".masks.{pid}-0a1b2e.partial"
    stale_video.write_bytes(b"half a video")
    stale_csv.write_text("frame\n")
    stale_masks.mkdir()
    annotations = tmp_path / "labels"
    annotations.mkdir()
    cv2.imwrite(str(annotations / "000001.png"), np.full((360, 480), 3, np.uint8))
    options = ExportOptions(start=0, stop=2, annotations=annotations, metrics_csv=tmp_path / "m.csv", masks_dir=tmp_path / "masks")
    result = export_video(clip, tmp_path / "v.mp4", segmenter=segmenter, options=options)
    assert result.frames == 2 and result.labelled_frames == 1
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels", "m.csv", "masks", "v.mp4"]


def test_corrupt_frame_stops_or_repeats(tmp_path, camvid_root, checkpoint, capsys):
    images = _val_subset(tmp_path / "data", camvid_root, 5)
    broken = sorted(images.iterdir())[2]
    broken.write_bytes(broken.read_bytes()[:3000])
    out, table = tmp_path / "out.mp4", tmp_path / "m.csv"
    code, _, err = run(capsys, "export", str(images), "-o", str(out), "--model", str(checkpoint), *CPU)
    line = error_line(err.split("\r")[-1])
    assert code == 2 and broken.name in line and "truncated" in line and "--on-bad-frame repeat" in line
    assert not out.exists() and leftovers(tmp_path) == []

    code, _, err = run(capsys, "export", str(images), "-o", str(out), "--model", str(checkpoint),
                       "--on-bad-frame", "repeat", "--metrics-csv", str(table), *CPU)
    assert code == 0, err
    assert "1 unreadable frame(s) repeated: 2" in err
    frames = decode_all(out)
    assert len(frames) == 5
    assert np.abs(frames[2].astype(int) - frames[1].astype(int)).mean() < 2  # the previous frame, again
    rows = list(csv.DictReader(table.open()))
    assert (rows[2]["bad"], rows[2]["labelled"], rows[2]["mean_iou"]) == ("1", "0", "")
    assert rows[-1]["labelled"] == "4" and rows[-1]["bad"] == "1"


def test_several_inputs_write_one_video_each(tmp_path, clip, camvid_root, checkpoint, capsys):
    images = _val_subset(tmp_path / "data", camvid_root, 3)
    out = tmp_path / "exports"
    code, _, err = run(capsys, "export", str(clip), str(images), "-o", str(out), "--range", "0:3", "--no-legend",
                       "--view", "side-by-side", "--model", str(checkpoint), *CPU)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["drive.mp4", "val.mp4"]
    drive, val = decode_all(out / "drive.mp4"), decode_all(out / "val.mp4")
    assert len(drive) == len(val) == 3
    assert drive[0].shape == (360, 960, 3)  # frame | prediction (no truth beside the clip)
    assert val[0].shape == (360, 1440, 3)  # frame | prediction | truth (valannot found beside val)


def test_bad_arguments_and_files_are_one_line(tmp_path, clip, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 40)
    cases = [
        (["export", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4")], "missing.mp4: no such file"),
        (["export", str(text), "-o", str(tmp_path / "o.mp4")], "notes.txt: not a video"),
        (["export", str(clip), "-o", str(tmp_path / "o.avi")], "o.avi: the output is an MP4 video"),
        (["export", str(clip), "-o", str(tmp_path / "o.mp4"), "--opacity", "2"], "--opacity"),
        (["export", str(clip), "-o", str(tmp_path / "o.mp4"), "--range", "5:2"], "--range"),
        (["export", str(clip), "-o", str(tmp_path / "o.mp4"), "--fps", "30"], "--fps is for frame folders"),
        (["export", str(clip), "-o", str(tmp_path / "o.mp4"), "--range", "50:60"], "has 8 frames"),
    ]
    for argv, expected in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        assert expected in error_line(err), (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_real_entry_point_reports_bad_input_in_one_line(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "export", str(tmp_path / "nope"), "-o", str(tmp_path / "o.mp4")],
                          capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nope: no such file" in proc.stderr


def test_a_forwarding_wrapper_is_called_through_its_own_segment(tmp_path, clip, segmenter):
    """Wrappers (locks, gates) forward unknown attributes; export must still call their segment."""

    class Counting:
        def __init__(self, inner) -> None:
            self.inner, self.calls = inner, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def segment(self, frame, **kwargs):
            self.calls += 1
            return self.inner.segment(frame, **kwargs)

    wrapper = Counting(segmenter)
    result = export_video(clip, tmp_path / "v.mp4", segmenter=wrapper, options=ExportOptions(stop=3, find_truth=False))
    assert result.frames == 3 and wrapper.calls == 3
