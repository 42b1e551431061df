"""Edit mode's actions: the Labels menu and its shortcuts (all but Edit work only in edit mode).

Built in one place, as ``ui/actions.py`` builds the window's; the slots are :class:`EditMode`'s.
"""

from __future__ import annotations

__all__ = ["EditActions", "TOOL_KEYS"]

from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import QMenu

TOOL_KEYS = {"brush": ("&Brush", "B"), "fill": ("&Fill", "F"), "polygon": ("&Polygon", "P"), "eraser": ("E&raser (void)", "X")}


class EditActions:
    """The Labels menu's actions; all but ``toggle`` work only in edit mode."""

    def __init__(self, editor, window) -> None:
        def act(text, slot, shortcut=None, *, checkable=False):
            action = QAction(text, window)
            if shortcut is not None:
                action.setShortcuts([QKeySequence(s) for s in ([shortcut] if isinstance(shortcut, str) else shortcut)])
            action.setCheckable(checkable)
            action.triggered.connect(lambda checked=False: slot(checked) if checkable else slot())
            window.addAction(action)  # shortcuts work wherever the focus is in the window
            return action

        self.toggle = act("&Edit labels of this frame", editor.set_active, "E", checkable=True)
        self.save = act("&Save labels", editor.save, "Ctrl+Return")
        self.save_to = act("Save labels &to folder...", editor.save_to_folder)
        self.undo = act("&Undo", editor.undo, "Ctrl+Z")
        self.redo = act("&Redo", editor.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        self.overlay = act("Show &labels", editor.set_overlay_shown, "O", checkable=True)
        self.smaller = act("Smaller brush", lambda: editor.set_radius(editor.radius - 2), "-")
        self.larger = act("Larger brush", lambda: editor.set_radius(editor.radius + 2), "=")
        self.close_polygon = act("Close the &polygon", editor.close_polygon, ["Return", "Enter"])
        self.cancel = act("Cancel the polygon", editor.cancel_polygon, "Escape")
        group = QActionGroup(window)
        self.tools = {}
        for name, (text, key) in TOOL_KEYS.items():
            self.tools[name] = act(text, lambda _c=False, n=name: editor.set_tool(n), key, checkable=True)
            group.addAction(self.tools[name])
        self.classes = [act(f"Class {(i + 1) % 10}", lambda i=i: editor.set_class(i), str((i + 1) % 10)) for i in range(10)]
        for action, short in ((self.toggle, "Edit (E)"), (self.save, "Save"), (self.undo, "Undo"), (self.redo, "Redo")):
            action.setIconText(short)  # the dock's buttons; the menu keeps the long names
        self.editing = [self.save, self.save_to, self.undo, self.redo, self.overlay, self.smaller, self.larger,
                        self.close_polygon, self.cancel, *self.tools.values(), *self.classes]

    def build_menu(self, menubar, before) -> None:
        menu = QMenu("&Labels", menubar)
        menubar.insertMenu(before, menu)
        for action in (self.toggle, None, *self.tools.values(), None, self.undo, self.redo, self.overlay, None,
                       self.save, self.save_to):
            menu.addSeparator() if action is None else menu.addAction(action)
        self.menu = menu
