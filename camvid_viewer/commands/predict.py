"""The ``predict`` command: label PNGs (readable by ``eval --predictions``) and colour PNGs per frame.

Usage:
    python main.py predict ../shared/camvid/val -o out/val_pred
    python main.py predict drive.mp4 -o out/drive --model runs/lite0.safetensors --on-bad-frame skip
"""

from __future__ import annotations

__all__ = ["ON_BAD_FRAME", "add_predict_command", "predict_to_folder"]

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2

from camvid_viewer.export.video_writer import remove_stale_temps, temp_path_for
from camvid_viewer.rendering import colourise
from camvid_viewer.sources import FrameSource, MediaError, open_source
from camvid_viewer.sources.truth import find_annotations
from model.class_mapping import scored_labels
from model.external_model import add_card_arguments
from model.outputs import OutputLock, check_outputs
from model.test_time import add_mode_argument

#: What an unreadable frame does: end the run, reuse the previous frame's prediction, or leave it out.
ON_BAD_FRAME = ("stop", "repeat", "skip")


def add_predict_command(sub) -> None:
    p = sub.add_parser("predict", help="write label and colour PNGs for a frame folder or video")
    p.add_argument("input", help="frame folder or video file")
    p.add_argument("-o", "--out", required=True, help="output folder (labels/ and colour/ inside)")
    p.add_argument("--model", help="checkpoint (default: the shipped model)")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                   help="auto: int8 on the CPU when the model's int8 check passed, else fp32 (fp16 on CUDA)")
    p.add_argument("--overwrite", action="store_true", help="replace this command's earlier output folder")
    p.add_argument("--on-bad-frame", choices=ON_BAD_FRAME, default="stop",
                   help="an unreadable frame: stop with an error (default), repeat the previous frame's "
                        "prediction under its name, or skip it")
    add_card_arguments(p)  # with a mapping, labels/ holds the mapped (CamVid) values, colour/ the model's own classes
    add_mode_argument(p)
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args) -> int:
    bad: list[str] = []
    n = predict_to_folder(args.input, args.out, model=args.model, backend=args.backend, device=args.device,
                          precision=args.precision, overwrite=args.overwrite, on_bad_frame=args.on_bad_frame,
                          bad_frames=bad, card=args.card, mapping=args.mapping, mode=args.mode)
    note = ""
    if bad:
        done = "repeated" if args.on_bad_frame == "repeat" else "skipped"
        note = f"; {len(bad)} unreadable frame(s) {done}: {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}"
    print(f"wrote {n} label + colour PNG pairs to {args.out}{note}", file=sys.stderr)
    return 0


def predict_to_folder(source_path, out, *, model=None, backend="auto", device="auto", precision="auto",
                      overwrite=False, on_bad_frame: str = "stop", bad_frames: list[str] | None = None,
                      segmenter=None, on_labels=None, card=None, mapping=None, mode: str = "fast") -> int:
    """Segment every frame into ``out/labels/<name>.png`` and ``out/colour/<name>.png``.

    Checked before any work: ``out`` may not be, hold or lie inside the input, its annotations or
    the model. The run holds a lock on ``out``, writes a temp folder of its own beside it and
    renames it into place on success, so a failure, Ctrl-C or SIGTERM leaves nothing and a
    second run into the same folder is refused. ``bad_frames`` collects the names of unreadable frames.
    ``segmenter``: an already loaded model (a batch worker's), used instead of loading ``model``;
    ``on_labels(index, labels)`` sees each frame's labels as they are written (a batch scores them).
    ``card``, ``mapping``: an ONNX model's card and a class mapping; with a mapping the label PNGs
    (and ``on_labels``) are in the mapping's classes, so ``eval --predictions`` scores them.
    """
    from model.cli import UserError
    from model.inference import Segmenter, default_model_path, note_precision

    if on_bad_frame not in ON_BAD_FRAME:
        raise UserError(f"--on-bad-frame {on_bad_frame!r}: choose from {', '.join(ON_BAD_FRAME)}")
    out = Path(out)
    try:
        source = open_source(str(source_path))
    except MediaError as exc:
        raise UserError(str(exc)) from None
    bad = [] if bad_frames is None else bad_frames
    with source:
        annotations = find_annotations(source) if not source.is_live else None
        model_path = segmenter.path if segmenter is not None else model or default_model_path()
        check_outputs(inputs={"input": source_path, "annotations": annotations, "--model": model_path, "--card": card},
                      outputs={"-o": out})
        if out.exists() and not overwrite:
            raise UserError(f"{out}: already exists (pass --overwrite to replace it)")
        if out.exists() and not out.is_dir():
            raise UserError(f"{out}: is a file; the output is a folder (labels/ and colour/ inside)")
        with OutputLock(out):
            if segmenter is None:
                segmenter = Segmenter(model, backend=backend, device=device, precision=precision, card=card, mapping=mapping,
                                      mode=mode)
                note_precision(segmenter)
            return _write_predictions(source, segmenter, out, frames=_readable_frames(source, on_bad_frame, bad),
                                      on_labels=on_labels)


def _write_predictions(source: FrameSource, segmenter, out: Path, *, frames, on_labels=None) -> int:
    from tqdm import tqdm

    remove_stale_temps(out)
    tmp = temp_path_for(out)
    (tmp / "labels").mkdir(parents=True)
    (tmp / "colour").mkdir()
    count = 0
    try:
        frames = tqdm(frames, total=source.frame_count, unit="frame", file=sys.stderr, disable=not sys.stderr.isatty())
        for index, prediction in segmenter.segment_stream(frames):  # frames overlap on the model's lanes
            labels, scored = prediction.labels, scored_labels(segmenter, prediction.labels)
            name = source.frame_name(index)
            _write_png(tmp / "labels" / f"{name}.png", scored)
            _write_png(tmp / "colour" / f"{name}.png", colourise(labels, palette_bgr=segmenter.palette_bgr))
            if on_labels is not None:
                on_labels(index, scored)
            count += 1
        if count == 0:
            raise MediaError(f"{source.path}: no frame could be read; nothing written")
        _replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return count


def _readable_frames(source: FrameSource, policy: str, bad: list[str]) -> Iterator[tuple[int, object]]:
    """``(index, frame)`` of every frame; an unreadable one stops, repeats the last good frame or is left out.

    Leading unreadable frames under "repeat" take the first good frame.
    """
    from model.cli import UserError

    start, previous, leading = 0, None, []
    while True:
        try:
            for index, frame in source.frames(start):
                for waiting in leading:
                    yield waiting, frame
                leading, previous = [], frame
                yield index, frame
                start = index + 1
            return
        except MediaError as exc:
            where = exc.index if exc.index is not None else start
            if policy == "stop":
                raise UserError(f"{exc}; stopped, nothing written (--on-bad-frame repeat or skip goes on)") from None
            bad.append(source.frame_name(where))
            if policy == "repeat":
                if previous is None:
                    leading.append(where)
                else:
                    yield where, previous
            start = where + 1
            if source.frame_count is not None and start >= source.frame_count:
                return


def _replace_folder(tmp: Path, out: Path) -> None:
    """Move the finished temp folder to ``out``; an earlier output there is replaced only now."""
    if out.exists():
        old = temp_path_for(out, suffix=".old")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def _write_png(path: Path, image) -> None:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    path.write_bytes(data.tobytes())
