"""Turn a trained checkpoint into the shipped default model (fp16 weights + a complete card).

Usage:
    python tools/ship_model.py runs/lite0.safetensors resources/models/camvid-lite0.safetensors \
        --command "python main.py train ..." --log runs/lite0.log [--fold runs/folds/h0001TP.safetensors ...]

The shipped file keeps float16 weights (half the size) only if val mIoU drops < 0.3 points,
and carries an int8 calibration with its check (``main.py quantize``, run on the result);
the card records the exact training command, data, seed, training time, the per-epoch
val curve and per-class val metrics of both the fp32 and the shipped weights.

A model trained on val as well (the recipe chosen on drive-held-out folds, then trained on all
468 frames) still gets its val figures, marked ``val_trained_on``: they say how well it fits
frames it saw, not footage it never saw. That figure is each ``--fold``'s: the same recipe
trained without one drive and scored on it (``recipe_folds``: drive, figures, command, time).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from model.data import default_camvid_root, detect_splits, pair_by_stem  # noqa: E402
from model.drives import count_by_drive  # noqa: E402
from model.evaluation import evaluate_folder  # noqa: E402
from model.quantize_model import quantize_checkpoint  # noqa: E402


def _curve(log: Path) -> list[dict]:
    points = []
    for line in log.read_text().splitlines():
        if line.startswith('{"event": "epoch"'):
            e = json.loads(line)
            point = {"epoch": e["epoch"], "elapsed_s": round(e["elapsed"], 1), "loss": round(e["loss"], 4)}
            if e.get("val"):  # a run on every frame (fixed epochs) has no val to score
                point.update(pixel_accuracy=round(e["val"]["pixel_accuracy"], 4), mean_iou=round(e["val"]["mean_iou"], 4))
            points.append(point)
    return points


def trained_drives(root: Path, card: dict) -> dict:
    """The card's ``drives`` record: frames per drive of the splits it trained on (``eval`` marks them)."""
    splits = {s.name: s for s in detect_splits(root)}
    names = (card.get("training") or {}).get("train_splits") or ["train"]
    frames = [image for name in names for image, _ in pair_by_stem(splits[name].images, splits[name].annotations)]
    return {"trained_on": count_by_drive(frames), "held_out": {}}


def recipe_fold(path: Path) -> dict:
    """What a drive-held-out run of the recipe measured, from its card."""
    fold = load_checkpoint(path).card
    held = fold.get("held_out_metrics")
    if not held or not (fold.get("drives") or {}).get("held_out"):
        raise SystemExit(f"{path}: not a drive-held-out run (train --val-split drive:NAME)")
    return {"held_out": fold["drives"]["held_out"], "trained_on": fold["drives"]["trained_on"],
            "held_out_metrics": held, "same_drive_val_metrics": fold.get("same_drive_val_metrics"),
            "training_command": fold.get("training_command"),
            "training_time_s": (fold.get("train_state") or {}).get("elapsed_s")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--command", required=True, help="the exact training command")
    parser.add_argument("--log", type=Path, help="the run's --progress json log (for the curve)")
    parser.add_argument("--name", default="camvid-lite0")
    parser.add_argument("--fold", action="append", default=[], type=Path, metavar="MODEL",
                        help="a run of the same recipe with one drive held out (train --val-split drive:NAME)")
    args = parser.parse_args()

    root = default_camvid_root()
    if root is None:
        parser.error("CamVid not found (set CAMVID_ROOT)")
    src = load_checkpoint(args.source)
    card = dict(src.card)
    card.pop("train_state", None)
    fp32 = evaluate_folder(images=root / "val", annotations=root / "valannot", model=args.source, backend="torch", device="cpu", progress=False)
    tmp = Path(args.target).with_suffix(".fp16-candidate.safetensors")
    net = src.build()
    card["drives"] = trained_drives(root, card)
    splits = list((card.get("training") or {}).get("train_splits") or ["train"])
    card.update(name=args.name, training_command=args.command,
                data={"root": "CamVid SegNet split", "splits": splits, "trained_frames": sum(card["drives"]["trained_on"].values())})
    card["val_trained_on"] = "val" in splits
    if args.fold:
        card["recipe_folds"] = [recipe_fold(path) for path in args.fold]
    if args.log:
        card["val_curve"] = _curve(args.log)
        card["training_time_s"] = card["val_curve"][-1]["elapsed_s"] if card["val_curve"] else None
    save_checkpoint(tmp, net, dict(card, val_metrics=fp32), half=True)
    fp16 = evaluate_folder(images=root / "val", annotations=root / "valannot", model=tmp, backend="torch", device="cpu", progress=False)
    drop = (fp32["mean_iou"] - fp16["mean_iou"]) * 100
    half = drop < 0.3
    card["val_metrics"] = fp16 if half else fp32
    card["val_metrics_fp32"] = fp32
    card["storage_note"] = f"float16 weights: val mIoU change {-drop:+.3f} points vs float32" if half else f"float32 kept: float16 lost {drop:.3f} points"
    save_checkpoint(args.target, net, card, half=half)
    tmp.unlink(missing_ok=True)
    # The int8 CPU path: calibrated on two drives, checked on the third (the card records both).
    int8 = quantize_checkpoint(args.target, data=root, out=args.target)
    print(json.dumps({"fp32_miou": fp32["mean_iou"], "fp16_miou": fp16["mean_iou"], "half": half,
                      "int8_check": int8["check"], "int8_passed": int8["passed"], "target": args.target}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
