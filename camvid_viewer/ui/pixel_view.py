"""The analysis dock's Pixels tab: where the model is wrong or unsure on the current frame.

Shows the frame as an error split (missed | false alarms) or a confidence / entropy heat
map, with a readout of true class, predicted class and confidence under the cursor. The
class probabilities come from one extra model call (``pixel_confidence``) on a
``BackgroundCall`` thread, holding the bridge's ``MODEL_LOCK`` so it takes turns with playback.
During playback it follows the current frame at display rate, and not at all while hidden
(it catches up when shown).
"""

from __future__ import annotations

__all__ = ["PixelAnalysisView"]

import numpy as np
from PyQt6.QtCore import QRect, Qt, pyqtSignal
from PyQt6.QtGui import QPainter
from PyQt6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from camvid_viewer.analysis import pixel_confidence
from camvid_viewer.analysis.live import MODEL_LOCK
from camvid_viewer.analysis.pixel_views import confidence_heatmap, error_split, hover_readout
from camvid_viewer.analysis.temporal import TemporalSmoother
from camvid_viewer.session import ViewerSession
from camvid_viewer.ui.background import BackgroundCall
from camvid_viewer.ui.canvas import bgr_to_qimage, fit_rect
from camvid_viewer.ui.throttle import DisplayRefresh
from model.class_mapping import scored_labels


class _ImageView(QWidget):
    """A BGR image scaled to fit; reports the image pixel under the mouse."""

    hovered = pyqtSignal(int, int)

    def __init__(self) -> None:
        super().__init__()
        self.image = None
        self.setMouseTracking(True)
        self.setMinimumSize(240, 160)

    def set_image(self, image: np.ndarray | None) -> None:
        self.image = None if image is None else bgr_to_qimage(image)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.darkGray)
        if self.image is not None:
            x, y, w, h = fit_rect(image_size=(self.image.width(), self.image.height()), area=(self.width(), self.height()))
            painter.drawImage(QRect(x, y, w, h), self.image)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.image is None:
            return
        x, y, w, h = fit_rect(image_size=(self.image.width(), self.image.height()), area=(self.width(), self.height()))
        p = event.position()
        if w and h:
            self.hovered.emit(int((p.x() - x) * self.image.width() / w), int((p.y() - y) * self.image.height() / h))


class PixelAnalysisView(QWidget):
    """The current frame as an error split (missed | false alarms) or a confidence/entropy heat map,
    with a readout of true class, predicted class and confidence under the cursor."""

    MODES = {"error": "Errors: missed (true class) | false alarms (predicted class)",
             "confidence": "Confidence: winning class probability", "entropy": "Uncertainty: entropy"}

    def __init__(self, session: ViewerSession) -> None:
        super().__init__()
        self.session = session
        self.confidence: np.ndarray | None = None
        self.entropy: np.ndarray | None = None
        self._confidence_for: int | None = None  # id() of the result the confidence belongs to
        self._busy = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.mode_box = QComboBox()
        for key, text in self.MODES.items():
            self.mode_box.addItem(text, key)
        self.mode_box.currentIndexChanged.connect(self.refresh)
        layout.addWidget(self.mode_box)
        self.view = _ImageView()
        self.view.hovered.connect(self.show_readout)
        layout.addWidget(self.view, 1)
        self.readout = QLabel("Hover the image for true class, predicted class and confidence")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.readout)
        self.display = DisplayRefresh(self.refresh, session, self)
        session.events.result.connect(lambda _r: self.display.request())

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.refresh()  # it skipped every frame while hidden

    @property
    def mode(self) -> str:
        return str(self.mode_box.currentData())

    def refresh(self) -> None:
        result = self.session.result
        if not self.isVisible():
            return  # no work while hidden: showEvent refreshes
        if result is None or result.labels is None:
            self.view.set_image(None if result is None else result.frame)
            return
        if self.mode == "error":
            if result.truth is None:
                self.readout.setText("No truth for this frame: the error view needs an annotation")
                self.view.set_image(result.frame)
                return
            labels, classes = scored_labels(self.session.model, result.labels), self.session.scored_set  # as scored
            self.view.set_image(error_split(result.frame, labels, result.truth, palette_bgr=classes.palette_bgr,
                                            void_index=classes.void_index))
            return
        if self._confidence_for != id(result):
            self._request_confidence(result)
            return
        values = self.confidence if self.mode == "confidence" else self.entropy
        self.view.set_image(confidence_heatmap(result.frame, values, opacity=0.65, measure=self.mode))

    def _request_confidence(self, result) -> None:
        model = self.session.model
        if isinstance(model, TemporalSmoother):
            model = model.segmenter  # calling the smoother here would feed it the same frame twice
        if model is None or self._busy:
            return  # _confidence_ready asks again for whatever result is current then
        self._busy = True
        call = BackgroundCall(pixel_confidence, model, result.frame, lock=MODEL_LOCK)
        call.done.connect(lambda out, r=result: self._confidence_ready(r, out))
        call.failed.connect(self.readout.setText)
        call.finished.connect(lambda: setattr(self, "_busy", False))
        call.start()

    def _confidence_ready(self, result, out) -> None:
        _labels, self.confidence, self.entropy = out
        self._confidence_for = id(result)
        self._busy = False
        self.refresh()

    def show_readout(self, x: int, y: int) -> None:
        """Readout for image pixel (x, y) of the shown view (either half of the error split)."""
        result = self.session.result
        if result is None or result.labels is None:
            return
        w = result.labels.shape[1]
        if self.mode == "error" and x >= w + 4:
            x -= w + 4  # right half of the split shows the same pixels
        confidence = self.confidence if self._confidence_for == id(result) else None
        labels, classes = scored_labels(self.session.model, result.labels), self.session.scored_set  # named as scored
        text = hover_readout(x, y, labels, result.truth, confidence, classes.names, void_index=classes.void_index)
        if text:
            self.readout.setText(text)
