"""x264 settings for exported overlays: CPU per frame, file size and quality, side by side.

Beside a CPU model both cores are busy, so every encoder millisecond is taken from the model;
this is the measurement behind ``camvid_viewer.export.QUALITY``. It encodes the real val clip
drawn as overlays (the truth as labels, legend on: what an export writes) with one x264 thread,
as the export does beside a CPU model, and decodes it back for PSNR against the drawn frames.

Usage:
    python benchmarks/bench_encoder.py
    python benchmarks/bench_encoder.py --size 960x540 --repeats 5 --json
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from camvid_viewer.export import QUALITY  # noqa: E402
from camvid_viewer.export.video_writer import VideoWriter  # noqa: E402
from camvid_viewer.rendering import render_view  # noqa: E402
from model.classes import CAMVID  # noqa: E402
from model.data import default_camvid_root  # noqa: E402

#: what the export used before (superfast) and denser presets, for comparison
REFERENCES = {"superfast/23": ("superfast", 23, ""), "veryfast/23": ("veryfast", 23, "")}


def overlays(size: tuple[int, int]) -> list[np.ndarray]:
    root = default_camvid_root()
    if root is None:
        sys.exit("real CamVid not found: set CAMVID_ROOT or put it at ../shared/camvid")
    images, labels = sorted((root / "val").glob("*.png")), sorted((root / "valannot").glob("*.png"))
    frames = []
    for image, label in zip(images, labels, strict=True):
        frame = cv2.resize(cv2.imread(str(image)), size, interpolation=cv2.INTER_AREA)
        truth = cv2.resize(cv2.imread(str(label), cv2.IMREAD_GRAYSCALE), size, interpolation=cv2.INTER_NEAREST)
        frames.append(render_view("overlay", frame, truth, None, palette_bgr=CAMVID.palette_bgr, class_names=CAMVID.names,
                                  void_index=CAMVID.void_index))
    return frames


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(frames: list[np.ndarray], setting: tuple[str, int, str], out: Path, repeats: int) -> dict:
    preset, crf, params = setting
    costs = []
    for _ in range(repeats):
        start = cpu_seconds()
        with VideoWriter(out, fps=15, preset=preset, crf=crf, x264_params=params, threads=1, overwrite=True) as writer:
            for frame in frames:
                writer.write(frame)
        costs.append(cpu_seconds() - start)
    import av

    with av.open(str(out)) as container:
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    return {
        "cpu_ms_per_frame": round(1000 * statistics.median(costs) / len(frames), 2),
        "kib_per_frame": round(out.stat().st_size / len(frames) / 1024, 1),
        "psnr_db": round(float(np.mean([cv2.PSNR(a, b) for a, b in zip(frames, decoded, strict=True)])), 2),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="480x360", help="WxH of the frames")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    frames = overlays(size)
    settings = {f"--quality {name}": setting for name, setting in QUALITY.items()} | REFERENCES
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: measure(frames, s, Path(tmp) / "out.mp4", args.repeats) | {"x264": f"{s[0]}/{s[1]} {s[2]}".strip()}
                   for name, s in settings.items()}
    if args.json:
        print(json.dumps({"size": args.size, "frames": len(frames), "results": results}))
        return 0
    print(f"{args.size}, {len(frames)} val overlays, one x264 thread")
    for name, r in results.items():
        print(f"  {name:18s} {r['x264']:28s} {r['cpu_ms_per_frame']:6.2f} ms/frame  {r['kib_per_frame']:6.1f} KiB/frame  {r['psnr_db']:.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
