"""The training child's JSON progress lines, read back: events, the run's state, log lines.

The child is ``python main.py train --progress json ...`` (see :mod:`model.progress` for the
events: start, step, epoch, done, error).
"""

from __future__ import annotations

__all__ = ["EVENTS", "ProgressEvent", "RunProgress", "parse_progress_line", "event_log_line", "val_figures", "format_duration"]

import json
import math
from dataclasses import dataclass, field

EVENTS = {"start": ("total_steps", "steps_per_epoch"), "step": ("epoch", "step", "loss"),
          "epoch": ("epoch", "epochs"), "done": ("best_path",), "error": ("message",)}


@dataclass(frozen=True)
class ProgressEvent:
    """One stdout line of the child: ``kind`` is an event name or "malformed" (``data["line"]``, ``data["reason"]``)."""

    kind: str
    data: dict


@dataclass
class RunProgress:
    """Everything the dialog draws, folded from the progress events of one run."""

    epochs: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    start_step: int = 0
    step: int = 0
    epoch: int = 0  # last finished epoch
    eta_s: float | None = None
    elapsed_s: float = 0.0
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    val: list[tuple[int, float, float]] = field(default_factory=list)  # (epoch, pixel accuracy, mean IoU)
    class_iou: dict[str, float | None] = field(default_factory=dict)  # latest epoch
    best: dict | None = None
    best_path: str | None = None
    error: str | None = None

    def apply(self, event: ProgressEvent) -> None:
        d = event.data
        self.elapsed_s = float(d.get("time", self.elapsed_s) or 0.0)
        if event.kind == "start":
            self.total_steps, self.steps_per_epoch = int(d["total_steps"]), int(d["steps_per_epoch"])
            self.epochs = int((d.get("config") or {}).get("epochs") or 0)
            self.epoch = int(d.get("start_epoch") or 0)
            self.start_step = self.step = self.epoch * self.steps_per_epoch
        elif event.kind == "step":
            self.step = int(d["step"])
            self.losses.append((self.step, float(d["loss"])))
            self.eta_s = _number(d.get("eta"))
        elif event.kind == "epoch":
            self.epoch, self.epochs = int(d["epoch"]), int(d["epochs"])
            self.step = max(self.step, self.epoch * self.steps_per_epoch)
            self.eta_s = _number(d.get("eta"))
            val = d.get("val") or None
            if val:
                self.val.append((self.epoch, float(val["pixel_accuracy"]), float(val["mean_iou"] or 0.0)))
                self.class_iou = {k: (v or {}).get("iou") for k, v in (val.get("per_class") or {}).items()}
            if d.get("best"):
                self.best = dict(val or {}, epoch=self.epoch)
        elif event.kind == "done":
            self.best_path = d.get("best_path")
            self.best = d.get("best_val") or self.best
            self.eta_s = 0.0
        elif event.kind == "error":
            self.error = str(d.get("message"))

    def epoch_fraction(self) -> float:
        """Share of the current epoch's steps done (0..1)."""
        if not self.steps_per_epoch:
            return 0.0
        in_epoch = self.step - self.epoch * self.steps_per_epoch
        return min(1.0, max(0.0, in_epoch / self.steps_per_epoch))

    def run_fraction(self) -> float:
        """Share of all steps of the run done (0..1)."""
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def val_figures(*, val: dict | None) -> str:
    """``val mIoU 0.3113, pixel accuracy 0.6863`` from an ``epoch`` event's or a card's val metrics."""
    if not val:
        return "no val split"

    def score(v) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    return f"val mIoU {score(val.get('mean_iou'))}, pixel accuracy {score(val.get('pixel_accuracy'))}"


def event_log_line(*, event: ProgressEvent, progress: RunProgress) -> str | None:
    """The training log's line for ``event`` (already applied to ``progress``); None when it has none."""
    p, d = progress, event.data
    if event.kind == "start":
        return (f"Training on {d.get('frames')} frames, validating on {d.get('val_frames')}; "
                f"{p.steps_per_epoch} steps per epoch, {p.epochs} epochs, starting at epoch {p.epoch + 1}.")
    if event.kind == "epoch":
        val = d.get("val") or {}
        figures = f", {val_figures(val=val)}" if val else ""
        return f"Epoch {p.epoch}/{p.epochs}: loss {float(d.get('loss') or 0):.4f}{figures}{'  (best so far)' if d.get('best') else ''}"
    if event.kind == "done":
        return f"Done. Best checkpoint: {d.get('best_path')}"
    if event.kind == "error":
        return f"Error: {p.error}"
    return None


def parse_progress_line(*, line: str | bytes) -> ProgressEvent | None:
    """One stdout line -> an event; None for a blank line; kind "malformed" for anything else."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    text = line.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return ProgressEvent("malformed", {"line": text, "reason": "not JSON"})
    if not isinstance(data, dict) or data.get("event") not in EVENTS:
        kind = data.get("event") if isinstance(data, dict) else None
        return ProgressEvent("malformed", {"line": text, "reason": f"unknown event {kind!r}"})
    missing = [k for k in EVENTS[data["event"]] if k not in data]
    if missing:
        return ProgressEvent("malformed", {"line": text, "reason": f"{data['event']} event without {', '.join(missing)}"})
    numbers = {"step": ("epoch", "step", "loss"), "epoch": ("epoch", "epochs"), "start": ("total_steps", "steps_per_epoch")}
    for key in numbers.get(data["event"], ()):
        if not isinstance(data[key], (int, float)) or isinstance(data[key], bool) or not math.isfinite(data[key]):
            return ProgressEvent("malformed", {"line": text, "reason": f"{data['event']} event: {key} is not a number"})
    return ProgressEvent(data["event"], data)


def format_duration(*, seconds: float | None) -> str:
    """``73`` -> ``1:13``, ``3725`` -> ``1:02:05``; None -> ``--:--``."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = int(max(0.0, seconds) + 0.5)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
