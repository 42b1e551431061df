"""The ``batch`` command: ``export``, ``predict`` or ``eval`` over many sources, locally or on a Ray cluster.

Usage:
    python main.py batch export drives/ extra/*.mp4 -o out/ --masks
    python main.py batch predict sources.txt -o out/pred --workers 2
    python main.py batch eval ../shared/camvid/val ../shared/camvid/train -o out/eval
    ray start --head                                   # once, on one machine; then on the others:
    ray start --address HEAD:6379
    python main.py batch export /shared/videos -o out/ --cluster HEAD:6379 --gpus-per-worker 0.5

INPUT: video files, frame folders, folders of them, glob patterns, or .txt/.list files that
list them. Each worker (a Ray actor) loads the model once and runs one source at a time with
the threads (or GPU share) it was given. Outputs, ``summary.json`` and ``summary.csv`` land in
OUT_DIR on this machine; a re-run skips complete sources (``--overwrite`` redoes them). A bad
source is one line in the summary and the rest goes on; exit status 1 when any source failed.
"""

from __future__ import annotations

__all__ = ["add_batch_command"]

import argparse
from pathlib import Path

from camvid_viewer.commands.export import _FPS, _OPACITY, _range
from camvid_viewer.commands.predict import ON_BAD_FRAME as PREDICT_ON_BAD_FRAME
from camvid_viewer.export import EXPORT_VIEWS, ON_BAD_FRAME, QUALITY
from model.cli import float_argument
from model.external_model import add_card_arguments, travelling_card

_SHARE = float_argument(minimum=0, maximum=1024, expected="a number >= 0")
_CPUS = float_argument(minimum=0, maximum=1024, above=True, expected="a number > 0")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def add_batch_command(sub: argparse._SubParsersAction) -> None:
    """Register ``batch export|predict|eval`` on a subparsers object."""
    b = sub.add_parser("batch", help="export, predict or eval many videos, on this machine or a Ray cluster",
                       description="Run export, predict or eval over many sources on Ray workers (one model each).")
    kinds = b.add_subparsers(dest="batch_command", required=True, parser_class=type(b))
    export = kinds.add_parser("export", help="overlay videos (<name>.mp4) per source")
    _common(export)
    export.add_argument("--view", choices=EXPORT_VIEWS, default="overlay")
    export.add_argument("--opacity", type=_OPACITY, default=0.5, metavar="A")
    export.add_argument("--legend", action=argparse.BooleanOptionalAction, default=True)
    export.add_argument("--range", type=_range, metavar="START:END", help="the same frames of every source")
    export.add_argument("--fps", type=_FPS, metavar="F", help="frame rate of frame-folder sources (default 15)")
    export.add_argument("--quality", choices=tuple(QUALITY), default="standard")
    export.add_argument("--on-bad-frame", choices=ON_BAD_FRAME, default="stop")
    export.add_argument("--metrics-csv", action="store_true", help="also <name>.csv: scores per frame where there are annotations, and the model's own "
                        "signals (confidence, flicker, class shares), which the summary pools")
    export.add_argument("--masks", action="store_true", help="also <name>-masks/ (label PNGs per frame)")
    export.add_argument("--temporal-smoothing", action="store_true")
    predict = kinds.add_parser("predict", help="label and colour PNGs (<name>/labels, <name>/colour) per source")
    _common(predict)
    predict.add_argument("--on-bad-frame", choices=PREDICT_ON_BAD_FRAME, default="stop")
    evaluate = kinds.add_parser("eval", help="scores (<name>.json) per frame folder with annotations, and pooled; "
                                             "for sources without: the model's own signals")
    _common(evaluate)
    for parser in (export, predict, evaluate):
        parser.set_defaults(func=cmd_batch)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="videos, frame folders, folders of them, globs, list files")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUT_DIR", help="outputs and summary.json/csv")
    p.add_argument("--cluster", metavar="local|ADDRESS", help="local (default): Ray on this machine only; "
                   "ADDRESS: join a cluster started with `ray start --head` (inputs on storage every node reads)")
    p.add_argument("--workers", type=_positive_int, metavar="N", help="workers (default: CPUs / --cpus-per-worker, "
                   "or GPUs / --gpus-per-worker)")
    p.add_argument("--cpus-per-worker", type=_CPUS, default=1, metavar="N", help="inference threads per worker (default 1)")
    p.add_argument("--gpus-per-worker", type=_SHARE, default=0, metavar="X", help="GPU share per worker, e.g. 0.5 (default 0)")
    p.add_argument("--model", metavar="FILE", help="checkpoint (default: the shipped model)")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto")
    p.add_argument("--overwrite", action="store_true", help="redo sources whose outputs are complete")
    add_card_arguments(p)


def cmd_batch(args) -> int:
    from camvid_viewer.batch import BatchSettings, SegmenterSpec, expand_inputs, run_batch
    from model.cli import UserError
    from model.inference import default_model_path

    model = Path(args.model) if args.model else Path(default_model_path())
    if not model.is_file():
        raise UserError(f"{model}: no such model file")
    if args.gpus_per_worker > 0 and args.device == "cpu":
        raise UserError("--gpus-per-worker with --device cpu: the workers would hold GPUs they do not use")
    sources = expand_inputs(args.inputs)
    spec = SegmenterSpec(model_name=model.name, backend=args.backend, device=args.device, precision=args.precision,
                         **travelling_card(model, args.card, args.mapping))
    settings = BatchSettings(out_dir=args.out, model=model, spec=spec, cluster=args.cluster, workers=args.workers,
                             cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                             overwrite=args.overwrite)
    return run_batch(args.batch_command, sources, _job(args), settings)


def _job(args):
    from camvid_viewer.commands.batch_jobs import EvalJob, ExportJob, PredictJob

    if args.batch_command == "predict":
        return PredictJob(on_bad_frame=args.on_bad_frame)
    if args.batch_command == "eval":
        return EvalJob()
    start, stop = args.range if args.range else (0, None)
    return ExportJob(view=args.view, opacity=args.opacity, legend=args.legend, start=start, stop=stop,
                     fps=args.fps or 15.0, quality=args.quality, on_bad_frame=args.on_bad_frame,
                     metrics_csv=args.metrics_csv, masks=args.masks, temporal_smoothing=args.temporal_smoothing)
