"""Batch throughput against the same exports run one after another in one process.

The issue's target: locally, ``batch export`` of 8 real clips runs at >= 90% of the frames/s
of ``export`` of the same 8 clips in one process (one model, sources one after another).
Both are timed end to end as the user runs them (``python main.py ...`` in a fresh process:
start-up, model load(s), Ray start for the batch), on:

    val_a, val_b          the real val frames in two frame folders (with annotations)
    val_ping_1..4         videos of the val frames played forward and back, from 4 offsets
    train_1, train_2      videos of real train frames

Runs alternate (export, batch, export, batch, ...) so background load hits both alike; the
ratio reported is the median of each pair's ratio.

Usage:
    python benchmarks/bench_batch.py
    python benchmarks/bench_batch.py --frames 120 --repeats 2 --batch-args "--workers 1 --cpus-per-worker 2"
    python benchmarks/bench_batch.py --model runs/lite0.safetensors --json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from camvid_viewer.export.video_writer import VideoWriter  # noqa: E402
from model.data import default_camvid_root  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="checkpoint (default: the shipped model)")
    p.add_argument("--frames", type=int, default=120, help="frames per generated video (the folders hold the val split)")
    p.add_argument("--repeats", type=int, default=1, help="(export, batch) pairs")
    p.add_argument("--batch-args", default="", help="extra arguments for batch, e.g. '--workers 1 --cpus-per-worker 2'")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def make_clips(folder: Path, frames_per_video: int) -> list[Path]:
    root = default_camvid_root()
    if root is None:
        sys.exit("real CamVid not found: set CAMVID_ROOT or put it at ../shared/camvid")
    val = sorted((root / "val").glob("*.png"))
    train = sorted((root / "train").glob("*.png"))
    clips = []
    half = len(val) // 2
    for name, files in (("val_a", val[:half]), ("val_b", val[half:])):
        for kind, source in ((name, root / "val"), (f"{name}annot", root / "valannot")):
            (folder / kind).mkdir()
            for f in files:
                shutil.copy(source / f.name, folder / kind / f.name)
        clips.append(folder / name)
    ping = val + val[::-1]
    for i in range(4):
        start = i * len(val) // 4
        clips.append(_video(folder / f"val_ping_{i + 1}.mp4", [ping[(start + k) % len(ping)] for k in range(frames_per_video)]))
    for i in range(2):
        start = i * len(train) // 2
        clips.append(_video(folder / f"train_{i + 1}.mp4", train[start:start + frames_per_video]))
    return clips


def _video(path: Path, files: list[Path]) -> Path:
    writer = VideoWriter(path, fps=15, preset="veryfast", crf=20)
    try:
        for f in files:
            writer.write(cv2.imread(str(f), cv2.IMREAD_COLOR))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return path


def timed(argv: list[str]) -> float:
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return seconds


def frames_in(clips: list[Path]) -> int:
    from camvid_viewer.sources import open_source

    total = 0
    for clip in clips:
        with open_source(str(clip)) as source:
            total += source.frame_count
    return total


def main(argv=None) -> int:
    args = parse_args(argv)
    model = ["--model", args.model] if args.model else []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        (work / "clips").mkdir()
        clips = make_clips(work / "clips", args.frames)
        frames = frames_in(clips)
        runs = []
        for r in range(args.repeats):
            seq_out, batch_out = work / f"seq{r}", work / f"batch{r}"
            seq = timed(["export", *map(str, clips), "-o", f"{seq_out}/", *model])
            bat = timed(["batch", "export", *map(str, clips), "-o", str(batch_out), *model, *shlex.split(args.batch_args)])
            summary = json.loads((batch_out / "summary.json").read_text())
            assert summary["done"] == len(clips), summary
            runs.append({"sequential_s": seq, "batch_s": bat, "ratio": seq / bat,
                         "batch_worker_fps": sum(s["frames"] for s in summary["per_source"]) / sum(s["seconds"] for s in summary["per_source"])})
            shutil.rmtree(seq_out, ignore_errors=True)
            shutil.rmtree(batch_out, ignore_errors=True)
    report = {
        "clips": len(clips), "frames": frames, "cpus": os.cpu_count(), "batch_args": args.batch_args,
        "sequential_fps": statistics.median(frames / r["sequential_s"] for r in runs),
        "batch_fps": statistics.median(frames / r["batch_s"] for r in runs),
        "ratio": statistics.median(r["ratio"] for r in runs),
        "runs": runs,
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{report['clips']} clips, {frames} frames, {report['cpus']} CPUs")
        print(f"export, one process, one after another: {report['sequential_fps']:.2f} frames/s")
        print(f"batch export {args.batch_args or '(defaults)'}: {report['batch_fps']:.2f} frames/s "
              f"({100 * report['ratio']:.0f}% of the sequential run)")
        for r in runs:
            print(f"  run: sequential {r['sequential_s']:.1f}s, batch {r['batch_s']:.1f}s, "
                  f"per worker {r['batch_worker_fps']:.2f} fps on its sources")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
