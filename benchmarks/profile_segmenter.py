"""Where a Segmenter frame's time goes: preprocess, backend run, label extraction.

Usage:
    python benchmarks/profile_segmenter.py [--model FILE] [--backend onnx] [--size 480x360] [--frames 30]

Prints the median milliseconds of each stage over real CamVid val frames.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.data import default_camvid_root, list_images  # noqa: E402
from model.inference import Segmenter  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--size", default="480x360")
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    root = default_camvid_root()
    frames = [cv2.resize(cv2.imread(str(p)), (w, h)) for p in list_images(root / "val")[: args.frames]]
    seg = Segmenter(args.model, backend=args.backend, device="cpu")
    seg.segment(frames[0])
    stages = {"preprocess": [], "run": [], "labels": [], "total": []}
    for frame in frames:
        t0 = time.perf_counter()
        blob = seg._preprocess(frame)[None]
        t1 = time.perf_counter()
        out = seg._runner.run(blob, labels_only=True)
        t2 = time.perf_counter()
        seg._postprocess(out[0], frame.shape[:2], False)
        t3 = time.perf_counter()
        stages["preprocess"].append(t1 - t0)
        stages["run"].append(t2 - t1)
        stages["labels"].append(t3 - t2)
        stages["total"].append(t3 - t0)
    for name, values in stages.items():
        print(f"{name:>10}: {statistics.median(values) * 1000:7.2f} ms")
    print(f"{'fps':>10}: {1 / statistics.median(stages['total']):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
