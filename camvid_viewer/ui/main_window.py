"""The main window: assembles the canvas, docks, menus and status bar around one ViewerSession.

Hook points for other parts of the app:
- ``window.session``: the current source, truth, model, index, result (frame, prediction,
  truth) and scores; subscribe to ``window.session.events.<name>.connect(callback)``.
- ``window.add_dock(dock, area)`` adds a dock and its show/hide entry in the View menu.
- ``window.actions.menus["File"|"View"|"Playback"|"Model"]`` are the menus.
- ``window.open_path(path)``, ``window.load_model(path)``, ``window.seek(index)``;
  ``window.set_device|set_backend|set_precision(choice)`` reload the model (``ui/model_controls.py``).
- ``window.message`` (signal, str) carries every one-line problem shown to the user.
- ``window.restart()`` re-runs the current frame (after swapping ``session.model``).
- ``window.editor`` (``ui/edit_mode.py``): edit mode on the current frame; ``editor.may_leave()``
  asks before anything leaves a frame with unsaved label edits.
- Optional parts are found by module name and hidden/skipped when absent:
  ``ui/export_dialog.py`` (``ExportDialog(session, parent=window)``, run with ``exec()``),
  ``ui/train_dialog.py`` (``TrainDialog(window)`` emitting ``model_chosen(str)``),
  ``ui/analysis_dock.py`` (``install_analysis(window)``),
  ``ui/compare_controls.py`` (``install_comparison(window)``: Model > Compare with..., ``window.comparison``),
  ``ui/finetune_menu.py`` (``install_finetune(window)``: Model > Fine-tune on my labels..., ``window.finetune``).
"""

from __future__ import annotations

import importlib

__all__ = ["MainWindow"]

