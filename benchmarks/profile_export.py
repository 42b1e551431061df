"""Where an export's CPU goes: CPU milliseconds per frame for each stage, and the cores kept busy.

On two cores the export can only match the bare model if the model keeps both cores busy and
everything else is cheap; this script shows both. It wraps the export's stages (and the
segmenter's lane call) with per-thread CPU timers, so run it only to profile, never in tests.
CPU that the stages' own helper threads use (FFmpeg's decoder threads, for one) shows only in
the process total.

Usage:
    python benchmarks/profile_export.py
    python benchmarks/profile_export.py --size 960x540 --frames 150
"""

from __future__ import annotations

import argparse
import functools
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_export  # noqa: E402

from camvid_viewer.export import job as export  # noqa: E402
from camvid_viewer.export import video_writer  # noqa: E402
from camvid_viewer.sources import VideoSource  # noqa: E402

cpu_ms: dict[str, float] = {}


def timed(name: str, function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            cpu_ms[name] = cpu_ms.get(name, 0.0) + 1000 * (time.thread_time() - start)

    return wrapper


def instrument(segmenter_class) -> None:
    job = export._ExportJob
    job._decode = timed("decode thread (own work)", job._decode)
    job._infer = timed("model feeder thread", job._infer)
    job._encode = timed("render + encode thread", job._encode)
    export.render_view = timed("  of which render_view", export.render_view)
    video_writer.VideoWriter.write = timed("  of which VideoWriter.write", video_writer.VideoWriter.write)
    if hasattr(segmenter_class, "_segment_on_lane"):
        segmenter_class._segment_on_lane = timed("model lanes", segmenter_class._segment_on_lane)


def main(argv=None) -> int:
    from model.inference import Segmenter

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="480x360")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        clip = bench_export.make_clip(Path(tmp), (w, h), args.frames)
        with VideoSource(clip) as source:
            frames = [f for _, f in source.frames()]
        segmenter = Segmenter(backend=args.backend)
        segmenter.segment_batch(frames[:2])  # warm-up: graph export and lane sessions
        model_fps = bench_export.time_model(segmenter, frames)
        instrument(Segmenter)
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        export_fps = bench_export.time_export(segmenter, clip, Path(tmp) / "out.mp4", "standard")
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    n = len(frames)
    print(f"{args.size} {segmenter.backend}: bare model {model_fps:.1f} fps, export {export_fps:.1f} fps "
          f"({100 * export_fps / model_fps:.0f}%)")
    print(f"  process CPU       {1000 * total / n:6.2f} ms/frame, {total / wall:.2f} cores busy")
    order = ["model lanes", "model feeder thread", "decode thread (own work)", "render + encode thread",
             "  of which render_view", "  of which VideoWriter.write"]
    for name, ms in sorted(cpu_ms.items(), key=lambda item: order.index(item[0])):
        print(f"  {name:28s} {ms / n:6.2f} ms/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
