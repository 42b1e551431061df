"""The ``bench`` command: bare model fps per backend and end-to-end pipeline fps on real frames.

Usage:
    python main.py bench                               # every backend, 480x360
    python main.py bench --backend onnx --size 960x540 --json

``model_fps`` times ``Segmenter.segment`` on one frame already in memory; ``pipeline_fps`` times
decode (PNG frames from disk, as a folder source does) -> segment -> blend, as the viewer does it,
one frame after another. Each figure is the median of several timed runs.
"""

from __future__ import annotations

__all__ = ["add_bench_command", "run_bench"]

import json
import resource
import statistics
import sys
import time

import numpy as np


def add_bench_command(sub) -> None:
    from model.cli import parse_size

    b = sub.add_parser("bench", help="measure model and pipeline frames per second")
    b.add_argument("--model", help="checkpoint (default: the shipped model)")
    b.add_argument("--backend", action="append", choices=("torch", "onnx", "all"), help="repeatable; default all")
    b.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    b.add_argument("--size", type=parse_size, action="append", metavar="WxH", help="repeatable; default 480x360")
    b.add_argument("--frames", type=int, default=40, help="frames per timed run (default 40)")
    b.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported")
    b.add_argument("--json", action="store_true", help="one JSON object (a list for several runs)")
    b.set_defaults(func=_cmd_bench)


def _cmd_bench(args) -> int:
    backends = args.backend or ["all"]
    if "all" in backends:
        backends = ["torch", "onnx"]
    results = run_bench(model=args.model, backends=backends, sizes=args.size or [(480, 360)], frames=max(2, args.frames), runs=max(1, args.runs), device=args.device)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
    else:
        for r in results:
            print(f"{r['backend']:>6} {r['device']:>4} {r['size']:>9}  model {r['model_fps']:6.1f} fps  "
                  f"pipeline {r['pipeline_fps']:6.1f} fps  peak RSS {r['peak_rss_mb']:.0f} MB")
    return 0


def _real_frames(size: tuple[int, int], count: int) -> list[bytes]:
    """PNG-encoded frames at ``size``: real CamVid val frames when present, else a synthetic road scene."""
    import cv2

    from model.data import default_camvid_root, list_images

    root = default_camvid_root()
    frames = []
    if root is not None and (root / "val").is_dir():
        for path in list_images(root / "val")[:count]:
            frames.append(cv2.resize(cv2.imread(str(path)), size, interpolation=cv2.INTER_AREA))
    if not frames:
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8) for _ in range(count)]
    return [cv2.imencode(".png", f)[1].tobytes() for f in frames]


def _median_fps(fn, frames: int, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return frames / statistics.median(times)


def run_bench(*, model=None, backends=("torch", "onnx"), sizes=((480, 360),), frames: int = 40, runs: int = 3, device: str = "auto") -> list[dict]:
    """One result dict per (backend, size): backend, device, size, model_fps, pipeline_fps, peak_rss_mb."""
    import cv2

    from camvid_viewer.rendering import blend
    from model.inference import Segmenter

    results = []
    for backend in backends:
        dev = "cpu" if backend == "onnx" else device
        segmenter = Segmenter(model, backend=backend, device=dev)
        for size in sizes:
            encoded = _real_frames(size, frames)
            decoded = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in encoded]
            segmenter.segment(decoded[0])  # warm-up: ONNX export / session creation, allocator

            def model_only(decoded=decoded, segmenter=segmenter):  # bound now, not at call time
                for f in decoded:
                    segmenter.segment(f)

            def pipeline(encoded=encoded, segmenter=segmenter):
                for b in encoded:
                    frame = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)
                    blend(frame, segmenter.segment(frame).labels, palette_bgr=segmenter.palette_bgr, opacity=0.5)

            results.append({
                "backend": backend,
                "device": segmenter.device,
                "size": f"{size[0]}x{size[1]}",
                "working_size": list(_working(size, segmenter.working_height)),
                "model_fps": round(_median_fps(model_only, len(decoded), runs), 2),
                "pipeline_fps": round(_median_fps(pipeline, len(encoded), runs), 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "frames": len(decoded),
                "runs": runs,
                "model": segmenter.name,
            })
            print(f"bench: {backend} {size[0]}x{size[1]} done", file=sys.stderr)
    return results


def _working(size, working_height):
    from model.inference import working_size

    h, w = working_size((size[1], size[0]), working_height)
    return w, h
