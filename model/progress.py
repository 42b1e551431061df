"""Training progress: readable tqdm bars, or one JSON object per line for the GUI."""

from __future__ import annotations

__all__ = ["ProgressReporter"]

import json
import sys
import time


class ProgressReporter:
    """Reports start, steps, epochs and completion; ``json`` mode writes them to stdout."""

    def __init__(self, mode: str = "text", *, enabled: bool = True, stream=None) -> None:
        if mode not in ("text", "json"):
            raise ValueError(f"unknown progress mode {mode!r} (text, json)")
        self.mode = mode
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self._bar = None
        self._t0 = time.monotonic()
        self._total_steps = 0
        self._done_steps = 0
        self._step0 = 0

    def _emit(self, event: str, **fields) -> None:
        if self.enabled and self.mode == "json":
            fields = {"event": event, "time": round(time.monotonic() - self._t0, 3), **fields}
            self.stream.write(json.dumps(fields) + "\n")
            self.stream.flush()

    def _eta(self, step: int) -> float | None:
        done = step - self._step0
        if done <= 0:
            return None
        return (time.monotonic() - self._t0) / done * (self._total_steps - step)

    def start(self, **fields) -> None:
        self._total_steps = fields.get("total_steps", 0)
        self._step0 = fields.get("start_epoch", 0) * fields.get("steps_per_epoch", 0)
        self._emit("start", **fields)
        if self.enabled and self.mode == "text":
            print(f"training on {fields.get('frames')} frames, validating on {fields.get('val_frames')}", file=sys.stderr)

    def epoch_start(self, *, epoch: int, epochs: int, steps: int) -> None:
        if self.enabled and self.mode == "text":
            from tqdm import tqdm

            self._bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="step", file=sys.stderr, dynamic_ncols=True)

    def step(self, *, epoch: int, step: int, loss: float, lr: float) -> None:
        self._emit("step", epoch=epoch, step=step, loss=round(loss, 5), lr=lr, eta=self._eta(step))
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")

    def epoch_end(self, *, epoch: int, epochs: int, loss: float, val: dict | None, best: bool, elapsed: float, eta) -> None:
        self._emit("epoch", epoch=epoch, epochs=epochs, loss=loss, val=val, best=best, elapsed=elapsed, eta=eta)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.enabled and self.mode == "text":
            v = "" if not val else f"  val acc {val['pixel_accuracy']:.4f}  mIoU {val['mean_iou']:.4f}"
            print(f"epoch {epoch}/{epochs}  loss {loss:.4f}{v}{'  (best)' if best else ''}  elapsed {elapsed:.0f}s", file=sys.stderr)

    def done(self, **fields) -> None:
        self._emit("done", **fields)
        if self.enabled and self.mode == "text":
            print(f"best checkpoint: {fields.get('best_path')}", file=sys.stderr)

    def error(self, message: str) -> None:
        self._emit("error", message=message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
