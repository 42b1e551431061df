"""Open any source by what the user typed or chose: a folder, a file, a URL or a camera index."""

from __future__ import annotations

__all__ = ["open_source"]

import re
from pathlib import Path

from camvid_viewer.sources.base import FrameSource, MediaError
from camvid_viewer.sources.folder import FolderSource
from camvid_viewer.sources.stream import StreamSource
from camvid_viewer.sources.video import VideoSource


def open_source(path: str | Path, *, fps: float = 15.0) -> FrameSource:
    """A folder -> :class:`FolderSource` (at ``fps``), a file -> :class:`VideoSource`,
    ``rtsp://``/``http(s)://`` or an all-digit camera index -> :class:`StreamSource`."""
    text = str(path)
    if text.isdigit() or re.match(r"^(rtsp|rtmp|https?)://", text, re.IGNORECASE):
        return StreamSource(text)
    p = Path(text).expanduser()
    if p.is_dir():
        return FolderSource(p, fps=fps)
    if not p.exists():
        raise MediaError(f"{text}: no such file or folder")
    return VideoSource(p)

