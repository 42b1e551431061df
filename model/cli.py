"""Headless model commands: train and eval (predict, bench and export live in camvid_viewer,
which owns decoding and rendering).

Usage:
    python main.py train --data ../shared/camvid --epochs 40 --out runs/lite0.safetensors
    python main.py eval --images ../shared/camvid/val --annotations ../shared/camvid/valannot --json

Each command exits non-zero with one clear line on bad arguments or bad files.
"""

from __future__ import annotations

__all__ = ["add_model_commands", "UserError", "float_argument", "int_argument", "parse_size"]

import argparse
import json
import os
import sys
from pathlib import Path

from model.outputs import OutputLock, real_path


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w <= 0 or h <= 0 or w > 16384 or h > 16384:
        raise argparse.ArgumentTypeError(f"size out of range: {text!r}")
    return w, h


def _crop(text: str) -> tuple[int, int]:
    """``HxW`` -> (height, width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, got {text!r}") from None
    if not (16 <= h <= 4096 and 16 <= w <= 4096):
        raise argparse.ArgumentTypeError(f"crop out of range (16..4096 each): {text!r}")
    return h, w


def int_argument(*, minimum: int = 1, maximum: int):
    """An argparse ``type``: a whole number from ``minimum`` to ``maximum``, else one line
    (``expected a number > 0 and <= 40, got 0``)."""
    lower = "> 0" if minimum == 1 else f">= {minimum}"
    expected = f"a number {lower} and <= {maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


_positive_int = int_argument(maximum=10**9)


def float_argument(*, minimum: float = float("-inf"), maximum: float = float("inf"), above: bool = False,
                   expected: str | None = None):
    """An argparse ``type``: a finite number within the bounds, else one line saying what was expected.

    ``above=True`` excludes ``minimum`` itself (``> minimum``). ``expected`` words the bounds
    in the error (default: ``a number > minimum`` and the like).
    """
    if expected is None:
        lower = f"> {minimum:g}" if above else f">= {minimum:g}"
        expected = f"a number {lower}" if maximum == float("inf") else f"a number {lower} and <= {maximum:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        low_ok = value > minimum if above else value >= minimum
        if not (low_ok and value <= maximum) or value in (float("inf"), float("-inf")):  # NaN fails low_ok
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


def add_model_commands(sub: argparse._SubParsersAction) -> None:
    """Register train and eval on a subparsers object."""
    from model.checkpoint import WORKING_HEIGHTS
    from model.external_model import add_card_arguments
    from model.networks import BACKBONES
    from model.test_time import add_mode_argument

    t = sub.add_parser("train", help="train an FCN-8 model", description="Train an FCN-8 model on a CamVid-style dataset.")
    t.add_argument("--data", required=True, help="dataset root (SegNet or origin layout) or an images folder")
    t.add_argument("--annotations", help="annotation folder, when --data is a plain images folder")
    t.add_argument("--backbone", choices=BACKBONES, default="efficientnet-lite0")
    t.add_argument("--head", choices=("conv", "plain"), default="conv")
    t.add_argument("--head-width", type=int_argument(maximum=1024), default=96)
    t.add_argument("--no-pretrained", dest="pretrained", action="store_false", help="start the backbone from random weights")
    t.add_argument("--backbone-weights", help="torchvision-format VGG-16 weights for --backbone vgg16")
    t.add_argument("--epochs", type=int_argument(maximum=10_000), help="passes over the frames (default 40; with --init 2)")
    t.add_argument("--batch-size", type=int_argument(maximum=1024), default=8)
    t.add_argument("--lr", type=float_argument(minimum=0, maximum=1, above=True), help="peak learning rate (default 1e-3; with --init 3e-4)")
    t.add_argument("--weight-decay", type=float_argument(minimum=0, maximum=1), default=1e-4)
    t.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    t.add_argument("--schedule", choices=("cosine", "onecycle"), default="cosine")
    t.add_argument("--crop", type=_crop, default=(288, 384), metavar="HxW")
    t.add_argument("--no-augment", dest="augment", action="store_false")
    t.add_argument("--photometric", choices=("basic", "strong"),
                   help="strong (the default): colour jitter and gamma, white balance, hue, blur and noise; a drive "
                        "the model never saw scored +11.6 mIoU points with it (docs/BENCHMARKS.md); basic: colour "
                        "jitter only (the default with --init, as fine-tuning was measured)")
    t.add_argument("--class-weighting", choices=("none", "sqrt", "median"), default="sqrt")
    t.add_argument("--loss", choices=("ce", "ohem", "lovasz"), default="ce",  # model.losses.LOSSES, without importing torch
                   help="ce: cross-entropy; ohem: cross-entropy over the pixels still wrong; lovasz: cross-entropy "
                        "plus Lovasz-softmax, a per-class IoU surrogate (model/losses.py)")
    t.add_argument("--ema", type=float_argument(minimum=0, maximum=0.9999, above=True), metavar="DECAY",
                   help="keep an exponential moving average of the weights (e.g. 0.99, as measured): evaluated and saved "
                        "instead of the last step's weights; it restarts from the weights at a --resume")
    t.add_argument("--teacher", metavar="MODEL",
                   help="distil from MODEL (a larger network of the same classes, e.g. a Lite2 run): its softened "
                        "per-pixel predictions on each batch are a second target (model/losses.py)")
    t.add_argument("--distill-weight", type=float_argument(minimum=0, maximum=100, above=True), default=1.0, metavar="W",
                   help="weight of the distillation term beside the loss (default 1.0; with --teacher)")
    t.add_argument("--train-splits", default="train", help="comma-separated splits to train on (e.g. train,val)")
    t.add_argument("--val-split", help="split that selects the best epoch (default: val when the dataset has one; 'none' for none); "
                   "drive:NAME[,NAME] holds those drives' frames out of --train-splits and scores them each epoch, "
                   "the last epoch kept (a held-out drive never selects one)")
    t.add_argument("--working-height", type=int_argument(minimum=WORKING_HEIGHTS[0], maximum=WORKING_HEIGHTS[1]),
                   help="frame height used at inference (default 360; with --init the model's)")
    t.add_argument("--init", metavar="MODEL", help="fine-tune MODEL on the labelled frames of --data (a frame folder or "
                   "a video) and --annotations; part of them held out to score it before and after")
    t.add_argument("--replay", metavar="DIR", help="with --init: a CamVid root whose train frames are mixed in, so the "
                   "model does not forget them")
    t.add_argument("--holdout", type=float_argument(minimum=0, maximum=0.9), default=0.2,
                   help="with --init: share of the labelled frames held out to score (default 0.2, at least one frame; "
                        "0 for none)")
    t.add_argument("--seed", type=int_argument(minimum=0, maximum=2**32 - 1), default=0)  # numpy's seed range
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    t.add_argument("--workers", type=int_argument(minimum=0, maximum=64), default=0)
    t.add_argument("--out", default="runs/model.safetensors")
    t.add_argument("--resume", help="continue from a .last.safetensors checkpoint")
    t.add_argument("--overwrite", action="store_true", help="replace an existing --out checkpoint (and its .last)")
    t.add_argument("--no-int8", dest="int8", action="store_false",
                   help="skip the int8 calibration of the best checkpoint at the end (see: main.py quantize)")
    t.add_argument("--skip-bad", action="store_true", help="skip bad frames (counted) instead of stopping")
    t.add_argument("--max-steps-per-epoch", type=_positive_int, help=argparse.SUPPRESS)
    t.add_argument("--progress", choices=("text", "json"), default="text")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="score a model on frames with annotations (without: the model's own signals)")
    e.add_argument("--images", required=True, help="folder of frames")
    e.add_argument("--annotations", help="folder of label PNGs (or predicted masks) paired by file stem; without it, "
                                         "the model's own signals: confidence, flicker, class shares, frames worth a look")
    e.add_argument("--low-confidence", type=float_argument(minimum=0.0, maximum=1.0), default=0.5, metavar="P",
                   help="without annotations: pixels whose winning class is under P count as low confidence (0.5)")
    e.add_argument("--model", help="checkpoint (default: the shipped model)")
    e.add_argument("--predictions", help="score these label PNGs instead of running a model")
    e.add_argument("--compare", metavar="B", help="a second model: both scored on the same frames, with B - A and "
                                                  "the frames where they differ most (model/comparison.py)")
    e.add_argument("--include-void", action="store_true", help="score void pixels too")
    e.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    e.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                   help="auto: int8 on the CPU when the model's int8 check passed, else fp32 (fp16 on CUDA)")
    add_card_arguments(e)  # --card, --mapping: any ONNX model, scored in CamVid's classes
    add_mode_argument(e)
    e.set_defaults(func=cmd_eval)

    q = sub.add_parser("quantize", help="calibrate a model for the int8 CPU path and check it against fp32",
                       description="Calibrate MODEL for int8 on labelled frames of --data, check int8 against "
                                   "fp32 on other frames (a held-out drive when there are several), and write the "
                                   "model with the calibration and the check in its card.")
    q.add_argument("model", help="checkpoint to calibrate")
    q.add_argument("--data", required=True, help="dataset root with labelled frames (SegNet or the origin's layout)")
    where = q.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="write the calibrated model here")
    where.add_argument("--in-place", action="store_true", help="rewrite MODEL itself (atomically)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    q.set_defaults(func=cmd_quantize)




def cmd_train(args) -> int:
    """Check every input that can be checked without work (splits, output folder), then train."""
    train_splits, val_split = _splits(args)
    _check_writable(Path(args.out))
    _check_train_outputs(args)
    _finetune_defaults(args)
    from model.train import TrainConfig, main

    cfg = TrainConfig(
        data=args.data, annotations=args.annotations, out=args.out, backbone=args.backbone, head=args.head,
        head_width=args.head_width, pretrained=args.pretrained, backbone_weights=args.backbone_weights,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        optimizer=args.optimizer, schedule=args.schedule, crop=args.crop, augment=args.augment,
        class_weighting=args.class_weighting, loss=args.loss, ema=args.ema, teacher=args.teacher,
        distill_weight=args.distill_weight, train_splits=train_splits, val_split=val_split,
        working_height=args.working_height, seed=args.seed, device=args.device, workers=args.workers,
        resume=args.resume, skip_bad=args.skip_bad, max_steps_per_epoch=args.max_steps_per_epoch, progress=args.progress,
        int8=args.int8, command=_command_line(args), photometric=args.photometric, init=args.init, replay=args.replay, holdout=args.holdout,
        warmup_epochs=0.1 if args.init else 1.0,
    )
    if os.environ.get("RANK", "0") != "0":  # DDP: rank 0 writes the checkpoints and holds the lock
        main(cfg)
        return 0
    with OutputLock(cfg.out):
        main(cfg)
    return 0


def _finetune_defaults(args) -> None:
    """Without --init: the from-scratch defaults. With it: the parent's network and working height,
    a short run at a lower rate (a few minutes on a 2-core CPU)."""
    args.photometric = args.photometric or ("basic" if args.init else "strong")
    if not args.init:
        args.epochs, args.lr = args.epochs or 40, args.lr or 1e-3
        args.working_height = args.working_height or 360
        return
    from model.checkpoint import read_card

    card = read_card(args.init)
    arch = card.get("architecture") or {}
    args.backbone, args.head = arch.get("backbone", args.backbone), arch.get("head", args.head)
    args.head_width, args.pretrained = int(arch.get("head_width", args.head_width)), False
    args.working_height = args.working_height or int((card.get("input") or {}).get("working_height", 360))
    args.epochs, args.lr = args.epochs or 2, args.lr or 3e-4


def _command_line(args) -> str | None:
    """The command as given (``python main.py train ...``), for the model card."""
    import shlex

    argv = getattr(args, "argv", None)
    return shlex.join(["python", "main.py", *argv]) if argv else None


def _check_train_outputs(args) -> None:
    """The checkpoints may not touch the dataset or the resumed file; existing ones need --overwrite."""
    from model.outputs import check_outputs

    out = Path(args.out)
    last = out.with_name(out.name.removesuffix(".safetensors") + ".last.safetensors")
    resumed = args.resume is not None and real_path(args.resume) == real_path(last)
    outputs = {"--out": out} if resumed else {"--out": out, "its .last checkpoint": last}
    check_outputs(inputs={"--data": args.data, "--annotations": args.annotations, "--resume": args.resume,
                          "--backbone-weights": args.backbone_weights, "--init": args.init, "--replay": args.replay},
                  outputs=outputs)
    if args.resume is None and not args.overwrite:
        for path in (out, last):
            if path.exists():
                raise UserError(f"{path}: already exists (pass --overwrite to replace it, or --resume to continue it)")


def _splits(args) -> tuple[tuple[str, ...], str | None]:
    """``--train-splits`` and ``--val-split`` checked against the splits the dataset has."""
    from model.data import detect_splits
    from model.drives import parse_drive_split
    from model.train import no_layout_error

    train = tuple(s.strip() for s in args.train_splits.split(","))
    if not all(train) or len(set(train)) != len(train):
        raise UserError(f"--train-splits {args.train_splits!r}: expected distinct split names separated by commas, e.g. train,val")
    val = args.val_split
    if args.init:  # fine-tuning: the labelled frames of --data (a folder or a video) + --annotations
        if not args.annotations:
            raise UserError("--init fine-tunes on labelled frames: pass --annotations DIR (label PNGs named like the "
                            "frames of --data, or by frame index for a video)")
        if train != ("train",) or (val is not None and not val.startswith("drive:")):
            raise UserError("--init holds out part of the labelled frames itself (--holdout, or --val-split drive:NAME)")
        return train, val
    if args.replay:
        raise UserError("--replay mixes CamVid frames into a fine-tuning run: it needs --init MODEL")
    if args.annotations:  # a plain folder: all of it trains, nothing validates
        if val not in (None, "none") or train != ("train",):
            raise UserError("--train-splits and --val-split choose splits of a dataset root; --annotations trains on the whole --data folder")
        return train, None
    found = [s.name for s in detect_splits(args.data)]
    if not found:
        raise no_layout_error(args.data)
    available = ", ".join(dict.fromkeys(found))
    for name in train:
        if name not in found:
            raise UserError(f"--train-splits: {args.data} has no '{name}' split (available: {available})")
    if val is None:
        return train, "val" if "val" in found and "val" not in train else None
    try:
        if parse_drive_split(val):
            return train, val  # the drives are checked against the frames when they are read
    except ValueError as exc:
        raise UserError(f"--val-split {exc}") from None
    if val != "none" and val not in found:
        raise UserError(f"--val-split: {args.data} has no '{val}' split (available: {available}, or none)")
    if val in train:
        raise UserError(f"--val-split {val}: that split is also in --train-splits; choose another or none")
    return train, None if val == "none" else val


def _check_writable(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    probe = parent
    while not probe.exists():
        probe = probe.parent
    import os

    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UserError(f"{path}: output folder is not writable")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a file name")


def cmd_quantize(args) -> int:
    from model.outputs import check_outputs
    from model.quantize_model import quantize_checkpoint

    out = Path(args.model if args.in_place else args.out)
    inputs = {"--data": args.data} if args.in_place else {"MODEL": args.model, "--data": args.data}
    check_outputs(inputs=inputs, outputs={"--out": out})
    if not args.in_place and out.exists() and not args.overwrite:
        raise UserError(f"{out}: already exists (pass --overwrite to replace it)")
    with OutputLock(out):
        entry = quantize_checkpoint(args.model, data=args.data, out=out)
    check = entry["check"]
    verdict = "auto uses int8" if entry["passed"] else "auto keeps fp32"
    print(f"wrote {out}: int8 vs fp32 on {check['frames_source']}: {100 * check['equal_pixels']:.2f}% equal pixels, "
          f"mIoU {100 * check['miou_fp32']:.2f}% -> {100 * check['miou_int8']:.2f}%; {verdict}", file=sys.stderr)
    return 0


def cmd_eval(args) -> int:
    from model.evaluation import evaluate_folder, format_table

    if args.annotations is None:
        return _cmd_eval_signals(args)
    if args.compare is not None:
        return _cmd_eval_compare(args)
    result = evaluate_folder(
        images=args.images, annotations=args.annotations, model=args.model, predictions=args.predictions,
        include_void=args.include_void, backend=args.backend, device=args.device, precision=args.precision,
        card=args.card, mapping=args.mapping, mode=args.mode,
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
    return 0


def _cmd_eval_signals(args) -> int:
    """``eval`` without truth: what the model says of the frames (model/signal_summary.py)."""
    from model.signal_summary import folder_signals, format_signals

    for flag, value in (("--predictions", args.predictions), ("--compare", args.compare)):
        if value is not None:
            raise UserError(f"{flag} needs --annotations: without truth there is nothing to score it against")
    result = folder_signals(args.images, model=args.model, backend=args.backend, device=args.device,
                            precision=args.precision, card=args.card, mapping=args.mapping, mode=args.mode,
                            threshold=args.low_confidence)
    print(json.dumps(result) if args.json else format_signals(result))
    return 0


def _cmd_eval_compare(args) -> int:
    from model.comparison import compare_folder, format_comparison

    if args.predictions is not None:
        raise UserError("--compare runs two models; it cannot score --predictions")
    result = compare_folder(
        images=args.images, annotations=args.annotations, model=args.model, compare=args.compare,
        include_void=args.include_void, backend=args.backend, device=args.device, precision=args.precision,
        card=args.card, mapping=args.mapping, mode=args.mode,
    )
    print(json.dumps(result) if args.json else format_comparison(result))
    return 0
