"""The analysis dock: whole-source evaluation, both aggregations, worst frames, confusion, pixels.

A view of the window's :class:`~camvid_viewer.session.ViewerSession`. "Evaluate source"
runs :func:`camvid_viewer.analysis.evaluate_path` on a worker thread (``BackgroundCall``
from the bridge module; progress, cancel, the window stays usable). The metrics timeline
lives in its own bottom dock (``timeline_dock``) so it sits under the playback slider.

Integration (one line in ``MainWindow.__init__`` after ``self._wire()``)::

    install_analysis(self)
"""

from __future__ import annotations

__all__ = ["AnalysisDock", "PixelAnalysisView", "install_analysis"]

import numpy as np
from PyQt6.QtCore import QRect, Qt, pyqtSignal
from PyQt6.QtGui import QAction, QPainter
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer import analysis
from camvid_viewer.analysis_render import confidence_heatmap, error_split, hover_readout
from camvid_viewer.session import ViewerSession, format_score
from camvid_viewer.ui import workers
from camvid_viewer.ui.canvas import bgr_to_qimage, fit_rect
from camvid_viewer.ui.confusion_view import ConfusionMatrixView
from camvid_viewer.ui.timeline import MetricsTimeline
from camvid_viewer.ui.worst_frames import WorstFramesView

# The bridge serialises model calls with this lock; the evaluation takes turns with playback.
_MODEL_LOCK = getattr(workers, "MODEL_LOCK", None) or getattr(workers, "_MODEL_LOCK", None)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


class _Figures(QGroupBox):
    """mIoU and pixel accuracy under a title that says which aggregation they are."""

    def __init__(self, title: str, meaning: str) -> None:
        super().__init__(title)
        self.setToolTip(meaning)
        grid = QGridLayout(self)
        self.mean_iou, self.pixel_accuracy = QLabel("n/a"), QLabel("n/a")
        for column, (value, caption) in enumerate(((self.mean_iou, "mIoU"), (self.pixel_accuracy, "pixel acc."))):
            font = value.font()
            font.setPointSize(16)
            font.setBold(True)
            value.setFont(font)
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(value, 0, column)
            grid.addWidget(QLabel(caption, alignment=Qt.AlignmentFlag.AlignCenter), 1, column)
        note = QLabel(meaning)
        note.setWordWrap(True)
        note.setStyleSheet("color: #555; font-size: 9pt")
        grid.addWidget(note, 2, 0, 1, 2)

    def show_scores(self, mean_iou: float | None, pixel_accuracy: float | None) -> None:
        self.mean_iou.setText(format_score(mean_iou))
        self.pixel_accuracy.setText(format_score(pixel_accuracy))


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
        session.events.result.connect(lambda _r: self.refresh())

    @property
    def mode(self) -> str:
        return str(self.mode_box.currentData())

    def refresh(self) -> None:
        result = self.session.result
        if result is None or result.labels is None or not self.isVisible():
            self.view.set_image(None if result is None else result.frame)
            return
        if self.mode == "error":
            if result.truth is None:
                self.readout.setText("No truth for this frame: the error view needs an annotation")
                self.view.set_image(result.frame)
                return
            self.view.set_image(error_split(result.frame, result.labels, result.truth, palette_bgr=self.session.palette_bgr))
            return
        if self._confidence_for != id(result):
            self._request_confidence(result)
            return
        values = self.confidence if self.mode == "confidence" else self.entropy
        self.view.set_image(confidence_heatmap(result.frame, values, opacity=0.65, measure=self.mode))

    def _request_confidence(self, result) -> None:
        model = self.session.model
        if isinstance(model, analysis.TemporalSmoother):
            model = model.segmenter  # calling the smoother here would feed it the same frame twice
        if model is None or self._busy:
            return  # _confidence_ready asks again for whatever result is current then
        self._busy = True
        call = workers.BackgroundCall(analysis.pixel_confidence, model, result.frame, lock=_MODEL_LOCK)
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
        text = hover_readout(x, y, result.labels, result.truth, confidence, self.session.class_names)
        if text:
            self.readout.setText(text)


