"""Where an export writes (one video, CSV and masks folder per input), checked before any work."""

from __future__ import annotations

__all__ = ["output_plan", "check_targets", "locked_output"]

import os
from contextlib import contextmanager
from pathlib import Path

from camvid_viewer.export.options import ExportError
from camvid_viewer.export.video_writer import remove_stale_temps
from model.outputs import OutputError, OutputLock, check_outputs


def output_plan(inputs: list[str], out: str | Path, *, metrics_csv: Path | None = None,
                masks_dir: Path | None = None) -> list[tuple[str, Path, Path | None, Path | None]]:
    """(input, video, csv, masks folder) per input.

    One input: ``out`` is the video file (or a folder to put ``<name>.mp4`` in). Several inputs:
    ``out`` is a folder with one ``<name>.mp4`` each; ``metrics_csv`` and ``masks_dir`` become
    folders with ``<name>.csv`` and ``<name>/`` each.
    """
    as_folder = str(out).endswith(("/", os.sep))  # Path() drops the trailing slash that says "folder"
    out = Path(out)
    if len(inputs) == 1:
        target = out / f"{_stem(inputs[0])}.mp4" if out.is_dir() or as_folder else out
        if target.suffix.lower() != ".mp4":
            raise ExportError(f"{out}: the output is an MP4 video; give it a .mp4 name (or an existing folder)")
        plan = [(inputs[0], target, metrics_csv, masks_dir)]
    else:
        if out.exists() and not out.is_dir():
            raise ExportError(f"{out}: several inputs need a folder as output, this is a file")
        names = [_stem(i) for i in inputs]
        for name in set(names):
            if names.count(name) > 1:
                raise ExportError(f"{out}: two inputs would both write {name}.mp4; export them separately")
        plan = [
            (i, out / f"{n}.mp4", metrics_csv / f"{n}.csv" if metrics_csv else None, masks_dir / n if masks_dir else None)
            for i, n in zip(inputs, names, strict=True)
        ]
    def of(i: int) -> str:
        return f" {i + 1}" if len(plan) > 1 else ""

    inputs_all = {f"input{of(i)}": source for i, (source, _, _, _) in enumerate(plan)}
    outputs_all = {f"{kind} (input{of(i)})" if len(plan) > 1 else kind: path for i, row in enumerate(plan)
                   for kind, path in zip(("-o", "--metrics-csv", "--masks"), row[1:], strict=True)}
    try:  # across inputs too: one input's output may not be another's input
        check_outputs(inputs=inputs_all, outputs=outputs_all)
    except OutputError as exc:
        raise ExportError(str(exc)) from None
    return plan


def _stem(path: str) -> str:
    p = Path(path.rstrip("/\\"))
    return p.name if p.is_dir() else p.stem


def check_targets(output: Path, options, *, source, frames: range, annotations: Path | None, model) -> None:
    """Refuse outputs that touch an input or each other, or that exist (without ``overwrite``).

    Stale temp files of killed runs beside each target are removed on the way.
    """
    try:
        check_outputs(inputs={"input": source.path, "--annotations": annotations, "--model": model},
                      outputs={"-o": output, "--metrics-csv": options.metrics_csv, "--masks": options.masks_dir})
    except OutputError as exc:
        raise ExportError(str(exc)) from None
    for target in [output] + [p for p in (options.metrics_csv,) if p is not None]:
        remove_stale_temps(target)
        if target.is_dir():
            raise ExportError(f"{target}: is a folder, expected a file name")
        if target.exists() and not options.overwrite:
            raise ExportError(f"{target}: already exists (use --overwrite to replace it)")
    masks = options.masks_dir
    if masks is not None:
        remove_stale_temps(masks)
        if masks.exists() and not masks.is_dir():
            raise ExportError(f"{masks}: exists and is not a folder")
        if masks.is_dir() and not options.overwrite:
            for i in frames:
                existing = masks / f"{source.frame_name(i)}.png"
                if existing.exists():
                    raise ExportError(f"{existing}: already exists (use --overwrite to replace masks)")


@contextmanager
def locked_output(target: Path):
    """Hold ``target``'s lock for the block: another run writing it is refused in one line."""
    try:
        lock = OutputLock(target).__enter__()
    except OutputError as exc:
        raise ExportError(str(exc)) from None
    try:
        yield lock
    finally:
        lock.release()