from pathlib import Path

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import (
    QDialog,
    QDockWidget,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.loaders import build_truth, open_source_with_truth
from camvid_viewer.messages import display_path
from camvid_viewer.session import ViewerSession
from camvid_viewer.ui.actions import ViewerActions, optional_module
from camvid_viewer.ui.background import BackgroundCall
from camvid_viewer.ui.canvas import FrameCanvas
from camvid_viewer.ui.edit_mode import install_editing
from camvid_viewer.ui.file_dialogs import FileDialogs
from camvid_viewer.ui.legend import LegendDock
from camvid_viewer.ui.metrics_dock import MetricsDock
from camvid_viewer.ui.model_controls import ModelControls
from camvid_viewer.ui.notice import NoticeBar
from camvid_viewer.ui.pipeline import InferencePipeline
from camvid_viewer.ui.playback_bar import PlaybackBar
from camvid_viewer.ui.playback_controls import PlaybackControls
from camvid_viewer.ui.settings import ViewerSettings
from camvid_viewer.ui.status import StatusLine
from camvid_viewer.ui.welcome import WelcomeView


class MainWindow(ModelControls, PlaybackControls, FileDialogs, QMainWindow):
    """The viewer window. ``model_path=None`` loads the shipped model; ``load_model=False`` loads none."""

    message = pyqtSignal(str)  # every problem reported to the user, one line
    source_opened = pyqtSignal(str)
    model_loaded = pyqtSignal(str)
    comparison = None  # two models side by side (ui/compare_controls.py), when installed
    finetune = None  # Model > Fine-tune on my labels... (ui/finetune_menu.py), when installed

    def __init__(self, *, settings: ViewerSettings | None = None, model_path: str | None = None,
                 load_model: bool = True, device: str = "auto", backend: str = "auto", precision: str = "auto") -> None:
        super().__init__()
        self.setWindowTitle("CamVid viewer")
        self.setAcceptDrops(True)
        self.settings = settings or ViewerSettings()
        self.session = ViewerSession()
        self.session.device_choice, self.session.backend_choice, self.session.precision_choice = device, backend, precision
        self.pipeline = InferencePipeline(self)
        self._calls: set[BackgroundCall] = set()
        self._open_request = 0  # the latest open asked for; an earlier one finishing later is dropped
        self._train_dialog = None
        self._laid_out = False
        self._build()
        self._restore_settings()
        self._wire()
        self._install_optional_parts()
        if self.settings.window_state() is not None:  # after every dock exists, so all find their place
            self.restoreState(self.settings.window_state())
        self._welcome_docks: list = []
        self._show_welcome(True)
        if load_model:
            self.load_model(model_path)
        else:
            self.welcome.set_model_text("No model loaded: open a checkpoint with Model > Open checkpoint")

    # -- assembly ---------------------------------------------------------------------------
    def _build(self) -> None:
        s = self.session
        self.canvas = FrameCanvas()
        self.notice = NoticeBar()
        self.welcome = WelcomeView()
        self.legend_dock = LegendDock(s, self)
        self.metrics_dock = MetricsDock(s, self)
        self.actions = ViewerActions(self)
        self.playback_bar = PlaybackBar(s, self.actions)
        viewer = QWidget()
        viewer_layout = QVBoxLayout(viewer)
        viewer_layout.setContentsMargins(0, 0, 0, 0)
        viewer_layout.addWidget(self.canvas, 1)
        viewer_layout.addWidget(self.playback_bar)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(viewer)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.notice)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        # The right column runs the full height; bottom docks (e.g. a timeline) sit under the canvas only.
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.metrics_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.legend_dock)
        self.actions.build_menus(self.menuBar())
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        for action in (self.actions.open_video, self.actions.open_folder, self.actions.open_model, None,
                       *self.actions.views.values(), None, self.actions.play):
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        self.status = StatusLine(self.statusBar(), s)
        self.editor = install_editing(self)  # the Labels menu and dock, the edit layer over the canvas

    def _install_optional_parts(self) -> None:
        """Parts other modules provide, added when they are installed (each adds its own docks/menus)."""
        if optional_module("camvid_viewer.ui.analysis_dock"):
            from camvid_viewer.ui.analysis_dock import install_analysis

            dock = install_analysis(self)
            # Default layout (a saved one replaces it): analysis shares a tab with the legend, so the
            # metrics table keeps its height; the timeline stays a short strip under the canvas.
            self.tabifyDockWidget(self.legend_dock, dock)
            self.legend_dock.raise_()
        for attribute, module, installer in (
            ("mapping", "mapping_menu", "install_mapping_menu"),  # Model > Class mapping, the status bar's mapping
            ("comparison", "compare_controls", "install_comparison"),  # Model > Compare with...
            ("finetune", "finetune_menu", "install_finetune"),  # Model > Fine-tune on my labels...
        ):
            if optional_module(f"camvid_viewer.ui.{module}"):
                setattr(self, attribute, getattr(importlib.import_module(f"camvid_viewer.ui.{module}"), installer)(self))

    def _default_dock_sizes(self) -> None:
        """Dock heights for a first run (sizes only take effect once the window is laid out)."""
        self.resizeDocks([self.metrics_dock, self.legend_dock], [460, 300], Qt.Orientation.Vertical)
        bottom = [d for d in self.findChildren(QDockWidget)
                  if self.dockWidgetArea(d) == Qt.DockWidgetArea.BottomDockWidgetArea and d.isVisible()]
        if bottom:
            self.resizeDocks(bottom, [170] * len(bottom), Qt.Orientation.Vertical)

    def _show_welcome(self, welcome: bool) -> None:
        """The welcome page hides the docks (nothing to show yet); opening a source brings them back."""
        self.pages.setCurrentIndex(0 if welcome else 1)
        if welcome and not self._welcome_docks:
            self._welcome_docks = [d for d in self.findChildren(QDockWidget) if not d.isHidden()]
            for dock in self._welcome_docks:
                dock.hide()
        elif not welcome:
            for dock in self._welcome_docks:
                dock.show()
            if self._welcome_docks:
                self.legend_dock.raise_()  # the legend is the tab in front
            self._welcome_docks = []
            if not self._laid_out and self.settings.window_state() is None:
                QTimer.singleShot(0, self._default_dock_sizes)
            self._laid_out = True

    def add_dock(self, dock, area=Qt.DockWidgetArea.RightDockWidgetArea) -> None:
        """Add a dock widget (give it an objectName so its place is saved) and its View menu entry."""
        self.addDockWidget(area, dock)
        self.actions.menus["View"].addAction(dock.toggleViewAction())

    def _restore_settings(self) -> None:
        st, s = self.settings, self.session
        s.opacity = st.opacity()
        s.view = st.view() if st.view() in self.actions.views else "overlay"
        s.legend = st.legend()
        s.mode = st.mode() if st.mode() in self.actions.modes else "realtime"
        if st.geometry() is not None:
            self.restoreGeometry(st.geometry())
        else:
            self.resize(1280, 800)
        self._set_recent(st.recent_files())
        self.playback_bar._display_changed()

    def _wire(self) -> None:
        s, a = self.session, self.actions
        a.views[s.view].setChecked(True)
        a.modes[s.mode].setChecked(True)
        a.speeds[s.speed].setChecked(True)
        a.devices[s.device_choice].setChecked(True)
        a.backends[s.backend_choice].setChecked(True)
        a.precisions[s.precision_choice].setChecked(True)
        a.inference[s.inference_choice].setChecked(True)
        a.legend_in_view.setChecked(s.legend)
        s.events.display.connect(self._render)
        s.events.display.connect(lambda: a.views[s.view].setChecked(True))
        s.events.playback.connect(lambda: a.play.setText("&Pause" if s.playing else "&Play"))
        s.events.result.connect(lambda _r: self._render())
        self.pipeline.result.connect(self._on_result)
        self.pipeline.frame_failed.connect(lambda i, m: self.report(m))
        self.pipeline.dropped.connect(lambda n: s.set_dropped(s.dropped + n))
        self.pipeline.finished.connect(self._on_playback_finished)
        self.playback_bar.seek_requested.connect(self.seek)
        self.metrics_dock.annotations_requested.connect(self.open_annotations_dialog)
        self.metrics_dock.threshold_changed.connect(self.restart)
        self.metrics_dock.visibilityChanged.connect(self._signals_wanted)
        self.welcome.open_video_clicked.connect(self.open_video_dialog)
        self.welcome.open_folder_clicked.connect(self.open_folder_dialog)
        self.welcome.recent_chosen.connect(self.open_path)
        self.welcome.sample_ready.connect(self.open_path)
        self.welcome.sample_failed.connect(lambda m: self.report(f"CamVid sample: {m}"))

    def _signals_wanted(self, _visible: bool = True) -> None:
        """A view of the model's signals was shown: redraw the still frame with them."""
        if self.wants_signals() != self.pipeline.signals and not self.session.playing and self.session.source is not None:
            self.request_frame()

    @property
    def busy(self) -> bool:
        """A background job (opening a source, loading a model) has not reported back yet."""
        return bool(self._calls)

    # -- messages ---------------------------------------------------------------------------
    def report(self, text: str, *, action: str | None = None, callback=None) -> None:
        """Show a one-line problem without blocking (notice bar + status bar) and emit ``message``."""
        self.notice.show_message(text, action=action, callback=callback)
        self.statusBar().showMessage(text, 10000)
        self.message.emit(text)

    def _background(self, fn, *args, done, failed=None, **kwargs) -> BackgroundCall:
        call = BackgroundCall(fn, *args, **kwargs)
        call.done.connect(done)
        call.failed.connect(failed or self.report)
        call.finished.connect(lambda: self._calls.discard(call))
        self._calls.add(call)
        call.start()
        return call

    # -- sources ----------------------------------------------------------------------------
    def open_path(self, path: str) -> None:
        """Open a video, folder, camera index or stream URL off the GUI thread; the old source stays until it works."""
        if not self.editor.may_leave():  # unsaved label edits, and the user cancelled
            return
        path = str(path)
        self.statusBar().showMessage(f"Opening {display_path(path)}...")
        self._open_request = request = self._open_request + 1
        self._background(open_source_with_truth, path, done=lambda r: self._source_ready(path, *r, request=request),
                         failed=lambda text: self.report(text) if request == self._open_request else None)

    def _source_ready(self, path: str, source, truth, note, *, request: int) -> None:
        if request != self._open_request:  # the user opened something else since: the latest wins
            source.close()
            return
        self.pipeline.stop()
        old = self.session.source
        self.session.set_source(source, truth)
        if old is not None and old is not source:
            self.pipeline.close_source(old)
        self.notice.hide()
        if self.session.model is None and self._model_problem:
            self._show_model_problem()
        self.statusBar().showMessage(f"Opened {display_path(path)}", 5000)
        if note:
            self.report(note)
        if not source.is_live:
            self._set_recent(self.settings.add_recent(path))
        self.setWindowTitle(f"{Path(path).name or path} - CamVid viewer")
        self._show_welcome(False)
        self.source_opened.emit(path)
        if source.is_live:
            self.session.set_mode("realtime")
            self.play()
        else:
            self.request_frame()

    def set_annotations(self, folder: str) -> None:
        source = self.session.source
        if source is None or source.is_live:
            self.report("Open a video or frame folder before its annotations")
            return
        self._background(build_truth, source, folder, done=self._truth_ready)

    def _truth_ready(self, truth) -> None:
        self.session.set_truth(truth)
        self.restart()

    def _set_recent(self, paths: list[str]) -> None:
        self.actions.set_recent(paths, self.open_path)
        self.welcome.set_recent(paths)

    # -- the rendered view ------------------------------------------------------------------
    def _render(self) -> None:
        from camvid_viewer.rendering import render_view
        from camvid_viewer.rendering.mapped import labels_for_view

        s, result = self.session, self.session.result
        if result is None:
            self.canvas.placeholder = "Opening..." if s.source is not None else ""
            self.canvas.set_image(None)
            return
        if result.labels is None or self.editor.active:  # in edit mode the labels lie on the edit layer
            self.canvas.set_image(result.frame)
            return
        try:
            # the model's classes (the truth's without one); a mapped model's in the truth's where set against it
            labels, classes, hidden = labels_for_view(s.view, s.model, result.labels, s.label_set, hidden=s.hidden)
            image = self.comparison.render(result) if self.comparison is not None else None  # A | B, difference
            if image is None:
                image = render_view(s.view, result.frame, labels, result.truth, palette_bgr=classes.palette_bgr,
                                    opacity=s.opacity, hidden=hidden, legend=s.legend, class_names=classes.names,
                                    void_index=classes.void_index)
        except Exception as exc:  # noqa: BLE001 - a rendering problem must not take the window down
            self.report(f"frame {result.index}: cannot draw the {s.view} view ({exc})")
            image = result.frame
        self.canvas.set_image(image)

    def save_view_png(self, path: str) -> bool:
        """Write the view as PNG atomically (temp file beside the target, renamed on success)."""
        if self.canvas.image() is None:
            self.report("Nothing to save yet: open a video or folder first")
            return False
        try:
            self.canvas.save_png(path)
        except OSError as exc:
            self.report(f"{path}: cannot write the PNG file ({exc.strerror or exc})")
            return False
        self.statusBar().showMessage(f"Saved {display_path(path)}", 5000)
        return True

    def copy_view(self) -> None:
        image = self.canvas.image()
        if image is not None:
            QGuiApplication.clipboard().setImage(image)
            self.statusBar().showMessage("View copied to the clipboard", 3000)

    def open_export_dialog(self) -> None:
        from camvid_viewer.ui.export_dialog import ExportDialog

        self.pause()
        factory = self.comparison.segmenter_factory() if self.comparison is not None else None  # A | B while comparing
        ExportDialog(self.session, parent=self, segmenter_factory=factory).exec()

    def open_train_dialog(self) -> None:
        from camvid_viewer.ui.train_dialog import TrainDialog

        # One dialog for the window's life: a run kept "in the background" can be watched again.
        if self._train_dialog is None:
            self._train_dialog = TrainDialog(self)
            self._train_dialog.model_chosen.connect(self.load_model)
            if self.comparison is not None:
                self._train_dialog.compare_chosen.connect(self.comparison.compare_with)
        self._train_dialog.show()
        self._train_dialog.raise_()

    # -- drag and drop, closing -------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if not self.editor.may_leave():  # unsaved label edits, and the user cancelled
            event.ignore()
            return
        st, s = self.settings, self.session
        st.set_opacity(s.opacity)
        st.set_view(s.view)
        st.set_legend(s.legend)
        st.set_mode(s.mode)
        self._show_welcome(False)  # save the dock layout the user chose, not the welcome page's
        st.set_layout(self.saveGeometry(), self.saveState())
        st.sync()
        for call in list(self._calls):  # a job still running must not call back into a closed window
            call.cancel()
            for signal in (call.done, call.failed, call.finished):
                signal.disconnect()
        if self._train_dialog is not None:
            self._train_dialog.shutdown()
        for dialog in self.findChildren(QDialog):
            if hasattr(dialog, "shutdown") and dialog is not self._train_dialog:
                dialog.shutdown()
        self.pipeline.shutdown()
        if s.source is not None:
            s.source.close()
        super().closeEvent(event)