class AnalysisDock(QDockWidget):
    """Evaluate the whole source; show pooled vs mean-of-frames, worst frames, confusion, pixels."""

    seek_requested = pyqtSignal(int)
    evaluation_ready = pyqtSignal(object)  # SourceEvaluation
    model_replaced = pyqtSignal()  # the smoothing toggle swapped session.model

    def __init__(self, session: ViewerSession, parent=None, *, cache_dir=None) -> None:
        super().__init__("Analysis", parent)
        self.setObjectName("analysis_dock")
        self.session = session
        self.cache_dir = cache_dir
        self.evaluation: analysis.SourceEvaluation | None = None
        self._by_smoothing: dict = {}  # smoothing setting -> last evaluation of this source
        self._call = None
        body = QWidget()
        layout = QVBoxLayout(body)
        run = QHBoxLayout()
        self.evaluate_button = QPushButton("Evaluate source")
        self.evaluate_button.setToolTip("Run the model over every labelled frame (in the background, cached)")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        for w in (self.evaluate_button, self.cancel_button):
            run.addWidget(w)
        run.addWidget(self.progress, 1)
        layout.addLayout(run)
        smooth = QHBoxLayout()
        self.smoothing = QCheckBox("Temporal smoothing")
        self.smoothing.setToolTip("Average class probabilities over consecutive frames (less flicker)")
        self.alpha = QDoubleSpinBox(minimum=0.1, maximum=1.0, singleStep=0.1, value=0.5, prefix="new frame weight ")
        self.flow = QCheckBox("follow motion")
        self.flow.setChecked(True)  # on the CamVid val clip it lifts mIoU where plain averaging smears
        self.flow.setToolTip("Move the running average along the optical flow before blending")
        for w in (self.smoothing, self.alpha, self.flow):
            smooth.addWidget(w)
        smooth.addStretch(1)
        self.smoothing.toggled.connect(self.apply_smoothing)
        layout.addLayout(smooth)
        figures = QHBoxLayout()
        self.pooled = _Figures("Pooled over all frames", "One confusion matrix summed over every frame, then IoU "
                               "(the CamVid convention; equals `main.py eval`).")
        self.mean = _Figures("Mean of per-frame scores", "Each frame scored alone, then averaged; frames where a class "
                             "is absent do not count for it.")
        figures.addWidget(self.pooled)
        figures.addWidget(self.mean)
        layout.addLayout(figures)
        self.status = QLabel("Not evaluated yet")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.tabs = QTabWidget()
        self.worst = WorstFramesView()
        self.confusion = ConfusionMatrixView()
        self.pixels = PixelAnalysisView(session)
        self.tabs.addTab(self.worst, "Worst frames")
        self.tabs.addTab(self.confusion, "Confusion")
        self.tabs.addTab(self.pixels, "Pixels")
        self.tabs.currentChanged.connect(lambda _i: self.pixels.refresh())
        layout.addWidget(self.tabs, 1)
        exports = QHBoxLayout()
        self.csv_button = QPushButton("Export per-frame CSV...")
        self.json_button = QPushButton("Export summary JSON...")
        self.csv_button.clicked.connect(lambda: self.export_csv())
        self.json_button.clicked.connect(lambda: self.export_json())
        for w in (self.csv_button, self.json_button):
            w.setEnabled(False)
            exports.addWidget(w)
        layout.addLayout(exports)
        scroll = QScrollArea()  # a crowded dock area scrolls instead of overlapping the views
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        body.setMinimumHeight(560)
        self.setWidget(scroll)

        self.timeline = MetricsTimeline()
        self.timeline_dock = QDockWidget("Metrics timeline", parent)
        self.timeline_dock.setObjectName("timeline_dock")
        self.timeline_dock.setWidget(self.timeline)
        for view in (self.timeline, self.worst):
            view.seek_requested.connect(self.seek_requested)
        session.events.index.connect(self.timeline.set_current_index)
        session.events.source.connect(self._source_changed)
        session.events.model.connect(self._model_changed)

    # -- evaluation ---------------------------------------------------------------------------
    def _smoothing_key(self):
        return (round(self.alpha.value(), 3), self.flow.isChecked()) if self.smoothing.isChecked() else None

    def evaluation_model(self):
        """A fresh model for the evaluation: the viewer's own smoother keeps its running state."""
        model = self.session.model
        base = model.segmenter if isinstance(model, analysis.TemporalSmoother) else model
        key = self._smoothing_key()
        if key is not None:
            base = analysis.TemporalSmoother(base, alpha=key[0], flow=key[1])
        return analysis.SerialisedSegmenter(base, _MODEL_LOCK) if _MODEL_LOCK is not None else base

    def evaluate(self) -> None:
        s = self.session
        problem = ("Open a source first" if s.source is None else "Load a model first" if s.model is None
                   else "This source has no ground truth" if s.truth is None or not len(s.truth.labelled_indices)
                   else "A live stream cannot be evaluated" if s.source.is_live else None)
        if problem:
            self.status.setText(problem)
            return
        if self._call is not None:
            return
        self.evaluate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, max(1, len(s.truth.labelled_indices)))
        self.progress.setValue(0)
        self.status.setText("Evaluating...")
        key = self._smoothing_key()
        call = workers.BackgroundCall(analysis.evaluate_path, str(s.source.path), s.truth, self.evaluation_model(),
                                      cache_dir=self.cache_dir)
        call.progress.connect(self._progressed)
        call.done.connect(lambda ev, k=key, source=s.source: self._evaluated(ev, k, source))
        call.failed.connect(lambda text: self.status.setText(f"Evaluation failed: {text}"))
        call.finished.connect(self._finished)
        self._call = call
        call.start()

    def cancel(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self.status.setText("Cancelling...")

    @property
    def busy(self) -> bool:
        return self._call is not None

    def _progressed(self, args) -> None:
        done, total = args
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _finished(self) -> None:
        self._call = None
        self.evaluate_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _evaluated(self, evaluation, key, source) -> None:
        if source is not self.session.source:
            return  # the user opened something else meanwhile
        self._by_smoothing[key] = evaluation
        self.set_evaluation(evaluation)

    def set_evaluation(self, evaluation: analysis.SourceEvaluation | None) -> None:
        """Show ``evaluation`` in every view (None clears them)."""
        self.evaluation = evaluation
        has = evaluation is not None and len(evaluation) > 0
        for w in (self.csv_button, self.json_button):
            w.setEnabled(has)
        self.timeline.set_evaluation(evaluation)
        self.timeline.set_current_index(self.session.index)
        self.worst.set_evaluation(evaluation)
        if not has:
            self.pooled.show_scores(None, None)
            self.mean.show_scores(None, None)
            self.confusion.set_matrix(None)
            return
        pooled, mean = analysis.pooled_scores(evaluation), analysis.mean_of_frames(evaluation)
        self.pooled.show_scores(pooled.mean_iou, pooled.pixel_accuracy)
        self.mean.show_scores(mean.mean_iou, mean.pixel_accuracy)
        self.confusion.set_matrix(evaluation.matrices.sum(axis=0), class_names=evaluation.class_names,
                                  ignore_index=evaluation.ignore_index)
        self.status.setText(self._describe(evaluation))
        self.evaluation_ready.emit(evaluation)

    def _describe(self, ev) -> str:
        lines = [f"{len(ev)} frames{' (from cache)' if ev.from_cache else ''}{'' if ev.complete else ' (cancelled: partial)'}"
                 f" - {ev.model_name}",
                 f"Flicker (pixels changing label per frame): prediction {_pct(ev.flicker_total())}, "
                 f"{_pct(ev.flicker_total(compensated=True))} after motion compensation; "
                 f"truth {_pct(ev.truth_change_total())} / {_pct(ev.truth_change_total(compensated=True))}"]
        if ev.skipped:
            lines.append(f"{len(ev.skipped)} frames skipped, first: {ev.skipped[0]}")
        off = self._by_smoothing.get(None)
        on = next((v for k, v in self._by_smoothing.items() if k is not None), None)
        if off is not None and on is not None:
            lines.append(f"Smoothing effect: flicker {_pct(off.flicker_total())} -> {_pct(on.flicker_total())}, "
                         f"pooled mIoU {format_score(analysis.pooled_scores(off).mean_iou)} -> "
                         f"{format_score(analysis.pooled_scores(on).mean_iou)}")
        return "\n".join(lines)

    def _source_changed(self) -> None:
        self.cancel()
        self._by_smoothing.clear()
        self.set_evaluation(None)
        self.status.setText("Not evaluated yet")

    # -- smoothing ----------------------------------------------------------------------------
    def apply_smoothing(self, on: bool | None = None) -> None:
        """Wrap (or unwrap) the viewer's model in a TemporalSmoother."""
        model = self.session.model
        if model is None:
            return
        base = model.segmenter if isinstance(model, analysis.TemporalSmoother) else model
        wanted = analysis.TemporalSmoother(base, alpha=self.alpha.value(), flow=self.flow.isChecked()) \
            if self.smoothing.isChecked() else base
        if wanted is not model:
            self.session.set_model(wanted, self.session.model_path)
            self.model_replaced.emit()

    def _model_changed(self) -> None:
        # A newly loaded model (device/backend change) keeps the smoothing the user chose.
        if self.smoothing.isChecked() and not isinstance(self.session.model, analysis.TemporalSmoother):
            self.apply_smoothing()

    # -- exports ------------------------------------------------------------------------------
    def export_csv(self, path: str | None = None) -> str | None:
        return self._export(path, "per-frame table", "CSV (*.csv)", ".csv", analysis.write_frame_csv)

    def export_json(self, path: str | None = None) -> str | None:
        return self._export(path, "summary", "JSON (*.json)", ".json", analysis.write_summary_json)

    def _export(self, path, what, filter_, suffix, writer) -> str | None:
        if self.evaluation is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, f"Export {what}", f"analysis{suffix}", filter_)
            if not path:
                return None
        try:
            writer(path, self.evaluation)
        except OSError as exc:
            self.status.setText(f"{path}: cannot write ({exc.strerror or exc})")
            return None
        self.status.setText(f"Wrote the {what} to {path}")
        return str(path)


