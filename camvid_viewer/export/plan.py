"""Where an export writes: one video (and CSV, masks folder) per input."""

from __future__ import annotations

__all__ = ["output_plan"]

import os
from pathlib import Path

from camvid_viewer.export.options import ExportError


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
    for source, video, _, _ in plan:
        if Path(source).exists() and video.exists() and Path(source).resolve() == video.resolve():
            raise ExportError(f"{video}: the output would replace its own input")
    return plan


def _stem(path: str) -> str:
    p = Path(path.rstrip("/\\"))
    return p.name if p.is_dir() else p.stem

