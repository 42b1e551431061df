"""What a batch reads: INPUT arguments (files, folders, glob patterns, list files) -> sources.

Usage::

    expand_inputs(["drives/", "extra/*.mp4", "more.txt"])   # ['drives/a.mp4', 'drives/b.mp4', ...]

- a video file is one source (any name; FFmpeg decides later whether it reads it);
- a folder that holds image files is one source (a frame folder);
- any other folder contributes its video files and its frame sub-folders, one level down,
  leaving out annotation folders (``<name>annot`` beside ``<name>``, ``annotations_prepped_*``);
- a pattern with ``*``, ``?`` or ``[`` is expanded (``**`` reaches into sub-folders);
- a ``.txt`` or ``.list`` file lists one INPUT per line (``#`` starts a comment; relative
  paths are relative to the list file).

A source named twice (by any route) is kept once, in the order first named.
"""

from __future__ import annotations

__all__ = ["BatchError", "VIDEO_SUFFIXES", "expand_inputs"]

import glob
import os
from pathlib import Path

from model.data import IMAGE_SUFFIXES

#: File endings taken as videos when a folder is scanned (a file named explicitly is always taken).
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv")
_LIST_SUFFIXES = (".txt", ".list")
_GLOB_CHARS = set("*?[")


class BatchError(ValueError):
    """A batch that cannot start: one line naming the input or output."""


def expand_inputs(items: list[str]) -> list[str]:
    """Every source the INPUT arguments name, in order, each once (see the module docstring).

    Raises:
        BatchError: an input that does not exist, a pattern or folder that names no source,
            or a list file that lists itself.
    """
    sources: list[str] = []
    seen: set[str] = set()
    for source in _expand(items, base=None, lists=()):
        key = os.path.realpath(source)
        if key not in seen:
            seen.add(key)
            sources.append(source)
    if not sources:
        raise BatchError("no sources: the inputs name no video or frame folder")
    return sources


def _expand(items: list[str], *, base: Path | None, lists: tuple[str, ...]):
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        path = Path(text).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        if _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(str(path), recursive=True))
            if not matches:
                raise BatchError(f"{text}: this pattern matches no file or folder")
            yield from _expand(matches, base=None, lists=lists)
        elif path.is_dir():
            yield from _folder_sources(path, text)
        elif path.is_file() and path.suffix.lower() in _LIST_SUFFIXES:
            yield from _list_file(path, lists)
        elif path.exists():
            yield str(path)
        else:
            raise BatchError(f"{path}: no such file or folder")


def _list_file(path: Path, lists: tuple[str, ...]):
    key = os.path.realpath(path)
    if key in lists:
        raise BatchError(f"{path}: this list file lists itself (directly or through another list)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"{path}: cannot read this list file ({exc.__class__.__name__})") from None
    entries = [line.split("#", 1)[0].strip() for line in lines]
    yield from _expand([e for e in entries if e], base=path.parent, lists=(*lists, key))


def _folder_sources(folder: Path, text: str) -> list[str]:
    """The folder itself when it holds frames, else its videos and frame sub-folders."""
    if _has_images(folder):
        return [str(folder)]
    found = []
    children = sorted(folder.iterdir(), key=lambda p: p.name)
    names = {c.name for c in children if c.is_dir()}
    for child in children:
        if child.is_file() and child.suffix.lower() in VIDEO_SUFFIXES:
            found.append(str(child))
        elif child.is_dir() and not _is_annotations(child.name, names) and _has_images(child):
            found.append(str(child))
    if not found:
        raise BatchError(f"{text}: this folder holds no video, no frames and no frame folder")
    return found


def _is_annotations(name: str, siblings: set[str]) -> bool:
    return (name.endswith("annot") and name[: -len("annot")] in siblings) or name.startswith("annotations_prepped")


def _has_images(folder: Path) -> bool:
    try:
        return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in folder.iterdir())
    except OSError:
        return False
