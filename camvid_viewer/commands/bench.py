"""The ``bench`` command: bare model fps per backend and end-to-end pipeline fps on real frames.

Usage:
    python main.py bench                               # every backend and precision, 480x360
    python main.py bench --backend onnx --size 480x360 --size 960x540 --json

``model_fps`` times ``Segmenter.segment`` on one frame already in memory; ``pipeline_fps`` times
decode (PNG frames from disk, as a folder source does) -> segment -> blend, as the viewer does it,
one frame after another. Each figure is the median of several timed runs; the runs of the
precisions (fp32 and the model's int8 graph on ONNX) alternate, so a busy machine slows both alike.
"""

from __future__ import annotations

__all__ = ["add_bench_command", "run_bench"]

import json
import resource
import statistics
import sys
import time

import numpy as np

from model.external_model import add_card_arguments, is_external_model
from model.test_time import add_mode_argument


def add_bench_command(sub) -> None:
    from model.cli import parse_size

    b = sub.add_parser("bench", help="measure model and pipeline frames per second")
    b.add_argument("--model", help="checkpoint (default: the shipped model)")
    b.add_argument("--backend", action="append", choices=("torch", "onnx", "all"), help="repeatable; default all")
    b.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    b.add_argument("--size", type=parse_size, action="append", metavar="WxH", help="repeatable; default 480x360")
    b.add_argument("--frames", type=int, default=40, help="frames per timed run (default 40)")
    b.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported")
    b.add_argument("--precision", action="append", choices=("fp32", "int8", "all"),
                   help="repeatable; default all (int8 on the ONNX backend when the model has a calibration)")
    b.add_argument("--json", action="store_true", help="one JSON object (a list for several runs)")
    add_card_arguments(b, mapping=False)  # bench scores nothing: a mapping would change nothing
    add_mode_argument(b)
    b.set_defaults(func=_cmd_bench)


def _cmd_bench(args) -> int:
    backends = args.backend or ["all"]
    if "all" in backends:
        backends = ["torch", "onnx"]
    precisions = args.precision or ["all"]
    if "all" in precisions:
        precisions = ["fp32", "int8"]
    results = run_bench(model=args.model, backends=backends, sizes=args.size or [(480, 360)], frames=max(2, args.frames),
                        runs=max(1, args.runs), device=args.device, precisions=precisions, card=args.card,
                        mode=args.mode)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
    else:
        for r in results:
            ratio = f"  {r['vs_fp32']:.2f}x fp32" if r.get("vs_fp32") else ""
            print(f"{r['backend']:>6} {r['precision']:>4} {r['device']:>4} {r['size']:>9}  model {r['model_fps']:6.1f} fps  "
                  f"pipeline {r['pipeline_fps']:6.1f} fps  peak RSS {r['peak_rss_mb']:.0f} MB{ratio}")
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


def run_bench(*, model=None, backends=("torch", "onnx"), sizes=((480, 360),), frames: int = 40, runs: int = 3,
              device: str = "auto", precisions=("fp32", "int8"), card=None, mode: str = "fast") -> list[dict]:
    """One result dict per (backend, precision, size): backend, precision, device, size, model_fps,
    pipeline_fps, peak_rss_mb, and ``vs_fp32`` (model fps over the same backend's fp32) for int8."""
    import cv2

    results = []
    segmenters = _segmenters(model, backends, device, precisions, card=card, mode=mode)
    for size in sizes:
        encoded = _real_frames(size, frames)
        decoded = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in encoded]
        timings = {key: {"model": [], "pipeline": []} for key in segmenters}
        for segmenter in segmenters.values():
            segmenter.segment(decoded[0])  # warm-up: ONNX export / quantization / session, allocator
        for _ in range(runs):  # alternate the precisions run by run
            for key, segmenter in segmenters.items():
                timings[key]["model"].append(_timed(lambda s=segmenter, d=decoded: [s.segment(f) for f in d]))
                timings[key]["pipeline"].append(_timed(lambda s=segmenter, e=encoded: _pipeline(s, e)))
        for (backend, precision), segmenter in segmenters.items():
            model_fps = len(decoded) / statistics.median(timings[(backend, precision)]["model"])
            results.append({
                "backend": backend, "precision": segmenter.precision, "device": segmenter.device,
                "size": f"{size[0]}x{size[1]}", "working_size": list(_working(size, segmenter.working_height)),
                "model_fps": round(model_fps, 2),
                "pipeline_fps": round(len(encoded) / statistics.median(timings[(backend, precision)]["pipeline"]), 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "frames": len(decoded), "runs": runs, "model": segmenter.name, "mode": segmenter.mode,
            })
        _add_ratios(results[-len(segmenters):])
        print(f"bench: {size[0]}x{size[1]} done", file=sys.stderr)
    return results


def _segmenters(model, backends, device, precisions, *, card=None, mode: str = "fast") -> dict:
    """One Segmenter per (backend, precision) that can run here; int8 only on ONNX with a calibration.
    An ONNX model with a card runs as it is: ONNX Runtime, fp32, on the device asked for."""
    from model.inference import Segmenter

    if is_external_model(model):
        return {("onnx", "fp32"): Segmenter(model, backend="onnx", device=device, precision="fp32", card=card)}
    out = {}
    for backend in backends:
        dev = "cpu" if backend == "onnx" else device
        for precision in precisions:
            if precision == "int8" and (backend != "onnx" or mode != "fast"):
                continue  # int8 is the fast mode's, on ONNX Runtime
            segmenter = Segmenter(model, backend=backend, device=dev, precision=precision, mode=mode)  # fp16 on CUDA
            if precision == "int8" and segmenter.precision != "int8":
                print(f"bench: {segmenter.name}: no int8 graph ({segmenter.precision_note}); fp32 only", file=sys.stderr)
                continue
            out[(backend, precision)] = segmenter
    return out


def _add_ratios(rows: list[dict]) -> None:
    base = {r["backend"]: r["model_fps"] for r in rows if r["precision"] in ("fp32", "fp16")}
    for r in rows:
        if r["precision"] == "int8" and r["backend"] in base:
            r["vs_fp32"] = round(r["model_fps"] / base[r["backend"]], 2)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _pipeline(segmenter, encoded: list[bytes]) -> None:
    """Decode -> segment -> blend, one frame after another, as the viewer does it."""
    import cv2

    from camvid_viewer.rendering import blend

    for b in encoded:
        frame = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)
        blend(frame, segmenter.segment(frame).labels, palette_bgr=segmenter.palette_bgr, opacity=0.5)


def _working(size, working_height):
    from model.inference import working_size

    h, w = working_size((size[1], size[0]), working_height)
    return w, h
