"""The ``export`` command: overlay videos (H.264 MP4), label masks and per-frame metrics.

Usage:
    python main.py export drive.mp4 -o drive-overlay.mp4
    python main.py export ../shared/camvid/val -o val.mp4 --metrics-csv val.csv --masks val-masks/
    python main.py export a.mp4 b.mp4 frames/ -o exports/ --view side-by-side --quality high
    python main.py export clip.mp4 -o clip.mp4 --range 100:400 --no-legend --overwrite
    python main.py export ../shared/camvid/val -o a-vs-b.mp4 --model runs/new.safetensors --compare runs/old.safetensors

A frame folder becomes a video at ``--fps`` (default 15); a video keeps its frame count, size,
frame rate and audio. Truth is read from ``--annotations DIR`` or found beside the input
(``val`` -> ``valannot``). Bad arguments or files: one line, exit status 2.
"""

from __future__ import annotations

__all__ = ["add_export_command", "cmd_export"]

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

from camvid_viewer.analysis.temporal import TemporalSmoother
from camvid_viewer.export import (
    EXPORT_VIEWS,
    ON_BAD_FRAME,
    QUALITY,
    ExportError,
    ExportOptions,
    check_export,
    export_video,
    output_plan,
    parse_range,
)
from camvid_viewer.sources import MediaError, VideoSource, open_source
from model.cli import float_argument
from model.external_model import add_card_arguments
from model.test_time import add_mode_argument

_OPACITY = float_argument(minimum=0, maximum=1, expected="a number from 0 to 1")
_FPS = float_argument(minimum=0, maximum=1000, above=True, expected="frames per second in (0, 1000]")


def _range(text: str) -> tuple[int, int | None]:
    try:
        return parse_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--range ", "")) from None


def add_export_command(sub: argparse._SubParsersAction) -> None:
    """Register ``export`` on a subparsers object."""
    e = sub.add_parser(
        "export",
        help="write overlay videos (H.264 MP4), masks and per-frame metrics",
        description="Export what the model sees as H.264 MP4 videos that play in browsers and on phones.",
    )
    e.add_argument("inputs", nargs="+", metavar="INPUT", help="video file or frame folder (several: OUT is a folder)")
    e.add_argument("-o", "--out", required=True, metavar="OUT", help="output .mp4 (or folder for several inputs)")
    e.add_argument("--annotations", metavar="DIR", type=Path, help="truth label PNGs (default: a '<name>annot' folder beside the input)")
    e.add_argument("--model", metavar="FILE", help="checkpoint (default: the shipped model)")
    e.add_argument("--compare", metavar="B", help="a second model: each frame becomes A | B, both run on the same decoded "
                                                  "frame, each side named and drawn in the view")
    e.add_argument("--view", choices=EXPORT_VIEWS, default="overlay", help="overlay (default), side-by-side (frame | prediction | truth), mask, error")
    e.add_argument("--opacity", type=_OPACITY, default=0.5, metavar="A", help="class colour opacity 0..1 (default 0.5)")
    e.add_argument("--legend", action=argparse.BooleanOptionalAction, default=True, help="burn in the class legend (default on)")
    e.add_argument("--range", type=_range, metavar="START:END", help="frames START (inclusive) to END (exclusive)")
    e.add_argument("--metrics-csv", type=Path, metavar="FILE", help="per frame: IoU/Dice per class where annotated (totals = eval, last row), "
                   "and the model's own signals: mean confidence, low-confidence share, flicker, class shares")
    e.add_argument("--masks", type=Path, metavar="DIR", help="label PNGs per frame, named by frame (readable by eval --predictions)")
    e.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    e.add_argument("--fps", type=_FPS, metavar="F", help="frame rate of a frame-folder input (default 15)")
    e.add_argument("--quality", choices=tuple(QUALITY), default="standard",
                   help="standard (default), draft (smaller, softer) or high (sharper, x264 medium: ~10x slower to encode)")
    e.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    e.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    e.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                   help="auto: int8 on the CPU when the model's int8 check passed, else fp32 (fp16 on CUDA)")
    e.add_argument("--on-bad-frame", choices=ON_BAD_FRAME, default="stop",
                   help="an unreadable frame: stop with an error (default) or repeat the previous frame")
    e.add_argument("--temporal-smoothing", action="store_true", help="average class probabilities over consecutive frames")
    add_card_arguments(e)  # an ONNX --model's card; a mapping scores (CSV, masks) in CamVid's classes
    add_mode_argument(e)
    e.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from model.cli import UserError

    try:
        plan = output_plan(args.inputs, args.out, metrics_csv=args.metrics_csv, masks_dir=args.masks)
        _check_inputs(args)
        _check_compare(args, plan)
        jobs = [(source, video, _options(args, csv_path, masks)) for source, video, csv_path, masks in plan]
        for source, video, options in jobs:
            check_export(source, video, options)  # every input, before loading the model (seconds)
        segmenter = None
        for source, video, options in jobs:
            if segmenter is None:
                segmenter = _segmenter(args)
            elif args.temporal_smoothing:
                segmenter.reset()  # a new source: the running average starts again
            with _progress_bar(Path(source).name) as progress:
                result = export_video(source, video, segmenter=segmenter, options=options, progress=progress)
            print(result.summary(), file=sys.stderr)
    except (ExportError, MediaError) as exc:
        raise UserError(str(exc)) from None
    return 0


