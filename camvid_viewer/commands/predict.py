"""The ``predict`` command: label PNGs (readable by ``eval --predictions``) and colour PNGs per frame.

Usage:
    python main.py predict ../shared/camvid/val -o out/val_pred
    python main.py predict drive.mp4 -o out/drive --model runs/lite0.safetensors
"""

from __future__ import annotations

__all__ = ["add_predict_command", "predict_to_folder"]

import shutil
import sys
from pathlib import Path

import cv2

from camvid_viewer.rendering import colourise
from camvid_viewer.sources import MediaError, open_source


def add_predict_command(sub) -> None:
    p = sub.add_parser("predict", help="write label and colour PNGs for a frame folder or video")
    p.add_argument("input", help="frame folder or video file")
    p.add_argument("-o", "--out", required=True, help="output folder (labels/ and colour/ inside)")
    p.add_argument("--model", help="checkpoint (default: the shipped model)")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args) -> int:
    n = predict_to_folder(args.input, args.out, model=args.model, backend=args.backend, device=args.device, overwrite=args.overwrite)
    print(f"wrote {n} label + colour PNG pairs to {args.out}", file=sys.stderr)
    return 0


def predict_to_folder(source_path, out, *, model=None, backend="auto", device="auto", overwrite=False) -> int:
    """Segment every frame into ``out/labels/<name>.png`` and ``out/colour/<name>.png``.

    Written into a temp folder beside ``out`` and renamed on success, so a failure leaves nothing.
    """
    from model.cli import UserError
    from model.inference import Segmenter

    out = Path(out)
    if out.exists() and not overwrite:
        raise UserError(f"{out}: already exists (pass --overwrite to replace it)")
    try:
        source = open_source(str(source_path))
    except MediaError as exc:
        raise UserError(str(exc)) from None
    segmenter = Segmenter(model, backend=backend, device=device)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "labels").mkdir(parents=True)
    (tmp / "colour").mkdir()
    count = 0
    try:
        from tqdm import tqdm

        with source:
            frames = tqdm(source.frames(), total=source.frame_count, unit="frame", file=sys.stderr, disable=not sys.stderr.isatty())
            for index, prediction in segmenter.segment_stream(frames):  # frames overlap on the model's lanes
                labels = prediction.labels
                name = source.frame_name(index)
                _write_png(tmp / "labels" / f"{name}.png", labels)
                _write_png(tmp / "colour" / f"{name}.png", colourise(labels, palette_bgr=segmenter.palette_bgr))
                count += 1
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return count


def _write_png(path: Path, image) -> None:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    path.write_bytes(data.tobytes())
