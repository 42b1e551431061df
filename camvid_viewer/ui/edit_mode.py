"""Edit mode: correct the current frame's labels in the window, save them as its annotation.

The prediction (or the frame's existing truth) becomes a :class:`~camvid_viewer.editing.LabelEdit`
drawn over the plain frame by an :class:`~camvid_viewer.ui.edit_layer.EditLayer`; the tools,
undo/redo and saving are actions of a Labels menu and dock. Playback pauses while editing.
Leaving a frame with unsaved edits (seek, play, opening another source, closing) asks:
save, discard or cancel. Saving writes a class-index PNG into the source's annotation folder
(``camvid_viewer.editing.saving``), asks before replacing an existing annotation, and gives
the session the new truth, so the slider marks the frame and the metrics dock scores it.

Window hooks (``ui/main_window.py``, ``ui/playback_controls.py``): ``editor.active`` (draw the
plain frame), ``editor.may_leave(index)`` before a seek, play, open or close.
"""

from __future__ import annotations

__all__ = ["EditMode", "install_editing"]

from pathlib import Path

from PyQt6.QtCore import QObject, Qt
from PyQt6.QtWidgets import QFileDialog, QMessageBox

from camvid_viewer.editing import LabelEdit
from camvid_viewer.editing.label_edit import FILL_MODES
from camvid_viewer.editing.saving import SaveError, label_target, truth_with, write_label_png
from camvid_viewer.editing.superpixels import superpixels
from camvid_viewer.editing.worth_correcting import disagreement_share
from camvid_viewer.messages import display_path
from camvid_viewer.ui.edit_actions import EditActions
from camvid_viewer.ui.edit_dock import EditDock
from camvid_viewer.ui.edit_layer import EditLayer


