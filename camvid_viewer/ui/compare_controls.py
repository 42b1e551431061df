"""Two models in the window: Model > Compare with..., the A | B and difference views, the compare docks.

While comparing, the session's model is a ``model.pair.SegmenterPair`` (A, B): the pipeline runs
both on each decoded frame, B on its own lanes, and everything that shows A (legend, metrics
dock, analysis) keeps showing A. Loading another model A (Model > Open, device, backend,
precision) keeps B; Stop comparing returns to the single-model window.
"""

from __future__ import annotations

__all__ = ["WindowComparison", "install_comparison"]

import functools
from pathlib import Path

from PyQt6.QtCore import QObject, Qt, QTimer
from PyQt6.QtGui import QAction, QActionGroup

from camvid_viewer.analysis.compare import ComparisonState
from camvid_viewer.loaders import load_segmenter, model_files
from camvid_viewer.rendering import render_view
from camvid_viewer.rendering.compare_views import a_b_view, difference_view
from camvid_viewer.rendering.mapped import labels_for_view
from camvid_viewer.ui.compare_dock import CompareDock
from camvid_viewer.ui.compare_timeline import CompareTimelineDock
from model.class_mapping import scored_labels
from model.external_model import is_external_model
from model.pair import SegmenterPair, first_of

VIEW_TITLES = {"a-b": "Compare: &A | B", "difference": "Compare: &difference (where A and B differ)"}


def install_comparison(window) -> WindowComparison:
    """Add the comparison's actions and docks to ``window``; the docks show only while comparing."""
    return WindowComparison(window)


