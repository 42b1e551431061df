"""The status bar: display fps, model ms/frame, device / backend / precision, dropped frames, model name and val mIoU."""

from __future__ import annotations

__all__ = ["StatusLine", "card_figure", "runtime_text"]

import time

from PyQt6.QtWidgets import QLabel

from camvid_viewer.session import ViewerSession, format_score
from camvid_viewer.ui.throttle import DisplayRefresh


def runtime_text(model) -> str:
    """What runs: ``cpu / onnx / int8`` (a model without ``precision``: ``cpu / torch``; the
    accurate mode adds ``/ accurate``)."""
    mode = getattr(model, "mode", "fast")
    parts = (model.device, model.backend, getattr(model, "precision", None), mode if mode != "fast" else None)
    return " / ".join(str(part) for part in parts if part)


class StatusLine:
    """Permanent labels on a ``QStatusBar``; ``showMessage`` stays free for one-line notes."""

    def __init__(self, statusbar, session: ViewerSession) -> None:
        self.statusbar = statusbar
        self.session = session
        self.labels = {}
        for key in ("fps", "model_ms", "device", "dropped", "model"):
            label = QLabel()
            label.setObjectName(f"status_{key}")
            statusbar.addPermanentWidget(label)
            self.labels[key] = label
        self._last_shown: float | None = None
        self.display_fps: float | None = None
        self.model_ms: float | None = None
        self.display = DisplayRefresh(self._show_rates, session, statusbar)  # the labels change at display rate
        session.events.model.connect(self._model_changed)
        session.events.dropped.connect(self._dropped_changed)
        session.events.source.connect(self._source_changed)
        self._model_changed()
        self._source_changed()
        self._show_rates()

    def frame_shown(self, result) -> None:
        """Call once per painted result: updates the smoothed display fps and model time (shown at display rate)."""
        now = time.perf_counter()
        if self.session.playing and self._last_shown is not None:
            gap = now - self._last_shown
            if gap > 0:
                fps = 1.0 / gap
                self.display_fps = fps if self.display_fps is None else 0.8 * self.display_fps + 0.2 * fps
        self._last_shown = now if self.session.playing else None
        if result.model_ms is not None:
            ms = result.model_ms
            self.model_ms = ms if self.model_ms is None else 0.8 * self.model_ms + 0.2 * ms
        self.display.request()

    def _show_rates(self) -> None:
        self.labels["fps"].setText("display -- fps" if self.display_fps is None else f"display {self.display_fps:.1f} fps")
        self.labels["model_ms"].setText("model -- ms" if self.model_ms is None else f"model {self.model_ms:.0f} ms/frame")
        self.labels["dropped"].setText(f"dropped {self.session.dropped}")

    def _source_changed(self) -> None:
        self.display_fps = None
        self._last_shown = None
        self.labels["fps"].setText("display -- fps")

    def _model_changed(self) -> None:
        model = self.session.model
        self.model_ms = None
        self.labels["model_ms"].setText("model -- ms")
        if model is None:
            self.labels["device"].setText("")
            self.labels["model"].setText("no model")
            return
        self.labels["device"].setText(runtime_text(model))  # what runs, e.g. "cpu / onnx / int8"
        card = getattr(model, "card", None) or {}
        self.labels["model"].setText(f"{model.name}  ({card_figure(card)})")

    def _dropped_changed(self, _dropped: int) -> None:
        self.display.request()


def card_figure(card: dict) -> str:
    """The figure a model's card gives for it: val mIoU, or, when it trained on val too, its
    recipe's mIoU on a drive held out of training (what a user's own footage is like)."""
    folds = card.get("recipe_folds") or []
    if card.get("val_trained_on") and folds:
        scores = [f["held_out_metrics"]["mean_iou"] for f in folds if (f.get("held_out_metrics") or {}).get("mean_iou") is not None]
        if scores:
            return f"unseen-drive mIoU {format_score(sum(scores) / len(scores))}"
    val = card.get("val_metrics") or {}
    miou = val.get("mean_iou") if isinstance(val, dict) else None
    return f"val mIoU {format_score(miou)}" + (", trained on" if card.get("val_trained_on") else "")
