"""Edit mode's cost per stroke on a 960x540 frame: the label tools plus the overlay's repaint.

One real CamVid val frame and its labels, resized to 960x540, in the edit layer over the real
canvas (offscreen, 1000x580 widget), as the window's edit mode drives them: each figure is the
median over its repeats of the tool's work on the label map, the recolouring of the box it
changed and the repaint of that rectangle only (the update is processed at once, so its
painting is counted); a full repaint of the layer is timed for comparison. The superpixels'
first computation is timed alone (the window does it off the GUI thread, once per frame).

Usage:
    QT_QPA_PLATFORM=offscreen python benchmarks/bench_edit.py
    QT_QPA_PLATFORM=offscreen python benchmarks/bench_edit.py --repeats 50 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from PyQt6.QtWidgets import QApplication

    from camvid_viewer.editing import LabelEdit
    from camvid_viewer.editing.superpixels import superpixels
    from camvid_viewer.ui.canvas import FrameCanvas
    from camvid_viewer.ui.edit_layer import EditLayer
    from model.classes import CAMVID
    from model.data import default_camvid_root, read_image, read_label

    root = default_camvid_root()
    if root is None:
        print("bench_edit: real CamVid not found (set CAMVID_ROOT)", file=sys.stderr)
        return 2
    image = sorted((root / "val").glob("*.png"))[0]
    frame = cv2.resize(read_image(image), (960, 540))
    labels = cv2.resize(read_label(root / "valannot" / image.name), (960, 540), interpolation=cv2.INTER_NEAREST)
    app = QApplication([sys.argv[0]])
    canvas = FrameCanvas()
    canvas.resize(1000, 580)
    canvas.set_image(frame)
    canvas.show()
    layer = EditLayer(canvas)
    layer.show()
    edit = LabelEdit(labels, frame=frame, void_index=CAMVID.void_index)
    layer.set_labels(edit.labels, palette_bgr=CAMVID.palette_bgr)
    app.processEvents()

    def shown(boxes) -> None:
        layer.show_boxes(boxes)  # recolours the boxes and asks Qt to repaint their rectangles
        app.processEvents()

    points = iter([(100 + 3 * i, 200 + i % 7) for i in range(args.repeats + 1)] * 2)
    last = [next(points)]

    def segment() -> None:
        point = next(points)
        shown(edit.brush(last[0], point, radius=15, value=8))
        last[0] = point

    flip = iter(range(10**6))
    results = {
        "brush_segment_r15_ms": _median_ms(segment, args.repeats),
        "superpixels_first_ms": _median_ms(lambda: superpixels(frame), 3),
    }
    edit.set_superpixels(superpixels(frame))
    results["superpixel_fill_ms"] = _median_ms(lambda: shown(edit.fill((300, 100), value=next(flip) % 2, by="superpixel")), args.repeats)
    results["class_region_fill_ms"] = _median_ms(lambda: shown(edit.fill((480, 500), value=3 + next(flip) % 2, by="class-region")), args.repeats)
    results["polygon_ms"] = _median_ms(lambda: shown(edit.polygon([(500, 100), (800, 120), (700, 400)], value=next(flip) % 2)), args.repeats)
    results["undo_ms"] = _median_ms(lambda: shown(edit.undo()), args.repeats)
    results["full_repaint_ms"] = _median_ms(layer.repaint, args.repeats)
    results["history_mb"] = edit.history.nbytes / 1e6
    if args.json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key:24s} {value:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
