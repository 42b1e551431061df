"""Effect of temporal smoothing on flicker and mIoU, on a labelled clip (default: the CamVid val clip).

Usage::

    python benchmarks/bench_temporal.py                                   # shipped model, ../shared/camvid/val
    python benchmarks/bench_temporal.py --model runs/lite0.safetensors --alpha 0.3 0.5 0.7
    python benchmarks/bench_temporal.py --images ../shared/camvid/val --json

Each configuration runs the model over every frame of the clip (no cache) and reports pooled
mIoU (one confusion matrix, as ``eval``), mean-of-frames mIoU, and flicker: the mean share of
pixels whose predicted label changes between consecutive frames, raw and after compensating
camera motion with optical flow, next to the truth's own change rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from camvid_viewer.analysis import mean_of_frames, pooled_scores
from camvid_viewer.analysis.evaluation import evaluate_source  # noqa: E402
from camvid_viewer.analysis.temporal import TemporalSmoother  # noqa: E402
from camvid_viewer.sources import open_source  # noqa: E402
from camvid_viewer.sources.truth import TruthIndex, find_annotations  # noqa: E402
from model.data import default_camvid_root  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = default_camvid_root()
    p.add_argument("--images", default=str(root / "val") if root else None, help="frame folder or video with truth")
    p.add_argument("--annotations", help="label folder (default: found beside the source)")
    p.add_argument("--model", help="checkpoint (default: the shipped model)")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    p.add_argument("--alpha", type=float, nargs="+", default=[0.5, 0.3], help="weights of the newest frame to try")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    return p.parse_args(argv)


def measure(source, truth, segmenter, label: str) -> dict:
    start = time.perf_counter()
    ev = evaluate_source(source, truth, segmenter, use_cache=False)
    seconds = time.perf_counter() - start
    return {
        "config": label,
        "frames": len(ev),
        "pooled_miou": pooled_scores(ev).mean_iou,
        "mean_of_frames_miou": mean_of_frames(ev).mean_iou,
        "flicker": ev.flicker_total(),
        "flicker_motion_compensated": ev.flicker_total(compensated=True),
        "truth_change": ev.truth_change_total(),
        "truth_change_motion_compensated": ev.truth_change_total(compensated=True),
        "ms_per_frame": 1000 * seconds / max(1, len(ev)),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.images:
        print("bench_temporal: no CamVid found; pass --images", file=sys.stderr)
        return 2
    from model.inference import Segmenter

    model = Segmenter(args.model, backend=args.backend, device="cpu")
    source = open_source(args.images)
    annotations = args.annotations or find_annotations(source)
    if annotations is None:
        print(f"bench_temporal: {args.images}: no annotation folder found; pass --annotations", file=sys.stderr)
        return 2
    truth = TruthIndex.for_source(source, annotations)
    rows = [measure(source, truth, model, "no smoothing")]
    for alpha in args.alpha:
        for flow in (False, True):
            smoother = TemporalSmoother(model, alpha=alpha, flow=flow)
            rows.append(measure(source, truth, smoother, f"alpha {alpha:g}{' + flow' if flow else ''}"))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"model {model.name} ({model.backend}), {args.images}: {rows[0]['frames']} frames")
    print(f"truth's own change rate: {rows[0]['truth_change']:.2%} raw, {rows[0]['truth_change_motion_compensated']:.2%} motion-compensated")
    print(f"{'config':<20} {'pooled mIoU':>11} {'mean-frame mIoU':>15} {'flicker':>8} {'flicker (flow)':>14} {'ms/frame':>9}")
    for r in rows:
        print(f"{r['config']:<20} {r['pooled_miou']:>11.4f} {r['mean_of_frames_miou']:>15.4f} {r['flicker']:>8.2%} "
              f"{r['flicker_motion_compensated']:>14.2%} {r['ms_per_frame']:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
