"""Summarise a ``train --progress json`` log: the val curve and time to a pixel-accuracy threshold.

Usage:
    python benchmarks/training_curve.py runs/lite0.log [--threshold 0.85] [--every 5]

Prints a Markdown table (epoch, elapsed, loss, val pixel accuracy, val mIoU) and the first
epoch whose val pixel accuracy reaches the threshold, with the trainer's own elapsed time.
"""

from __future__ import annotations

import argparse
import json
import sys


def read_epochs(path: str) -> list[dict]:
    epochs = []
    with open(path) as f:
        for line in f:
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("event") == "epoch" and event.get("val"):
                    epochs.append(event)
    return epochs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log")
    parser.add_argument("--threshold", type=float, default=0.85)
    parser.add_argument("--every", type=int, default=5, help="print every Nth epoch (first, best and last always)")
    args = parser.parse_args()
    epochs = read_epochs(args.log)
    if not epochs:
        print(f"{args.log}: no epoch lines", file=sys.stderr)
        return 2
    best = max(epochs, key=lambda e: e["val"]["mean_iou"])
    print("| epoch | elapsed | train loss | val pixel acc | val mIoU |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for e in epochs:
        if e["epoch"] in (1, epochs[-1]["epoch"], best["epoch"]) or e["epoch"] % args.every == 0:
            mark = " (best)" if e is best else ""
            print(f"| {e['epoch']}{mark} | {e['elapsed'] / 60:.1f} min | {e['loss']:.3f} | {e['val']['pixel_accuracy'] * 100:.2f}% | {e['val']['mean_iou'] * 100:.2f}% |")
    hit = next((e for e in epochs if e["val"]["pixel_accuracy"] >= args.threshold), None)
    print()
    if hit:
        print(f"val pixel accuracy >= {args.threshold:.0%}: epoch {hit['epoch']}, {hit['elapsed']:.0f} s into training")
    else:
        print(f"val pixel accuracy never reached {args.threshold:.0%}")
    print(f"best: epoch {best['epoch']}, mIoU {best['val']['mean_iou'] * 100:.2f}%, pixel acc {best['val']['pixel_accuracy'] * 100:.2f}%, {best['elapsed']:.0f} s")
    print(f"last: epoch {epochs[-1]['epoch']}, {epochs[-1]['elapsed']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
