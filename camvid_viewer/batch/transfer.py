"""Outputs travel from a worker (any node) to OUT_DIR on the machine that runs the batch.

A worker writes a source's outputs into a private temp folder with the single command's own
code, then :func:`pack` reads them into ``{relative path: bytes}``; the driver's
:func:`place_outputs` writes each top-level output to a temp name beside its target and renames
it into place, so OUT_DIR never holds half an output, whichever node did the work.
"""

from __future__ import annotations

__all__ = ["pack", "place_outputs"]

import os
import shutil
from pathlib import Path, PurePosixPath

from camvid_viewer.export.video_writer import remove_stale_temps, temp_path_for


def pack(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` as ``{posix relative path: bytes}``."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def place_outputs(files: dict[str, bytes], out_dir: Path) -> list[str]:
    """Write ``files`` (from :func:`pack`) under ``out_dir``, one atomic rename per top-level entry.

    An existing entry of the same name is replaced only once its successor is complete.
    Returns the top-level names placed.
    """
    out_dir = Path(out_dir)
    groups: dict[str, dict[str, bytes]] = {}
    for rel, data in files.items():
        parts = PurePosixPath(rel).parts
        if not parts or ".." in parts or PurePosixPath(rel).is_absolute():
            raise ValueError(f"{rel}: a worker sent an output path outside its folder")
        groups.setdefault(parts[0], {})["/".join(parts[1:])] = data
    for top, members in groups.items():
        target = out_dir / top
        remove_stale_temps(target)
        if list(members) == [""]:
            _place_file(target, members[""])
        else:
            _place_folder(target, members)
    return list(groups)


def _place_file(target: Path, data: bytes) -> None:
    tmp = temp_path_for(target, suffix=target.suffix)
    try:
        tmp.write_bytes(data)
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _place_folder(target: Path, members: dict[str, bytes]) -> None:
    tmp = temp_path_for(target)
    try:
        for rel, data in members.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if target.exists() or target.is_symlink():
            old = temp_path_for(target, suffix=".old")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
