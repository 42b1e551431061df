"""``main.py quantize MODEL --data DIR``: calibrate a checkpoint for int8 and record the check in its card.

Calibration takes up to 32 labelled frames spread over the dataset; the accuracy check runs on
other labelled frames, from a drive the calibration never saw when the dataset has several
(a CamVid file name's prefix is its drive: ``0001TP_006690.png``). The checkpoint is written
again with the ``int8`` entry in its card, to ``--out`` or in place (atomically).

Usage:
    python main.py quantize runs/lite0.safetensors --data ../shared/camvid --out runs/lite0-int8.safetensors
"""

from __future__ import annotations

__all__ = ["calibration_split", "quantize_checkpoint"]

from collections import defaultdict
from pathlib import Path

from model.data import DataError, detect_splits, pair_by_stem, read_image, read_label
from model.drives import drive_of

CALIBRATION_FRAMES = 32
CHECK_FRAMES = 60


def _drive(path: Path) -> str:
    return drive_of(path) or ""


def calibration_split(pairs: list[tuple[Path, Path]]) -> tuple[list, list, str, str]:
    """(calibration pairs, check pairs, what each is) — the check drive-held-out when possible."""
    by_drive: dict[str, list] = defaultdict(list)
    for pair in pairs:
        by_drive[_drive(pair[0])].append(pair)
    if len(by_drive) > 1:
        held = min(by_drive, key=lambda d: (len(by_drive[d]), d))  # the smallest drive is checked
        rest = [p for d, ps in sorted(by_drive.items()) if d != held for p in ps]
        check, check_what = by_drive[held], f"drive {held}, held out of the calibration"
    else:
        rest, check, check_what = pairs[0::2], pairs[1::2], "frames not used for calibration (one drive only)"
    step = max(1, len(rest) // CALIBRATION_FRAMES)
    calib = rest[::step][:CALIBRATION_FRAMES]
    check = check[:: max(1, len(check) // CHECK_FRAMES)][:CHECK_FRAMES]
    drives = sorted({_drive(p[0]) for p in calib} - {""})
    calib_what = f"{len(calib)} frames" + (f" of drives {', '.join(drives)}" if drives else "")
    return calib, check, calib_what, f"{len(check)} frames: {check_what}"


def _labelled_pairs(data: Path) -> list[tuple[Path, Path]]:
    splits = detect_splits(data)
    if not splits:
        raise DataError(f"{data}: no dataset layout found (expected train/ + trainannot/ or the origin's layout)")
    pairs = [pair for split in splits for pair in pair_by_stem(split.images, split.annotations)]
    if len(pairs) < 4:
        raise DataError(f"{data}: {len(pairs)} labelled frames; calibration and its check need at least 4")
    return pairs


def quantize_checkpoint(model: str | Path, *, data: str | Path, out: str | Path) -> dict:
    """Calibrate ``model`` on ``data``, check int8 against fp32, write ``out``; the card's int8 entry."""
    from model.checkpoint import load_checkpoint, save_checkpoint
    from model.external_model import ModelCardError, is_external_model
    from model.inference import Segmenter
    from model.quantize import calibrate, check_agreement, quantize_entry, stem_nodes

    if is_external_model(model):
        raise ModelCardError(f"{model}: quantize calibrates this project's checkpoints; an ONNX model runs as it is (fp32)")
    calib, check, calib_what, check_what = calibration_split(_labelled_pairs(Path(data)))
    fp32 = Segmenter(model, backend="onnx", device="cpu", precision="fp32")
    frames = [read_image(p) for p, _ in calib]
    fp32.segment(frames[0])  # exports the fp32 graph of this working size
    shape = fp32._preprocess(frames[0]).shape[1:]
    graph = fp32._runner.cache_path(tuple(shape), labels_only=True)
    keep = stem_nodes(graph)
    ranges = calibrate(graph, (fp32._preprocess(f)[None] for f in frames), fp32_nodes=keep)
    entry = quantize_entry(ranges, None, fp32_nodes=keep, calibration=calib_what, checked_on=check_what)
    int8 = Segmenter(model, backend="onnx", device="cpu", precision="fp32")
    int8._runner.int8 = entry  # the new calibration, before it is in any card
    labels = fp32.label_set
    pairs = [(read_image(p), read_label(t, num_classes=256)) for p, t in check]
    result = check_agreement(lambda f: fp32.segment(f).labels, lambda f: int8.segment(f).labels, pairs,
                             num_classes=labels.count, void_index=labels.void_index)
    entry = quantize_entry(ranges, result, fp32_nodes=keep, calibration=calib_what, checked_on=check_what)
    ckpt = load_checkpoint(model)
    card = dict(ckpt.card, int8=entry)
    if isinstance(card.get("train_state"), dict):  # the optimizer tensors are not carried over
        card["train_state"] = {k: v for k, v in card["train_state"].items() if k != "optimizer_layout"}
    save_checkpoint(out, ckpt.build(), card, half=card.get("weights_dtype") == "float16")
    return entry
