"""Viewer throughput: the real window, offscreen, against the bare model on the same frames.

Two sources, built from real CamVid frames in a temporary folder:

    labelled   a folder of N frames in SegNet layout (``frames/`` + ``framesannot/``), so the
               metrics dock scores every frame; the metrics dock and the timeline dock are open
    video      an MP4 (mp4v) of the same frames resized to 960x540, no annotations

For each, the window plays "every frame, as fast as the model goes" from frame 0 to the end
(``window fps`` = frames shown / wall time, every frame checked shown once, in order), and the
window's own Segmenter runs ``segment()`` on the same frames already in memory (``model fps``,
the bare model, one frame at a time) and ``segment_stream`` on them (``model on lanes``: every
lane busy, as export and now the window's playback run it; the fair ceiling). Runs alternate (window, model, window, model, ...) so background load hits
both alike; medians are reported, the ratio is the median of each pair's ratio. Then a
real-time run at 1x counts the frames the window dropped (the folder is played at 30 fps, the
video at its own 25 fps).

``--pipeline`` also times the window's inference pipeline alone (decode thread, playback thread,
scoring; results acknowledged at once, nothing drawn): what the window could reach if drawing
cost nothing. ``GUI thread`` is the main thread's CPU time per frame shown (``time.thread_time``).

Usage:
    python benchmarks/bench_viewer.py
    python benchmarks/bench_viewer.py --pipeline
    python benchmarks/bench_viewer.py --frames 233 --repeats 3 --json
    python benchmarks/bench_viewer.py --case labelled --profile gui.prof   # cProfile of the GUI thread
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from model.data import default_camvid_root  # noqa: E402

CASES = {"labelled": dict(size=None, fps=30.0), "video": dict(size=(960, 540), fps=25.0)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=233, help="frames per source (default 233)")
    p.add_argument("--repeats", type=int, default=2, help="alternating window/model runs (median reported)")
    p.add_argument("--case", choices=(*CASES, "all"), default="all")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    p.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto")
    p.add_argument("--pipeline", action="store_true",
                   help="also time the window's inference pipeline alone (no window, nothing drawn): the ceiling")
    p.add_argument("--no-realtime", action="store_true", help="skip the real-time dropped-frames run")
    p.add_argument("--panels-closed", action="store_true",
                   help="also play each run with the metrics and timeline docks closed: their cost as a ratio")
    p.add_argument("--profile", metavar="FILE", help="write a cProfile of the GUI thread over the window runs")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def camvid_images(count: int) -> list[tuple[Path, Path]]:
    """(image, annotation) pairs: val first, then train, in name order."""
    root = default_camvid_root()
    if root is None:
        sys.exit("real CamVid not found: set CAMVID_ROOT or put it at ../shared/camvid")
    pairs = [(p, root / f"{split}annot" / p.name) for split in ("val", "train") for p in sorted((root / split).glob("*.png"))]
    if len(pairs) < count:
        sys.exit(f"only {len(pairs)} CamVid frames found, {count} asked for")
    return pairs[:count]


def make_folder(tmp: Path, pairs) -> Path:
    """Symlinks in SegNet layout, renamed so natural order is the order given."""
    images, annots = tmp / "frames", tmp / "framesannot"
    images.mkdir()
    annots.mkdir()
    for i, (image, annot) in enumerate(pairs):
        (images / f"f{i:04d}.png").symlink_to(image)
        (annots / f"f{i:04d}.png").symlink_to(annot)
    return images


def make_video(tmp: Path, pairs, size: tuple[int, int], fps: float) -> Path:
    path = tmp / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for image, _ in pairs:
        writer.write(cv2.resize(cv2.imread(str(image)), size, interpolation=cv2.INTER_AREA))
    writer.release()
    return path


def wait_until(app, condition, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit("bench_viewer: timed out waiting for the window")
        app.processEvents()
        time.sleep(0.005)


def build_window(app, args):
    from camvid_viewer.ui.main_window import MainWindow
    from camvid_viewer.ui.settings import ViewerSettings

    window = MainWindow(settings=ViewerSettings(organization="camvid-viewer-bench"), backend=args.backend,
                        precision=args.precision)
    window.resize(1280, 800)
    window.show()
    wait_until(app, lambda: window.session.model is not None)
    return window


def open_source(app, window, path: Path) -> None:
    window.open_path(str(path))
    wait_until(app, lambda: window.session.source is not None and window.session.result is not None
               and window.session.result.index == 0 and str(window.session.source.path) == str(path))
    show_panels(app, window, True)


def show_panels(app, window, visible: bool) -> None:
    """The metrics dock and the timeline dock open (the benchmark's case) or closed."""
    for dock in (window.metrics_dock, getattr(getattr(window, "analysis_dock", None), "timeline_dock", None)):
        if dock is not None:
            dock.setVisible(visible)
    app.processEvents()


def play(app, window, *, mode: str, speed, profiler=None) -> tuple[float, float, list[int]]:
    """Play from frame 0 to the end; (wall seconds, GUI-thread CPU seconds, indices shown in order)."""
    from PyQt6.QtCore import QEventLoop

    shown: list[int] = []
    record = lambda r: shown.append(r.index)  # noqa: E731
    window.session.events.result.connect(record)
    window.set_mode(mode)
    window.set_speed(speed)
    loop = QEventLoop()
    window.pipeline.finished.connect(loop.quit)
    if profiler:
        profiler.enable()
    start, cpu = time.perf_counter(), time.thread_time()
    window.play(start=0)
    loop.exec()
    wall, cpu = time.perf_counter() - start, time.thread_time() - cpu
    if profiler:
        profiler.disable()
    window.pipeline.finished.disconnect(loop.quit)
    window.session.events.result.disconnect(record)
    app.processEvents()
    return wall, cpu, shown


def decoded_frames(source) -> list[np.ndarray]:
    return [frame for _, frame in source.frames(start=0)]


def time_model(model, frames) -> float:
    t = time.perf_counter()
    for frame in frames:
        model.segment(frame)
    return len(frames) / (time.perf_counter() - t)


def time_model_lanes(model, frames) -> float:
    """The model at its best: every lane busy, two frames in flight each (``segment_stream``, as export)."""
    stream = getattr(model, "segment_stream", None)
    if stream is None:
        return time_model(model, frames)
    t = time.perf_counter()
    for _ in stream(enumerate(frames)):
        pass
    return len(frames) / (time.perf_counter() - t)


def time_pipeline(session) -> float:
    """The window's inference pipeline alone (decode, model, scoring; results taken, never drawn)."""
    from PyQt6.QtCore import QEventLoop

    from camvid_viewer.ui.pipeline import InferencePipeline

    pipeline, loop, taken = InferencePipeline(), QEventLoop(), []

    def take(result) -> None:
        taken.append(result.index)
        pipeline.acknowledge()

    pipeline.result.connect(take)
    pipeline.finished.connect(loop.quit)
    start = time.perf_counter()
    pipeline.play(source=session.source, start=0, model=session.model, truth=session.truth, generation=session.generation,
                  mode="every-frame", speed=None, loop=False)
    loop.exec()
    wall = time.perf_counter() - start
    pipeline.shutdown()
    return len(taken) / wall


def run_case(app, window, name: str, path: Path, args, profiler) -> dict:
    open_source(app, window, path)
    session = window.session
    count = session.frame_count
    frames = decoded_frames(session.source)
    time_model(session.model, frames[:5])  # warm-up
    window_fps, model_fps, ratios, gui_ms, pipeline_ratios, lanes_fps, lane_ratios = [], [], [], [], [], [], []
    closed_ratios, closed_gui_ms = [], []
    for _ in range(args.repeats):
        wall, cpu, shown = play(app, window, mode="every-frame", speed=None, profiler=profiler)
        if shown != list(range(count)):
            sys.exit(f"bench_viewer: {name}: {len(shown)} frames shown, not each of {count} once in order")
        window_fps.append(count / wall)
        gui_ms.append(1000 * cpu / count)
        model_fps.append(time_model(session.model, frames))
        ratios.append(window_fps[-1] / model_fps[-1])
        lanes_fps.append(time_model_lanes(session.model, frames))
        lane_ratios.append(window_fps[-1] / lanes_fps[-1])
        if args.pipeline:
            pipeline_ratios.append(time_pipeline(session) / model_fps[-1])  # as a share of the model run beside it
        if args.panels_closed:
            show_panels(app, window, False)
            closed_wall, closed_cpu, _ = play(app, window, mode="every-frame", speed=None)
            show_panels(app, window, True)
            closed_gui_ms.append(1000 * closed_cpu / count)
            closed_ratios.append((count / closed_wall) / window_fps[-1])  # closed / open, run one after the other
    row = {"case": name, "size": "{}x{}".format(*frames[0].shape[1::-1]), "frames": count,
           "labelled": session.truth is not None, "model": session.model.name,
           "runtime": f"{session.model.device} / {session.model.backend} / {session.model.precision}",
           "window_fps": round(statistics.median(window_fps), 1), "model_fps": round(statistics.median(model_fps), 1),
           "ratio": round(statistics.median(ratios), 3), "model_lanes_fps": round(statistics.median(lanes_fps), 1),
           "ratio_to_lanes": round(statistics.median(lane_ratios), 3), "gui_cpu_ms_per_frame": round(statistics.median(gui_ms), 2),
           "window_runs": [round(v, 1) for v in window_fps], "model_runs": [round(v, 1) for v in model_fps]}
    if pipeline_ratios:
        row["pipeline_ratio"] = round(statistics.median(pipeline_ratios), 3)
    if closed_ratios:
        row["panels_closed_over_open"] = round(statistics.median(closed_ratios), 3)
        row["panels_closed_runs"] = [round(v, 3) for v in closed_ratios]
        row["gui_cpu_ms_per_frame_closed"] = round(statistics.median(closed_gui_ms), 2)
    if session.truth is not None:
        row["running_miou"] = round(session.running_scores.mean_iou, 6)
    if not args.no_realtime:
        session.source.fps = CASES[name]["fps"]  # a folder's rate is the caller's choice (15 by default)
        _wall, _cpu, shown = play(app, window, mode="realtime", speed=1.0)
        row.update(realtime_fps=session.source.fps, realtime_shown=len(shown), realtime_dropped=session.dropped)
    return row


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        settings = tmp / "settings"
        settings.mkdir()
        os.environ["CAMVID_VIEWER_CONFIG_DIR"] = str(settings)
        from PyQt6.QtCore import QSettings, qInstallMessageHandler
        from PyQt6.QtWidgets import QApplication

        def quiet(_kind, _context, text):  # the offscreen plugin warns on every dock layout change
            if "propagateSizeHints" not in text:
                print(text, file=sys.stderr)

        qInstallMessageHandler(quiet)

        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings))
        app = QApplication.instance() or QApplication(sys.argv[:1])
        pairs = camvid_images(args.frames)
        paths = {"labelled": make_folder(tmp, pairs), "video": make_video(tmp, pairs, CASES["video"]["size"], CASES["video"]["fps"])}
        window = build_window(app, args)
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        rows = [run_case(app, window, name, paths[name], args, profiler) for name in CASES if args.case in (name, "all")]
        window.close()
        if profiler:
            profiler.dump_stats(args.profile)
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            pl = f"  pipeline alone {r['pipeline_ratio']:.2f} of the model" if "pipeline_ratio" in r else ""
            if "panels_closed_over_open" in r:
                pl += f"  panels closed {r['panels_closed_over_open']:.3f}x the fps with them open (GUI thread {r['gui_cpu_ms_per_frame_closed']} ms/frame)"
            rt = (f"  real time {r['realtime_fps']:g} fps: dropped {r['realtime_dropped']} of {r['frames']}"
                  if "realtime_dropped" in r else "")
            print(f"{r['case']:>8} {r['size']:>7} {r['frames']} frames ({r['runtime']}): window {r['window_fps']:5.1f} fps  "
                  f"model {r['model_fps']:5.1f} fps  ratio {r['ratio']:.2f}  "
                  f"model on lanes {r['model_lanes_fps']:5.1f} fps  ratio {r['ratio_to_lanes']:.2f}  GUI thread {r['gui_cpu_ms_per_frame']:.1f} ms/frame{pl}{rt}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
