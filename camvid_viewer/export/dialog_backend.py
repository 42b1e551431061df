"""What the export dialog does besides drawing itself: wording, progress text, output checks,
and the background job; Qt-free, so it is tested without a ``QApplication``.

Usage::

    from camvid_viewer.export.dialog_backend import run_export, format_progress
    result = run_export("clip.mp4", Path("clip-export.mp4"), options=ExportOptions(),
                        make_segmenter=Segmenter, progress=print, cancel=threading.Event())
"""

from __future__ import annotations

__all__ = [
    "default_output",
    "existing_outputs",
    "format_progress",
    "output_problem",
    "probe_source",
    "run_export",
    "window_wording",
]

import threading
from pathlib import Path

from camvid_viewer.analysis.temporal import TemporalSmoother
from camvid_viewer.export import ExportCancelled, ExportOptions, check_export, export_video
from camvid_viewer.sources import open_source

# The exporter speaks the command line's language; the dialog names its own fields instead.
_WORDING = (
    (" (use --overwrite to replace it)", ""), (" (use --overwrite to replace masks)", ""),
    ("(use --annotations DIR)", "(choose an annotations folder)"),
    ("(--on-bad-frame repeat keeps going, repeating the previous frame)", "(choose 'Repeat the previous frame' to go on)"),
    ("--metrics-csv", "the metrics CSV"), ("--range", "the frame range"),
)


def window_wording(message: str) -> str:
    """An exporter message with command-line flags replaced by the dialog's field names."""
    for old, new in _WORDING:
        message = message.replace(old, new)
    return message


def format_progress(*, done: int, total: int, fps: float) -> str:
    """``"12 / 80 frames · 4.1 fps · ETA 0:17"`` (no ETA before the rate is known)."""
    text = f"{done} / {total} frames"
    if fps > 0:
        left = round(max(0, total - done) / fps)
        minutes, seconds = divmod(left, 60)
        eta = f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60 else f"{minutes}:{seconds:02d}"
        text += f" · {fps:.1f} fps · ETA {eta}"
    return text


def output_problem(path: Path) -> str | None:
    """Why a video cannot be written at ``path`` (one line), checked before any model loads."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{path}: cannot write here: {parent} is a file, not a folder"
            return None
    return f"{path}: cannot write here: no such drive or folder"


def existing_outputs(*, output: Path, metrics_csv: Path | None, masks_dir: Path | None) -> list[Path]:
    """Outputs that an export would replace (the masks folder counts when it holds PNGs)."""
    found = [p for p in (output, metrics_csv) if p is not None and p.is_file()]
    if masks_dir is not None and masks_dir.is_dir() and any(masks_dir.glob("*.png")):
        found.append(masks_dir)
    return found


def run_export(source: str, output: Path, *, options: ExportOptions, make_segmenter, smoothing: bool = False,
               progress, cancel: threading.Event):
    """Check, load a model, export; the :class:`ExportResult`, or ``None`` when cancelled.

    ``progress`` gets ``(phase,)`` while preparing and ``(done, total, fps)`` per frame.
    """
    progress("Checking the input...")
    check_export(source, output, options)  # a bad input fails in a second, before the model loads
    progress("Loading the model...")
    segmenter = make_segmenter()
    if smoothing:
        segmenter = TemporalSmoother(segmenter)
    if cancel.is_set():
        return None
    try:
        return export_video(source, output, segmenter=segmenter, options=options, cancel=cancel, progress=progress)
    except ExportCancelled:
        return None


def default_output(source: str | Path) -> Path:
    """``<name>-export.mp4`` beside the source (a folder's name, a file's stem)."""
    source = Path(str(source).rstrip("/\\"))
    return source.parent / f"{source.name if source.is_dir() else source.stem}-export.mp4"


def probe_source(path: str):
    """(kind, frame count, fps, size) of a source, read on a worker thread."""
    with open_source(path) as source:
        if source.is_live:
            raise ValueError(f"{path}: live streams cannot be exported; record them to a file first")
        return source.kind, source.frame_count, source.fps, source.size