class EditMode(QObject):
    """The window's edit mode on the current frame (one :class:`LabelEdit` at a time)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.edit: LabelEdit | None = None
        self.tool, self.fill_by, self.radius, self.class_index = "brush", FILL_MODES[0], 8.0, 0
        self.overlay_shown = True
        self.disagreement: dict[int, float] = {}  # frame -> share of pixels two compared models label differently
        self._written: set[Path] = set()  # annotations this window wrote (replacing those asks no more)
        self._last_point: tuple[float, float] | None = None
        self.note = ""
        self._coloured = None  # (hidden classes, label set) the layer's colours were made for
        self._prefetching: LabelEdit | None = None  # the edit whose superpixels are being computed
        self.layer = EditLayer(window.canvas)
        self.actions = EditActions(self, window)
        self.dock = EditDock(self, window)
        self.dock.seek_requested.connect(window.seek)
        self.layer.pressed.connect(self._pressed)
        self.layer.dragged.connect(self._dragged)
        self.layer.released.connect(self._released)
        self.layer.double_clicked.connect(lambda _x, _y: self.close_polygon())
        self.layer.wheel_steps.connect(lambda n: self.set_radius(self.radius + 2 * n))
        s = self.session
        s.events.result.connect(self._result_shown)
        s.events.display.connect(self._display_changed)
        s.events.source.connect(self._source_changed)
        s.events.model.connect(self.disagreement.clear)
        self.actions.tools[self.tool].setChecked(True)
        self._enable()

    @property
    def active(self) -> bool:
        return self.edit is not None

    @property
    def dirty(self) -> bool:
        return self.edit is not None and self.edit.dirty

    # -- entering and leaving ------------------------------------------------------------------
    def set_active(self, active: bool = True) -> None:
        if active and not self.active:
            self.enter()
        elif not active and self.active:
            if self.may_leave():
                self.exit()
        self.actions.toggle.setChecked(self.active)

    def enter(self) -> bool:
        """Edit the frame on screen: pause, and start from its truth, else its prediction."""
        w, s = self.window, self.session
        result = s.result
        if s.playing:
            w.pause()
        if result is None or not s.shows_named_frame or (result.labels is None and result.truth is None):
            w.report("Nothing to edit yet: open a source and load a model (or its annotations) first")
            self.actions.toggle.setChecked(False)
            return False
        if not s.label_set.names:
            w.report("Editing needs classes: load a model or open the source's annotations first")
            self.actions.toggle.setChecked(False)
            return False
        self._load(result)
        self.dock.show()
        self.dock.raise_()
        self.layer.show()
        self.layer.raise_()
        self.layer.setFocus()
        s.events.display.emit()  # the canvas now draws the plain frame under the layer
        return True

    def exit(self) -> None:
        """Leave edit mode (unsaved edits go: ask first with :meth:`may_leave`)."""
        self.edit = None
        self.layer.set_labels(None, palette_bgr=self.session.palette_bgr)
        self.layer.hide()
        self.actions.toggle.setChecked(False)
        self._enable()
        self.session.events.display.emit()

    def may_leave(self, index: int | None = None) -> bool:
        """Before leaving the frame (for frame ``index``, or any change when ``None``): True when
        nothing unsaved would be lost; else asks save / discard / cancel."""
        if not self.dirty or (index is not None and index == self.edit.index):
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved labels", f"Frame {self.edit.index} has label edits that are not saved.",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        if answer == QMessageBox.StandardButton.Discard:
            self._discard()
            return True
        self.session.events.index.emit(self.session.index)  # the slider goes back to the frame being edited
        return False

    def leave_for_playback(self) -> bool:
        """Playback pauses edit mode: True (edit mode left) unless the user cancels."""
        if not self.active:
            return True
        if not self.may_leave():
            return False
        self.exit()
        return True

    def _discard(self) -> None:
        while self.edit.history.can_undo:
            self.edit.undo()
        self.edit.history.mark_saved()
        self.layer.show_boxes([(0, 0, *self.edit.shape)])
        self._changed()

    # -- the frame being edited ----------------------------------------------------------------
    def _load(self, result) -> None:
        s = self.session
        from_truth = result.truth is not None and result.truth.shape == result.frame.shape[:2]
        labels = result.truth if from_truth else result.labels
        self.edit = LabelEdit(labels, frame=result.frame, void_index=s.label_set.void_index, index=result.index,
                              from_truth=from_truth)
        self.layer.set_labels(self.edit.labels, palette_bgr=s.palette_bgr, hidden=s.hidden)
        self._coloured = (s.hidden, s.label_set)
        self._display_changed()
        self._enable()
        self._prefetch_superpixels()

    def _prefetch_superpixels(self) -> None:
        """SLIC takes a second or more on a busy CPU: computed off the GUI thread once the superpixel
        fill is the tool (a click before they are ready computes them itself)."""
        edit = self.edit
        if edit is None or edit.has_superpixels or self.tool != "fill" or self.fill_by != "superpixel" or self._prefetching is edit:
            return
        self._prefetching = edit

        def ready(regions) -> None:
            if self.edit is edit and not edit.has_superpixels:
                edit.set_superpixels(regions)

        self.window._background(superpixels, edit.frame, done=ready, failed=lambda _m: None)

    def _result_shown(self, result) -> None:
        second = getattr(result, "second", None)  # model B's result while two models are compared
        if second is not None and result.labels is not None:
            # B's labels in the classes it is scored in; comparable with A's when those are A's classes
            labels_b, classes_b = getattr(second, "scored", second.labels), getattr(second, "scored_set", second.label_set)
            if labels_b.shape == result.labels.shape and classes_b.names == self.session.label_set.names:
                self.disagreement[result.index] = disagreement_share(result.labels, labels_b)
        if self.edit is None or result.index != self.session.index:
            return
        if result.index != self.edit.index or not self.edit.dirty:
            self._load(result)  # a new frame (the question was asked before the seek), or a redraw

    def _source_changed(self) -> None:
        self.disagreement.clear()
        self._written.clear()
        if self.active:
            self.exit()

    def _display_changed(self) -> None:
        s = self.session
        if self.edit is not None:
            if self._coloured != (s.hidden, s.label_set):  # a class shown or hidden: recolour the whole map
                self._coloured = (s.hidden, s.label_set)
                self.layer.set_labels(self.edit.labels, palette_bgr=s.palette_bgr, hidden=s.hidden)
            self.layer.set_opacity(s.opacity, shown=self.overlay_shown)

    # -- tools ---------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.cancel_polygon()
        self.tool = tool
        self.actions.tools[tool].setChecked(True)
        self.layer.brush_radius = self.radius if tool in ("brush", "eraser") else None
        self._prefetch_superpixels()
        self._changed()

    def set_fill_by(self, mode: str) -> None:
        self.fill_by = mode
        self.set_tool("fill")

    def set_radius(self, radius: float) -> None:
        self.radius = float(min(120, max(1, radius)))
        if self.layer.brush_radius is not None:
            self.layer.brush_radius = self.radius
        self._changed()

    def set_class(self, index: int) -> None:
        if 0 <= index < self.session.label_set.count:
            self.class_index = index
            if self.tool == "eraser":
                self.set_tool("brush")
            self._changed()

    def set_overlay_shown(self, shown: bool) -> None:
        self.overlay_shown = bool(shown)
        self.actions.overlay.setChecked(self.overlay_shown)
        self._display_changed()
        self._changed()

    def _point(self, x: float, y: float) -> tuple[int, int]:
        return round(x), round(y)

    def _pressed(self, x: float, y: float, button) -> None:
        if self.edit is None:
            return
        if button == Qt.MouseButton.RightButton:  # the class under the cursor becomes the one painted
            picked = self.edit.class_at(self._point(x, y))
            if picked is not None:
                self.set_class(picked)
            return
        if button != Qt.MouseButton.LeftButton:
            return
        if self.tool in ("brush", "eraser"):
            self.edit.begin_stroke()
            self._last_point = (x, y)
            self._paint_segment((x, y), None)
        elif self.tool == "fill":
            self._apply(self.edit.fill(self._point(x, y), value=self.class_index, by=self.fill_by))
        elif self.tool == "polygon":
            self.layer.polygon.append((x, y))
            self.layer.update()

    def _dragged(self, x: float, y: float) -> None:
        if self.edit is not None and self._last_point is not None:
            self._paint_segment(self._last_point, (x, y))
            self._last_point = (x, y)

    def _released(self) -> None:
        if self.edit is not None and self._last_point is not None:
            self.edit.end_stroke()
            self._last_point = None
            self._changed()

    def _paint_segment(self, start, end) -> None:
        if self.tool == "eraser":
            boxes = self.edit.erase(start, end, radius=self.radius)
        else:
            boxes = self.edit.brush(start, end, radius=self.radius, value=self.class_index)
        self.layer.show_boxes(boxes)

    def close_polygon(self) -> None:
        if self.edit is not None and len(self.layer.polygon) >= 3:
            self._apply(self.edit.polygon(self.layer.polygon, value=self.class_index))
        self.cancel_polygon()

    def cancel_polygon(self) -> None:
        if self.layer.polygon:
            self.layer.polygon = []
            self.layer.update()

    def undo(self) -> None:
        if self.edit is not None:
            self._apply(self.edit.undo())

    def redo(self) -> None:
        if self.edit is not None:
            self._apply(self.edit.redo())

    def _apply(self, boxes) -> None:
        self.layer.show_boxes(boxes)
        self._changed()

    def _changed(self) -> None:
        self._enable()
        self.dock.sync()

    def _enable(self) -> None:
        for action in self.actions.editing:
            action.setEnabled(self.active)
        if self.edit is not None:
            self.actions.undo.setEnabled(self.edit.history.can_undo)
            self.actions.redo.setEnabled(self.edit.history.can_redo)
            self.actions.tools["eraser"].setEnabled(self.edit.void_index is not None)

    def state_text(self) -> str:
        if self.edit is None:
            return "Press E (or Edit labels) to correct the frame shown."
        start = "its annotation" if self.edit.from_truth else "the prediction"
        state = "unsaved edits" if self.edit.dirty else "no unsaved edits"
        return f"Frame {self.edit.index}, from {start}: {state}. {self.note}".strip()

    # -- saving --------------------------------------------------------------------------------
    def save(self, folder: str | Path | None = None) -> bool:
        """Write the labels as the frame's annotation PNG (asking before replacing one); True when saved."""
        w, s, edit = self.window, self.session, self.edit
        if edit is None:
            return False
        try:
            target = label_target(s.source, edit.index, truth=s.truth, folder=folder)
        except SaveError as exc:
            w.report(str(exc))
            return False
        if target.exists and target.path not in self._written:
            answer = QMessageBox.question(w, "Replace annotation", f"Frame {edit.index} already has an annotation, "
                                          f"{display_path(target.path)}. Replace it with these labels?",
                                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                          QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return False
        try:
            write_label_png(target.path, edit.labels)
            truth = truth_with(s.truth, s.source, edit.index, target.path)
        except Exception as exc:  # noqa: BLE001 - a write that fails is one line, the edits stay
            w.report(str(exc))
            return False
        self._written.add(target.path)
        edit.mark_saved()
        edit.from_truth = True
        self.note = f"Saved to {display_path(target.path)}."
        w.statusBar().showMessage(self.note, 5000)
        s.set_truth(truth)  # the slider marks the frame; the redraw scores it in the metrics dock
        w.request_frame()
        self._changed()
        return True

    def save_to_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Save labels into annotation folder",
                                                  self.window.settings.last_folder("annotations"))
        if folder:
            self.window.settings.set_last_folder("annotations", folder)
            self.save(folder)


def install_editing(window) -> EditMode:
    """Add edit mode to ``window``: the Labels menu (before View), the Labels dock (hidden until used)."""
    editor = EditMode(window)
    editor.actions.build_menu(window.menuBar(), window.actions.menus["View"].menuAction())
    window.add_dock(editor.dock)
    editor.dock.hide()
    editor.dock.visibilityChanged.connect(window._signals_wanted)  # its ranking needs the model's signals
    return editor
