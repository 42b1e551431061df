"""The analysis dock: whole-source evaluation, both aggregations, worst frames, confusion, pixels.

A view of the window's :class:`~camvid_viewer.session.ViewerSession`. "Evaluate source"
runs :func:`camvid_viewer.analysis.evaluation.evaluate_path` on a worker thread (``BackgroundCall``;
progress, cancel, the window stays usable), taking turns with playback on the model through
the bridge's ``MODEL_LOCK``. The metrics timeline lives in its own bottom dock
(``timeline_dock``) so it sits under the playback slider; the Pixels tab is
:class:`~camvid_viewer.ui.pixel_view.PixelAnalysisView`.

Integration (one line in ``MainWindow.__init__`` after ``self._wire()``)::

    install_analysis(self)
"""

from __future__ import annotations

__all__ = ["AnalysisDock", "install_analysis"]

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import (
    QCheckBox,
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
from camvid_viewer.analysis.live import MODEL_LOCK
from camvid_viewer.analysis.summaries import label_choices
from camvid_viewer.analysis.temporal import TemporalSmoother
from camvid_viewer.session import ViewerSession, format_score
from camvid_viewer.ui.background import BackgroundCall
from camvid_viewer.ui.confusion_view import ConfusionMatrixView
from camvid_viewer.ui.pixel_view import PixelAnalysisView
from camvid_viewer.ui.throttle import TIMELINE_INTERVAL_MS, DisplayRefresh
from camvid_viewer.ui.timeline import MetricsTimeline
from camvid_viewer.ui.worst_frames import WorstFramesView
from model.pair import first_of


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
        for part in (self._build_run(), self._build_smoothing(), self._build_figures()):
            layout.addLayout(part)
        self.status = QLabel("Not evaluated yet")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addWidget(self._build_tabs(session), 1)
        layout.addLayout(self._build_exports())
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
        # The playhead and the model's own signals of the frames played (no truth needed) follow
        # playback in one repaint, at a plot's display rate, and not at all while the timeline is hidden.
        self._live_changed = False
        self.timeline_refresh = DisplayRefresh(self._refresh_timeline, session, self.timeline, interval_ms=TIMELINE_INTERVAL_MS)
        self.timeline_dock.visibilityChanged.connect(self.timeline_refresh.shown)
        session.events.metrics.connect(self._signals_changed)
        session.events.index.connect(lambda _index: self.timeline_refresh.request())
        session.events.source.connect(self._source_changed)
        session.events.model.connect(self._model_changed)
        self._offer_classes()

    # -- layout -------------------------------------------------------------------------------
    def _build_run(self) -> QHBoxLayout:
        """Evaluate, Cancel and the progress bar."""
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
        return run

    def _build_smoothing(self) -> QHBoxLayout:
        """The temporal smoothing toggle, its new-frame weight and motion following."""
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
        return smooth

    def _build_figures(self) -> QHBoxLayout:
        """The two aggregations side by side, each saying what it is."""
        figures = QHBoxLayout()
        self.pooled = _Figures("Pooled over all frames", "One confusion matrix summed over every frame, then IoU "
                               "(the CamVid convention; equals `main.py eval`).")
        self.mean = _Figures("Mean of per-frame scores", "Each frame scored alone, then averaged; frames where a class "
                             "is absent do not count for it.")
        figures.addWidget(self.pooled)
        figures.addWidget(self.mean)
        return figures

    def _build_tabs(self, session: ViewerSession) -> QTabWidget:
        """Worst frames, confusion matrix and pixels."""
        self.tabs = QTabWidget()
        self.worst = WorstFramesView()
        self.confusion = ConfusionMatrixView()
        self.pixels = PixelAnalysisView(session)
        self.tabs.addTab(self.worst, "Worst frames")
        self.tabs.addTab(self.confusion, "Confusion")
        self.tabs.addTab(self.pixels, "Pixels")
        self.tabs.currentChanged.connect(lambda _i: self.pixels.refresh())
        return self.tabs

    def _build_exports(self) -> QHBoxLayout:
        """The per-frame CSV and summary JSON buttons (enabled once there is an evaluation)."""
        exports = QHBoxLayout()
        self.csv_button = QPushButton("Export per-frame CSV...")
        self.json_button = QPushButton("Export summary JSON...")
        self.csv_button.clicked.connect(lambda: self.export_csv())
        self.json_button.clicked.connect(lambda: self.export_json())
        for w in (self.csv_button, self.json_button):
            w.setEnabled(False)
            exports.addWidget(w)
        return exports

    def _signals_changed(self) -> None:
        self._live_changed = True
        self.timeline_refresh.request()

    def _refresh_timeline(self) -> None:
        if self._live_changed:
            self._live_changed = False
            self.timeline.set_live(self.session.signals, self.session.frame_count)
            self.worst.set_signals(self.session.signals)
        self.timeline.set_current_index(self.session.index)

    # -- evaluation ---------------------------------------------------------------------------
    def _smoothing_key(self):
        return (round(self.alpha.value(), 3), self.flow.isChecked()) if self.smoothing.isChecked() else None

    def evaluation_model(self):
        """A fresh model for the evaluation: the viewer's own smoother keeps its running state."""
        model = first_of(self.session.model)  # while comparing: model A (the pair would run B too, unscored)
        base = model.segmenter if isinstance(model, TemporalSmoother) else model
        key = self._smoothing_key()
        if key is not None:
            base = TemporalSmoother(base, alpha=key[0], flow=key[1])
        return analysis.SerialisedSegmenter(base, MODEL_LOCK)

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
        call = BackgroundCall(analysis.evaluate_path, str(s.source.path), s.truth, self.evaluation_model(),
                              label_set=s.scored_set, cache_dir=self.cache_dir)
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
            classes = self.session.scored_set
            self.confusion.set_matrix(None, class_names=classes.names, ignore_index=classes.void_index)
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
        self._offer_classes()

    def _offer_classes(self) -> None:
        """The class pickers list the session's classes before any evaluation exists."""
        choices = label_choices(self.session.scored_set)
        if choices:
            for view in (self.timeline, self.worst):
                view.offer_classes(choices)

    # -- smoothing ----------------------------------------------------------------------------
    def apply_smoothing(self, on: bool | None = None) -> None:
        """Wrap (or unwrap) the viewer's model in a TemporalSmoother (while comparing, model A: the
        comparison pairs the result with B again)."""
        model = first_of(self.session.model)
        if model is None:
            return
        base = model.segmenter if isinstance(model, TemporalSmoother) else model
        wanted = TemporalSmoother(base, alpha=self.alpha.value(), flow=self.flow.isChecked()) \
            if self.smoothing.isChecked() else base
        if wanted is not model:
            self.session.set_model(wanted, self.session.model_path)
            self.model_replaced.emit()

    def _model_changed(self) -> None:
        self._offer_classes()
        # A newly loaded model (device/backend change) keeps the smoothing the user chose.
        if self.smoothing.isChecked() and not isinstance(first_of(self.session.model), TemporalSmoother):
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
    # One "flicker after motion compensation" choice: the live figure and the timeline's curves.
    dock.timeline.compensated.toggled.connect(window.metrics_dock.motion_box.setChecked)
    window.metrics_dock.motion_box.toggled.connect(dock.timeline.compensated.setChecked)
    window.analysis_dock = dock
    return dock