class WindowComparison(QObject):
    """The window's comparison: what B is, how the pair is drawn, and the menus that change it."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window, self.session = window, window.session
        self.state = ComparisonState()
        self._request = 0  # the latest B asked for; an earlier load finishing later is dropped
        self.dock = CompareDock(self.session, self.state, window)
        self.timeline_dock = CompareTimelineDock(self.session, self.state, window)
        window.add_dock(self.dock, Qt.DockWidgetArea.RightDockWidgetArea)
        window.add_dock(self.timeline_dock, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.timeline_dock.seek_requested.connect(window.seek)
        self._build_actions()
        self._show_docks(False)
        for dock in (self.dock, self.timeline_dock):
            # A saved layout (restoreState) or the welcome page's return may show them: not while not
            # comparing. (A tab behind another reports visibilityChanged(False) though shown: ask isHidden.)
            dock.visibilityChanged.connect(lambda _visible, d=dock: not self.state.active and not d.isHidden()
                                           and QTimer.singleShot(0, self._hide_unless_comparing))
        s = self.session
        s.events.model.connect(self._model_changed)
        s.events.result.connect(lambda result: self.state.accept(result, s))
        for event in (s.events.source, s.events.truth):
            event.connect(self.state.reset)
        s.events.metrics.connect(self._metrics_changed)
        self.state.changed.connect(self._sync_actions)

    def _build_actions(self) -> None:
        w = self.window
        self.compare_action = QAction("Compare &with...", w)
        self.compare_action.setShortcut("Ctrl+Shift+M")
        self.compare_action.triggered.connect(lambda _=False: self.compare_dialog())
        self.stop_action = QAction("Stop &comparing", w)
        self.stop_action.triggered.connect(lambda _=False: self.stop())
        model_menu = w.actions.menus["Model"]
        model_menu.insertActions(model_menu.actions()[1] if len(model_menu.actions()) > 1 else None,
                                 [self.compare_action, self.stop_action])
        group = QActionGroup(w)
        self.views = {}
        view_menu = w.actions.menus["View"]
        existing = view_menu.actions()
        anchor = existing[len(w.actions.views)] if len(existing) > len(w.actions.views) else None  # after the views
        for view, title in VIEW_TITLES.items():
            action = QAction(title, w, checkable=True)
            action.triggered.connect(lambda _=False, v=view: self.set_view(v))
            group.addAction(action)
            view_menu.insertAction(anchor, action)
            self.views[view] = action
        view_menu.insertSeparator(self.views["a-b"])
        self._sync_actions()

    def _sync_actions(self) -> None:
        active = self.state.active
        self.stop_action.setEnabled(active)
        for view, action in self.views.items():
            action.setEnabled(active)
            action.setChecked(active and view == self.state.view)

    def _show_docks(self, shown: bool) -> None:
        """Shown: each dock a tab beside its single-model twin. Hidden: out of the layout altogether
        (a hidden dock left tabified leaves a stray, half-drawn tab bar over the docks beside it)."""
        w = self.window
        twins = ((self.dock, w.metrics_dock, Qt.DockWidgetArea.RightDockWidgetArea),
                 (self.timeline_dock, getattr(getattr(w, "analysis_dock", None), "timeline_dock", None),
                  Qt.DockWidgetArea.BottomDockWidgetArea))
        for dock, twin, area in twins:
            dock.toggleViewAction().setVisible(shown)
            if not shown:
                w.removeDockWidget(dock)
                continue
            if w.dockWidgetArea(dock) == Qt.DockWidgetArea.NoDockWidgetArea:
                w.addDockWidget(area, dock)
                if twin is not None and not twin.isHidden():
                    w.tabifyDockWidget(twin, dock)
            dock.show()
            dock.raise_()

    def _hide_unless_comparing(self) -> None:
        if not self.state.active:
            self._show_docks(False)

    # -- choosing B ---------------------------------------------------------------------------
    def compare_dialog(self) -> None:
        path = self.window._ask_path("model", "Compare with model", filter="Checkpoints (*.safetensors);;All files (*)")
        if path:
            self.compare_with(path)

    def compare_with(self, path: str) -> None:
        """Load ``path`` as model B (on a worker thread) with the device, backend and precision A runs with."""
        s = self.session
        if s.model is None:
            self.window.report("Load a model first: it is model A, the one B is compared with")
            return
        self._request = request = self._request + 1
        self.window.statusBar().showMessage("Loading the model to compare with...")
        self.window._background(load_segmenter, path, **self._choice(path),
                                done=lambda model: self._second_ready(model, path, request))

    def _choice(self, path: str | None) -> dict:
        """The device, backend and precision A runs with, for B; an ONNX model runs on ONNX Runtime
        whatever backend A was asked to use."""
        s = self.session
        backend = s.backend_choice
        if backend == "torch" and path is not None and is_external_model(Path(path)):
            backend = "auto"
        return {"device": s.device_choice, "backend": backend, "precision": s.precision_choice}

    def _second_ready(self, model, path: str, request: int) -> None:
        if request != self._request or self.session.model is None:
            return
        self.state.set_second(model, path)
        self._pair()
        self._show_docks(True)
        self.window.statusBar().showMessage(f"Comparing {first_of(self.session.model).name} (A) with {model.name} (B)", 5000)
        self.window.restart()

    def stop(self) -> None:
        """Back to the single-model window: model A alone."""
        if not self.state.active:
            return
        self._request += 1
        self.state.set_second(None, None)
        s = self.session
        if s.model is not None:
            s.set_model(first_of(s.model), s.model_path)
        self._show_docks(False)
        self.window.restart()

    def segmenter_factory(self):
        """While comparing, what the export dialog loads (on its worker thread): a fresh pair of A
        and B, as the window runs them, so its video is A | B; ``None`` otherwise."""
        if not self.state.active:
            return None
        s = self.session
        choice = {"device": s.device_choice, "backend": s.backend_choice, "precision": s.precision_choice}
        first = functools.partial(load_segmenter, s.model_path, **choice, **model_files(s, s.model_path))
        second = functools.partial(load_segmenter, self.state.second_path, **self._choice(self.state.second_path))
        return lambda: SegmenterPair(first(), second())

    def set_view(self, view: str) -> None:
        self.state.set_view(view)
        self.window._render()

    def _pair(self) -> None:
        s = self.session
        s.set_model(SegmenterPair(first_of(s.model), self.state.second), s.model_path)

    def _model_changed(self) -> None:
        """A new model A (or a reload of A) keeps comparing with B; no model ends the comparison."""
        model = self.session.model
        if not self.state.active:
            return
        if model is None:
            self.state.set_second(None, None)
            self._show_docks(False)
        elif not isinstance(model, SegmenterPair):
            self._pair()
        else:
            self.state.reset()

    def _metrics_changed(self) -> None:
        """The metrics dock's Reset cleared A's running figures: B's start again with them."""
        if not self.session.scored_indices and self.state.frames:
            self.state.reset()

    # -- drawing ------------------------------------------------------------------------------
    def render(self, result):
        """The comparison view of ``result``, or ``None`` to draw the single-model view."""
        second = getattr(result, "second", None)
        if not self.state.active or second is None or result.labels is None:
            return None
        s = self.session
        a, b = s.label_set, second.label_set
        if self.state.view == "difference":
            first = scored_labels(first_of(s.model), result.labels)  # both in the classes they are scored in
            return difference_view(result.frame, first, second.scored, result.truth, void_index=second.scored_set.void_index)
        hidden_b = s.hidden if b.names == a.names else frozenset()  # the legend's classes are A's
        panels = [self._panel(result, model, labels, classes, hidden)
                  for model, labels, classes, hidden in ((first_of(s.model), result.labels, a, s.hidden),
                                                         (self.state.second, second.labels, b, hidden_b))]
        return a_b_view(*panels, names=(str(first_of(s.model).name), self.state.name))

    def _panel(self, result, model, labels, classes, hidden):
        """One model's picture in the window's view, as the single-model window draws it."""
        s = self.session
        labels, classes, hidden = labels_for_view(s.view, model, labels, classes, hidden=hidden)
        return render_view(s.view, result.frame, labels, result.truth, palette_bgr=classes.palette_bgr, opacity=s.opacity,
                           hidden=hidden, legend=s.legend, class_names=classes.names, void_index=classes.void_index)
