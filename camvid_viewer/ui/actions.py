"""Every menu action of the viewer, built in one place and grouped by menu.

The window owns the slots; this module only creates ``QAction`` objects, their
shortcuts and the menus. Other parts add their own entries with
``window.actions.menus["View"].addAction(...)`` (``menus`` maps titles to ``QMenu``).
"""

from __future__ import annotations

__all__ = ["ViewerActions", "optional_module"]

import importlib.util

from PyQt6.QtGui import QAction, QActionGroup, QKeySequence

from camvid_viewer.session import MODES, SPEEDS, VIEWS, format_speed

VIEW_TITLES = {"overlay": "&Overlay", "side-by-side": "&Side by side", "mask": "&Mask only", "error": "&Error map"}
#: Model > Precision, in menu order (``model.inference.PRECISIONS``); fp16 is what CUDA runs, not a choice.
PRECISION_TITLES = {"auto": "&Auto", "fp32": "&FP32", "int8": "&INT8"}
INFERENCE_TITLES = {"fast": "&Fast (real time)", "accurate": "&Accurate (flip-averaged, 1.2x size; about 3.5x slower)"}
MODE_TITLES = {"realtime": "&Real time (drop frames the model cannot keep up with)", "every-frame": "&Every frame (wait for the model)"}


def optional_module(name: str) -> bool:
    """True when module ``name`` exists (another part of the app that may not be installed yet)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class ViewerActions:
    """The window's actions by name (``actions.play``, ``actions.views["mask"]`` ...) and its menus."""

    def __init__(self, window) -> None:
        self.window = window
        w = window
        act = self._action
        # File
        self.open_video = act("Open &video...", w.open_video_dialog, QKeySequence.StandardKey.Open)
        self.open_folder = act("Open &folder...", w.open_folder_dialog, "Ctrl+Shift+O")
        self.open_stream = act("Open &stream...", w.open_stream_dialog, "Ctrl+Shift+S")
        self.open_annotations = act("Open &annotations folder...", w.open_annotations_dialog)
        self.open_model = act("Open &model...", w.open_model_dialog, "Ctrl+M")
        self.save_png = act("Save view as &PNG...", w.save_view_dialog, QKeySequence.StandardKey.Save)
        self.copy_view = act("&Copy view", w.copy_view, QKeySequence.StandardKey.Copy)
        self.export_video = act("&Export overlay video...", w.open_export_dialog, "Ctrl+Shift+E")
        self.export_video.setVisible(optional_module("camvid_viewer.ui.export_dialog"))
        self.quit = act("&Quit", w.close, QKeySequence.StandardKey.Quit)
        # Playback
        self.play = act("&Play", w.toggle_play, "Space")
        self.step_back = act("Step &back", lambda: w.step(-1), "Left")
        self.step_forward = act("Step &forward", lambda: w.step(1), "Right")
        self.first = act("&Start", w.go_first, "Home")
        self.last = act("&End", w.go_last, "End")
        self.previous_labelled = act("Previous &labelled frame", lambda: w.jump_labelled(-1), "Ctrl+Left")
        self.next_labelled = act("&Next labelled frame", lambda: w.jump_labelled(1), "Ctrl+Right")
        self.loop = act("&Loop", w.set_loop, "L", checkable=True)
        self.speeds = self._choices(SPEEDS, format_speed, w.set_speed)
        self.modes = self._choices(MODES, MODE_TITLES.get, w.set_mode)
        # View
        self.views = self._choices(VIEWS, VIEW_TITLES.get, w.session.set_view)
        for number, view in enumerate(VIEWS, start=1):
            self.views[view].setShortcut(f"Ctrl+{number}")
        self.legend_in_view = act("Draw legend &in view", w.session.set_legend, checkable=True)
        self.opacity_up = act("Opacity &+10%", lambda: w.session.set_opacity(w.session.opacity + 0.1), "]")
        self.opacity_down = act("Opacity &-10%", lambda: w.session.set_opacity(w.session.opacity - 0.1), "[")
        # Model
        self.devices = self._choices(("auto", "cpu", "cuda"), {"auto": "&Auto", "cpu": "&CPU", "cuda": "C&UDA"}.get, w.set_device)
        self.backends = self._choices(("auto", "torch", "onnx"), {"auto": "&Auto", "torch": "&PyTorch", "onnx": "&ONNX Runtime"}.get, w.set_backend)
        self.precisions = self._choices(tuple(PRECISION_TITLES), PRECISION_TITLES.get, w.set_precision)
        self.inference = self._choices(tuple(INFERENCE_TITLES), INFERENCE_TITLES.get, w.set_inference)
        self.train = act("&Train...", w.open_train_dialog)
        self.train.setVisible(optional_module("camvid_viewer.ui.train_dialog"))
        self.menus: dict = {}

    def build_menus(self, menubar) -> None:
        w = self.window
        file = self._menu(menubar, "&File", "File")
        for a in (self.open_video, self.open_folder, self.open_stream, self.open_annotations):
            file.addAction(a)
        self.recent_menu = file.addMenu("&Recent files")
        file.addSeparator()
        file.addAction(self.open_model)
        file.addSeparator()
        for a in (self.save_png, self.copy_view, self.export_video):
            file.addAction(a)
        file.addSeparator()
        file.addAction(self.quit)

        view = self._menu(menubar, "&View", "View")
        for a in self.views.values():
            view.addAction(a)
        view.addSeparator()
        view.addAction(self.opacity_up)
        view.addAction(self.opacity_down)
        view.addSeparator()
        view.addAction(self.legend_in_view)
        for dock in (w.legend_dock, w.metrics_dock):
            view.addAction(dock.toggleViewAction())

        playback = self._menu(menubar, "&Playback", "Playback")
        for a in (self.play, self.step_back, self.step_forward, self.first, self.last,
                  self.previous_labelled, self.next_labelled):
            playback.addAction(a)
        playback.addSeparator()
        speed = playback.addMenu("S&peed")
        for a in self.speeds.values():
            speed.addAction(a)
        playback.addAction(self.loop)
        mode = playback.addMenu("&Mode")
        for a in self.modes.values():
            mode.addAction(a)

        model = self._menu(menubar, "&Model", "Model")
        model.addAction(self.open_model)
        device = model.addMenu("&Device")
        for a in self.devices.values():
            device.addAction(a)
        backend = model.addMenu("&Backend")
        for a in self.backends.values():
            backend.addAction(a)
        precision = model.addMenu("&Precision")
        for a in self.precisions.values():
            precision.addAction(a)
        inference = model.addMenu("&Inference")
        for a in self.inference.values():
            inference.addAction(a)
        model.addSeparator()
        model.addAction(self.train)

    def set_recent(self, paths: list[str], open_path) -> None:
        self.recent_menu.clear()
        for path in paths:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: open_path(p))
        self.recent_menu.setEnabled(bool(paths))

    def _menu(self, menubar, title: str, key: str):
        menu = menubar.addMenu(title)
        self.menus[key] = menu
        return menu

    def _action(self, text: str, slot, shortcut=None, *, checkable: bool = False) -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _=False: slot())
        return action

    def _choices(self, values, title, slot) -> dict:
        """Exclusive checkable actions, one per value, calling ``slot(value)`` when chosen."""
        group = QActionGroup(self.window)
        group.setExclusive(True)
        actions = {}
        for value in values:
            action = QAction(title(value), self.window, checkable=True)
            action.triggered.connect(lambda _=False, v=value: slot(v))
            group.addAction(action)
            actions[value] = action
        return actions
