"""What an export draws and writes, what it reports, and its errors."""

from __future__ import annotations

__all__ = ["QUALITY", "ON_BAD_FRAME", "EXPORT_VIEWS", "ProgressCallback", "ExportError", "ExportCancelled", "ExportOptions", "ExportResult", "parse_range"]

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.metrics import SegmentationScores
from model.signals import SignalTotals

#: --quality -> (x264 preset, CRF, x264 params), picked by ``benchmarks/bench_encoder.py``
#: (docs/BENCHMARKS.md): one x264 thread on the val clip drawn as overlays, 480x360, CPU per
#: frame / size / PSNR: superfast/23 4.2 ms 11.5 KiB 32.2 dB; ultrafast/24 with 2 B-frames
#: 2.0 ms 13.7 KiB 32.3 dB; medium/20 19.9 ms 13.3 KiB 32.8 dB. Beside a CPU model both cores
#: are busy and every encoder millisecond is taken from the model, so "standard" is the one
#: with superfast's quality for half its CPU, in files 10-20% larger.
QUALITY: dict[str, tuple[str, int, str]] = {
    "draft": ("ultrafast", 28, "bframes=2"),
    "standard": ("ultrafast", 24, "bframes=2"),
    "high": ("medium", 20, ""),
}
ON_BAD_FRAME = ("stop", "repeat")
EXPORT_VIEWS = ("overlay", "side-by-side", "mask", "error")

ProgressCallback = Callable[[int, int, float], None]


class ExportError(Exception):
    """An export that cannot go on; one line naming the file and the problem."""


class ExportCancelled(Exception):
    """The export was cancelled; nothing was written."""


@dataclass
class ExportOptions:
    """What to draw and what to write besides the video."""

    view: str = "overlay"  # overlay | side-by-side (frame | prediction | truth) | mask | error
    opacity: float = 0.5  # class colour opacity over the frame (overlay view)
    legend: bool = True  # burn the class legend into each frame
    hidden: frozenset[int] = frozenset()  # classes not drawn
    start: int = 0  # first frame exported
    stop: int | None = None  # one past the last frame exported (None: to the end)
    fps: float = 15.0  # frame rate given to a frame folder (videos keep their own)
    quality: str = "standard"  # key of QUALITY
    annotations: Path | None = None  # truth folder; None looks for one beside the input
    find_truth: bool = True  # look for a truth folder beside the input when none is given
    metrics_text: bool = True  # burn mIoU / pixel accuracy into frames that have truth
    metrics_csv: Path | None = None  # per-frame IoU/Dice CSV, totals in the last row
    masks_dir: Path | None = None  # label PNGs per frame, named by frame name
    overwrite: bool = False  # replace existing outputs
    on_bad_frame: str = "stop"  # an unreadable frame: "stop" with an error, or "repeat" the previous one
    queue_size: int = 4  # frames buffered between stages


@dataclass
class ExportResult:
    """What an export wrote."""

    output: Path
    frames: int  # frames in the video
    size: tuple[int, int]  # video width, height
    fps: float  # video frame rate
    bad_frames: list[int] = field(default_factory=list)  # unreadable frames, repeated
    resized_frames: int = 0  # frames of another size, scaled to the first frame's
    labelled_frames: int = 0  # frames scored against truth
    scores: SegmentationScores | None = None  # pooled over labelled frames
    matrix: np.ndarray | None = None  # the truth x prediction confusion matrix behind ``scores``
    annotations: Path | None = None
    metrics_csv: Path | None = None
    masks_dir: Path | None = None
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    signals: SignalTotals | None = None  # the model's own signals pooled over the frames (with a metrics CSV)

    @property
    def throughput_fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        w, h = self.size
        parts = [f"wrote {self.output} ({self.frames} frames, {w}x{h}, {self.fps:g} fps) in {self.elapsed_s:.1f}s "
                 f"({self.throughput_fps:.1f} fps)"]
        if self.bad_frames:
            shown = ", ".join(str(i) for i in self.bad_frames[:10]) + (" ..." if len(self.bad_frames) > 10 else "")
            parts.append(f"{len(self.bad_frames)} unreadable frame(s) repeated: {shown}")
        if self.resized_frames:
            parts.append(f"{self.resized_frames} frame(s) of another size scaled to {w}x{h}")
        if self.scores is not None:
            parts.append(f"{self.labelled_frames} labelled frame(s): mIoU {_pct(self.scores.mean_iou)}, "
                         f"pixel accuracy {_pct(self.scores.pixel_accuracy)}")
        if self.metrics_csv:
            parts.append(f"metrics: {self.metrics_csv}")
        if self.masks_dir:
            parts.append(f"masks: {self.masks_dir}")
        parts += self.notes
        return "\n".join(parts)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def parse_range(text: str) -> tuple[int, int | None]:
    """``START:END`` (END exclusive, either may be empty) -> (start, stop)."""
    start_text, sep, stop_text = text.partition(":")
    try:
        start = int(start_text) if start_text.strip() else 0
        stop = int(stop_text) if stop_text.strip() else None
    except ValueError:
        raise ValueError(f"--range expects START:END frame numbers, got {text!r}") from None
    if not sep:
        raise ValueError(f"--range expects START:END frame numbers, got {text!r}")
    if start < 0 or (stop is not None and stop <= start):
        raise ValueError(f"--range {text}: need 0 <= START < END")
    return start, stop

