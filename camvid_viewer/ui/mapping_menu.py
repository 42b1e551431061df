"""Model > Class mapping: which label set the model's output is scored in, and saying so.

A model trained on other classes (an ONNX Cityscapes model) is drawn in its own classes but
scored against CamVid truth through a mapping (``model.class_mapping``). The menu offers the
model's default (an ONNX card's ``mapping``), none, the shipped mappings and a mapping file;
the status bar and the menu's first line name the mapping in use. The choice is kept when the
model reloads (device, backend, precision) and dropped when another model is opened.
"""

from __future__ import annotations

__all__ = ["WindowMapping", "install_mapping_menu", "mapping_text"]

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction, QActionGroup
from PyQt6.QtWidgets import QFileDialog, QLabel

from camvid_viewer.messages import one_line
from model.class_mapping import shipped_mappings, use_mapping
from model.pair import first_of

DEFAULT = "default"  # the model's own default: an ONNX card's mapping, else none


def install_mapping_menu(window) -> WindowMapping:
    """Add Model > Class mapping and the status bar's mapping label to ``window``."""
    return WindowMapping(window)


def mapping_text(model) -> str:
    """What the status bar says: ``scored as CamVid via cityscapes-to-camvid (19 -> 11 classes)``,
    or nothing without a mapping."""
    mapping = getattr(first_of(model), "mapping", None) if model is not None else None
    return "" if mapping is None else f"scored via {mapping.describe()}"


class WindowMapping(QObject):
    """The Class mapping submenu and its status label; the chosen spec is ``session.mapping_choice``."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window, self.session = window, window.session
        self.session.mapping_choice = None  # None: the model's default (see load_model's mapping=)
        menu = window.actions.menus["Model"].addMenu("Class &mapping")
        menu.setObjectName("mapping_menu")
        self.menu = menu
        self.in_use = menu.addAction("")
        self.in_use.setEnabled(False)
        menu.addSeparator()
        self.group = QActionGroup(menu)
        self.choices: dict[str, QAction] = {}
        self._add(DEFAULT, "The model's &default (an ONNX card's mapping)")
        self._add("none", "&None: score the model's own classes")
        for name in shipped_mappings():
            self._add(name, name)
        menu.addSeparator()
        self.open_action = menu.addAction("&Open mapping file...", self.open_file)
        self.label = QLabel()
        self.label.setObjectName("status_mapping")
        window.statusBar().addPermanentWidget(self.label)
        self.session.events.model.connect(self._sync)
        self._sync()

    def _add(self, spec: str, text: str) -> None:
        action = QAction(text, self.menu, checkable=True)
        action.triggered.connect(lambda _=False, s=spec: self.choose(s))
        self.group.addAction(action)
        self.menu.addAction(action)
        self.choices[spec] = action

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open class mapping", "", "Class mappings (*.json);;All files (*)")
        if path:
            self.choose(path)

    def choose(self, spec: str) -> None:
        """Score the current model through ``spec`` (a shipped name, a file, ``none`` or ``default``)."""
        s = self.session
        model = first_of(s.model)
        if model is None:
            self.window.report("Open a model before choosing a class mapping")
            self._sync()
            return
        try:
            apply_choice(model, spec)
        except Exception as exc:  # noqa: BLE001 - a mapping that does not fit is one line; the old one stays
            self.window.report(one_line(exc))
            self._sync()
            return
        s.mapping_choice = None if spec == DEFAULT else spec
        s.set_model(s.model, s.model_path)  # new classes scored: running figures and analysis start again
        self.window.restart()

    def _sync(self) -> None:
        model = self.session.model
        text = mapping_text(model)
        self.label.setText(text)
        self.in_use.setText(f"In use: {text[len('scored via '):]}" if text else "In use: none (the model's own classes)")
        choice = getattr(self.session, "mapping_choice", None) or DEFAULT
        action = self.choices.get(choice)
        for each in self.choices.values():
            each.setChecked(each is action)
        for each in self.choices.values():
            each.setEnabled(model is not None)
        self.open_action.setEnabled(model is not None)


def apply_choice(model, spec: str) -> None:
    """Set ``model.mapping`` for a menu choice; ``default`` is the ONNX card's mapping (else none)."""
    if spec != DEFAULT:
        use_mapping(model, spec)
        return
    card = getattr(model, "external_card", None)
    use_mapping(model, card.mapping if card is not None else None, base=card.path.parent if card is not None else None)
