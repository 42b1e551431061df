"""What the window pays per frame that the bare model does not: the budget behind "window / model".

The bare model of ``main.py bench`` and ``bench_viewer.py`` segments frames already in memory.
The window must also decode each frame (and, in a labelled folder, its annotation), score it,
compute its signals and paint it, on the same cores the model's threads use. This times each of
those steps alone, one thread, on real CamVid frames, beside the model itself, and prints the
ceiling they leave: ``model_ms / (model_ms + extra_ms)`` if none of the extra work overlapped
the model (on a machine with spare cores it can; on two cores busy with the model, it cannot).

Usage:
    python benchmarks/bench_frame_costs.py [--frames 40] [--precision auto|fp32|int8] [--json]
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

from model.data import default_camvid_root, read_label  # noqa: E402


def median_ms(step, items) -> float:
    times = []
    for item in items:
        start = time.perf_counter()
        step(item)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    root = default_camvid_root()
    if root is None:
        sys.exit("bench_frame_costs: real CamVid not found (set CAMVID_ROOT)")
    from camvid_viewer.rendering import render_view
    from camvid_viewer.sources import open_source
    from model.classes import CAMVID
    from model.inference import Segmenter
    from model.metrics import ConfusionMatrix
    from model.signals import frame_signals

    images = sorted((root / "val").glob("*.png"))[: args.frames]
    labels = [root / "valannot" / p.name for p in images]
    frames = [cv2.imread(str(p)) for p in images]
    truth = [read_label(p) for p in labels]
    model = Segmenter(backend="onnx", precision=args.precision)
    model.segment(frames[0])  # the graph is built and warm
    predictions = [model.segment(f, confidence=True) for f in frames]
    cm = ConfusionMatrix(CAMVID.count, ignore_index=CAMVID.void_index)
    pairs = list(zip(predictions, truth, strict=True))
    rows = {}
    rows["model (labels)"] = median_ms(model.segment, frames)
    rows["model (labels + confidence)"] = median_ms(lambda f: model.segment(f, confidence=True), frames)
    rows["decode frame PNG"] = median_ms(lambda p: cv2.imread(str(p)), images)
    rows["decode annotation PNG"] = median_ms(read_label, labels)
    rows["confusion matrix of the frame"] = median_ms(lambda pt: cm.matrix_of(pt[0].labels, pt[1]), pairs)
    rows["signals (shares, confidence, flicker)"] = median_ms(
        lambda i: frame_signals(predictions[i].labels, predictions[i].confidence, CAMVID.count,
                                previous=predictions[i - 1].labels), range(1, len(frames)))
    rows["overlay blend"] = median_ms(
        lambda i: render_view("overlay", frames[i], predictions[i].labels, None, palette_bgr=CAMVID.palette_bgr,
                              opacity=0.5, class_names=CAMVID.names, void_index=CAMVID.void_index), range(len(frames)))
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (960, 540))
        for f in frames:
            writer.write(cv2.resize(f, (960, 540)))
        writer.release()
        with open_source(clip) as source:
            start, count = time.perf_counter(), sum(1 for _ in source.frames(0, source.frame_count))
            rows["decode 960x540 MP4 frame (mean)"] = 1000 * (time.perf_counter() - start) / count
    model_ms = rows["model (labels + confidence)"]
    labelled_extra = sum(rows[k] for k in ("decode frame PNG", "decode annotation PNG", "confusion matrix of the frame",
                                           "signals (shares, confidence, flicker)", "overlay blend"))
    result = {"runtime": f"{model.device} / {model.backend} / {model.precision}", "frames": len(frames),
              "steps_ms": {k: round(v, 2) for k, v in rows.items()},
              "labelled_extra_ms": round(labelled_extra, 2),
              "labelled_ceiling": round(model_ms / (model_ms + labelled_extra), 3)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['runtime']}, {len(frames)} val frames at 480x360, median ms per frame, one thread:")
        for name, value in rows.items():
            print(f"  {name:<40} {value:7.2f}")
        print(f"labelled folder: {labelled_extra:.1f} ms of extra work per frame besides the model's {model_ms:.1f} ms; "
              f"ceiling without overlap {result['labelled_ceiling']:.2f} of the model")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