def install_analysis(window, *, cache_dir=None) -> AnalysisDock:
    """Add the analysis dock (right), the metrics timeline (bottom) and an Analysis menu to ``window``.

    Uses the main window's hooks: ``session``, ``add_dock(dock, area)``, ``seek(index)``,
    ``restart()`` and ``menuBar()``.
    """
    dock = AnalysisDock(window.session, window, cache_dir=cache_dir)
    window.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea)
    window.add_dock(dock.timeline_dock, Qt.DockWidgetArea.BottomDockWidgetArea)
    dock.seek_requested.connect(window.seek)
    dock.model_replaced.connect(window.restart)
    menu = window.menuBar().addMenu("&Analysis")
    for text, slot, shortcut in (("&Evaluate source", dock.evaluate, "Ctrl+E"), ("&Cancel evaluation", dock.cancel, None),
                                 ("Export per-frame &CSV...", dock.export_csv, None),
                                 ("Export summary &JSON...", dock.export_json, None)):
        action = QAction(text, window)
        if shortcut:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False, f=slot: f())
        menu.addAction(action)
    smoothing = QAction("&Temporal smoothing", window, checkable=True)
    smoothing.toggled.connect(dock.smoothing.setChecked)
    dock.smoothing.toggled.connect(smoothing.setChecked)
    menu.addAction(smoothing)
    window.analysis_dock = dock
    return dock
