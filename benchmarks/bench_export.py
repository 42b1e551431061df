"""Export throughput against the bare model on the same machine and frame size.

The issue's target: export throughput >= 90% of the bare model fps. This script times, on a
clip built from the real CamVid val frames:

    model    Segmenter.segment() on frames already in memory (the bare model fps)
    export   export_video() end to end: decode -> model -> render -> H.264 encode (+ metrics)
    decode   VideoSource.frames() alone
    encode   VideoWriter alone, for each --quality preset

Runs alternate (model, export, model, export, ...) so background load hits both alike; the
medians of ``--repeats`` runs are reported, and the ratio is the median of each pair's ratio.

Usage:
    python benchmarks/bench_export.py
    python benchmarks/bench_export.py --size 960x540 --frames 60 --backend torch --json
    python benchmarks/bench_export.py --model runs/lite0.safetensors --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from camvid_viewer.export import QUALITY, ExportOptions, export_video  # noqa: E402
from camvid_viewer.export.video_writer import VideoWriter  # noqa: E402
from camvid_viewer.sources import VideoSource  # noqa: E402
from model.data import default_camvid_root  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="checkpoint (default: the shipped model, else a random one of the same shape)")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--size", default="480x360", help="WxH of the test clip")
    p.add_argument("--frames", type=int, default=40, help="frames per timed run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quality", choices=tuple(QUALITY), default="standard", help="preset of the timed export")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def make_clip(folder: Path, size: tuple[int, int], count: int) -> Path:
    root = default_camvid_root()
    if root is None:
        sys.exit("real CamVid not found: set CAMVID_ROOT or put it at ../shared/camvid")
    files = sorted((root / "val").glob("*.png"))
    path = folder / "clip.mp4"
    with VideoWriter(path, fps=15, preset="veryfast", crf=18) as writer:
        for i in range(count):
            writer.write(cv2.resize(cv2.imread(str(files[i % len(files)])), size, interpolation=cv2.INTER_AREA))
    return path


def model_path(args, folder: Path) -> Path | None:
    from model.inference import default_model_path

    if args.model:
        return Path(args.model)
    if default_model_path().is_file():
        return None
    # No shipped model yet: a random network of the shipped shape costs the same per frame.
    from model.checkpoint import save_checkpoint
    from model.classes import CLASS_NAMES, PALETTE_RGB, VOID_INDEX
    from model.networks import Architecture, build_model

    arch = Architecture()
    card = {"name": "random-lite0", "architecture": arch.to_dict(), "classes": list(CLASS_NAMES),
            "palette": [list(c) for c in PALETTE_RGB], "void_index": VOID_INDEX,
            "input": {"colour": "RGB", "mean": [0.5] * 3, "std": [0.5] * 3, "working_height": 360}}
    return save_checkpoint(folder / "random.safetensors", build_model(arch, pretrained=False), card)


def time_model(segmenter, frames: list[np.ndarray]) -> float:
    t = time.perf_counter()
    for frame in frames:
        segmenter.segment(frame)
    return len(frames) / (time.perf_counter() - t)


def time_export(segmenter, clip: Path, out: Path, quality: str) -> float:
    t = time.perf_counter()
    result = export_video(clip, out, segmenter=segmenter, options=ExportOptions(quality=quality, overwrite=True, find_truth=False))
    return result.frames / (time.perf_counter() - t)


def time_decode(clip: Path) -> float:
    with VideoSource(clip) as source:
        t = time.perf_counter()
        n = sum(1 for _ in source.frames())
        return n / (time.perf_counter() - t)


def time_encode(frames: list[np.ndarray], out: Path, quality: str) -> float:
    preset, crf, params = QUALITY[quality]
    t = time.perf_counter()
    with VideoWriter(out, fps=15, preset=preset, crf=crf, x264_params=params, overwrite=True, threads=1) as writer:
        for frame in frames:
            writer.write(frame)
    return len(frames) / (time.perf_counter() - t)


def main(argv=None) -> int:
    from model.inference import Segmenter

    args = parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(folder, (w, h), args.frames)
        with VideoSource(clip) as source:
            frames = [f for _, f in source.frames()]
        segmenter = Segmenter(model_path(args, folder), backend=args.backend, device=args.device)
        for frame in frames[:3]:
            segmenter.segment(frame)  # warm-up (ONNX graph export / CUDA kernels)
        model_fps, export_fps = [], []
        for _ in range(args.repeats):
            model_fps.append(time_model(segmenter, frames))
            export_fps.append(time_export(segmenter, clip, folder / "out.mp4", args.quality))
        result = {
            "size": f"{w}x{h}",
            "frames": len(frames),
            "model": segmenter.name,
            "backend": segmenter.backend,
            "device": segmenter.device,
            "quality": args.quality,
            "model_fps": round(statistics.median(model_fps), 2),
            "export_fps": round(statistics.median(export_fps), 2),
            "export_vs_model": round(statistics.median(e / m for e, m in zip(export_fps, model_fps, strict=True)), 3),
            "runs": {"model_fps": [round(v, 2) for v in model_fps], "export_fps": [round(v, 2) for v in export_fps]},
            "decode_fps": round(time_decode(clip), 1),
            "encode_fps": {q: round(time_encode(frames, folder / f"enc-{q}.mp4", q), 1) for q in QUALITY},
        }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['size']}  {result['backend']}/{result['device']}  {result['frames']} frames, quality {result['quality']}")
        print(f"  bare model   {result['model_fps']:7.2f} fps")
        print(f"  export       {result['export_fps']:7.2f} fps  ({100 * result['export_vs_model']:.0f}% of the model)")
        print(f"  decode only  {result['decode_fps']:7.1f} fps")
        print("  encode only  " + ", ".join(f"{q} {v:.0f} fps" for q, v in result["encode_fps"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