def _options(args, metrics_csv: Path | None, masks_dir: Path | None) -> ExportOptions:
    return ExportOptions(
        view=args.view, opacity=args.opacity, legend=args.legend,
        start=args.range[0] if args.range else 0, stop=args.range[1] if args.range else None,
        fps=args.fps or 15.0, quality=args.quality, annotations=args.annotations, metrics_csv=metrics_csv,
        masks_dir=masks_dir, overwrite=args.overwrite, on_bad_frame=args.on_bad_frame,
    )


def _check_inputs(args) -> None:
    """Open every input once so a bad one fails before the model loads."""
    for path in args.inputs:
        with open_source(path, fps=args.fps or 15.0) as source:
            if source.is_live:
                raise ExportError(f"{path}: live streams cannot be exported; record them to a file first")
            if args.fps and isinstance(source, VideoSource):
                raise ExportError(f"{path}: --fps is for frame folders; a video keeps its own frame rate")


def _segmenter(args):
    from model.inference import Segmenter, note_precision

    segmenter = Segmenter(args.model, backend=args.backend, device=args.device, precision=args.precision,
                          card=args.card, mapping=args.mapping, mode=args.mode)
    note_precision(segmenter)
    if args.temporal_smoothing:
        segmenter = TemporalSmoother(segmenter)
    if args.compare is not None:
        from model.pair import SegmenterPair

        second = Segmenter(args.compare, backend=args.backend, device=args.device, precision=args.precision,
                           mode=args.mode)
        note_precision(second)
        segmenter = SegmenterPair(segmenter, second)
    return segmenter


def _check_compare(args, plan) -> None:
    """``--compare B``: a model file that no output touches, and not with the smoother (its running
    average is one model's)."""
    if args.compare is None:
        return
    from model.outputs import OutputError, check_outputs

    if args.temporal_smoothing:
        raise ExportError("--compare and --temporal-smoothing cannot be used together (the smoothing follows one model)")
    if not Path(args.compare).is_file():
        raise ExportError(f"{args.compare}: no such model file (--compare)")
    try:
        for _source, video, csv_path, masks in plan:
            check_outputs(inputs={"--compare": args.compare}, outputs={"-o": video, "--metrics-csv": csv_path, "--masks": masks})
    except OutputError as exc:
        raise ExportError(str(exc)) from None


@contextmanager
def _progress_bar(name: str):
    """A tqdm bar on stderr (frames, fps, ETA), fed by the exporter's progress callback."""
    from tqdm import tqdm

    bar = None

    def progress(done: int, total: int, fps: float) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=f"export {name}", unit="frame", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()
