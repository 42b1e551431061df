"""The Labels dock: edit mode's tools, class picker, undo/redo/save, and the frames worth correcting.

A view of :class:`camvid_viewer.ui.edit_mode.EditMode`: buttons trigger its actions, the class
list and the size box set its state, and it calls :meth:`EditDock.sync` when that changes.
"""

from __future__ import annotations

__all__ = ["EditDock"]

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon, QPixmap
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.editing.label_edit import FILL_MODES
from camvid_viewer.editing.worth_correcting import RANKINGS, frames_worth_correcting
from camvid_viewer.ui.throttle import DisplayRefresh

FRAME_ROLE = Qt.ItemDataRole.UserRole
FILL_TITLES = {"superpixel": "a superpixel", "class-region": "the class's connected region"}


def _swatch(bgr) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(int(bgr[2]), int(bgr[1]), int(bgr[0])))
    return QIcon(pixmap)


def _button(action) -> QToolButton:
    button = QToolButton()
    button.setDefaultAction(action)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return button


class EditDock(QDockWidget):
    """Tools and state of edit mode; ``seek_requested(index)`` when a frame worth correcting is clicked."""

    seek_requested = pyqtSignal(int)

    def __init__(self, editor, parent=None) -> None:
        super().__init__("Labels", parent)
        self.setObjectName("labels_dock")
        self.editor = editor
        self.session = editor.session
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 4, 6, 4)
        a = editor.actions
        top = QHBoxLayout()
        for action in (a.toggle, a.save, a.undo, a.redo):
            top.addWidget(_button(action))
        top.addStretch(1)
        layout.addLayout(top)
        tools = QGridLayout()
        for column, name in enumerate(("brush", "fill", "polygon", "eraser")):
            tools.addWidget(_button(a.tools[name]), 0, column)
        self.size_box = QSpinBox()
        self.size_box.setRange(1, 120)
        self.size_box.setSuffix(" px")
        self.size_box.setToolTip("Brush and eraser radius in frame pixels (Ctrl+wheel, - and =)")
        self.size_box.valueChanged.connect(editor.set_radius)
        tools.addWidget(QLabel("Size"), 1, 0)
        tools.addWidget(self.size_box, 1, 1)
        self.fill_box = QComboBox()
        for mode in FILL_MODES:
            self.fill_box.addItem(f"Fill {FILL_TITLES[mode]}", mode)
        self.fill_box.currentIndexChanged.connect(lambda _i: editor.set_fill_by(str(self.fill_box.currentData())))
        tools.addWidget(self.fill_box, 1, 2, 1, 2)
        layout.addLayout(tools)
        self.overlay_box = QCheckBox("Show labels (O)")
        self.overlay_box.toggled.connect(editor.set_overlay_shown)
        layout.addWidget(self.overlay_box)
        self.classes = QListWidget()
        self.classes.setToolTip("The class to paint: click, keys 1-9 and 0, or right-click a pixel of the frame")
        self.classes.currentRowChanged.connect(lambda row: editor.set_class(row) if row >= 0 else None)
        layout.addWidget(self.classes, 1)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        layout.addWidget(self.state_label)
        layout.addLayout(self._build_worth())
        self.setWidget(body)
        self._worth = DisplayRefresh(self.refresh_worth, self.session, self)
        for event in (self.session.events.metrics, self.session.events.truth, self.session.events.source):
            event.connect(lambda *_: self._worth.request())
        self.visibilityChanged.connect(self._worth.shown)
        for event in (self.session.events.model, self.session.events.truth):
            event.connect(self.rebuild_classes)
        self.rebuild_classes()

    def _build_worth(self) -> QVBoxLayout:
        box = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(QLabel("Frames worth correcting, by"))
        self.rank_box = QComboBox()
        for key, title in RANKINGS.items():
            self.rank_box.addItem(title, key)
        self.rank_box.currentIndexChanged.connect(lambda _i: self.refresh_worth())
        row.addWidget(self.rank_box, 1)
        box.addLayout(row)
        self.worth_list = QListWidget()
        self.worth_list.setMaximumHeight(150)
        self.worth_list.setToolTip("Frames played so far, one per bad moment, labelled frames and their neighbours left out")
        self.worth_list.itemClicked.connect(lambda item: self.seek_requested.emit(int(item.data(FRAME_ROLE))))
        self.worth_list.itemActivated.connect(lambda item: self.seek_requested.emit(int(item.data(FRAME_ROLE))))
        box.addWidget(self.worth_list)
        return box

    def rebuild_classes(self) -> None:
        """One row per class of the session's label set, numbered as the keys pick them."""
        classes = self.session.label_set
        self.classes.blockSignals(True)
        self.classes.clear()
        for index, name in enumerate(classes.names):
            key = f"{(index + 1) % 10}  " if index < 10 else "   "
            item = QListWidgetItem(_swatch(classes.palette_bgr[index]), key + name + (" (eraser)" if index == classes.void_index else ""))
            self.classes.addItem(item)
        self.classes.blockSignals(False)
        self.sync()

    def sync(self) -> None:
        """Show the editor's state (class, size, fill, overlay, what is unsaved)."""
        e = self.editor
        for widget, setter, value in ((self.size_box, self.size_box.setValue, int(e.radius)),
                                      (self.overlay_box, self.overlay_box.setChecked, e.overlay_shown),
                                      (self.classes, self.classes.setCurrentRow, e.class_index),
                                      (self.fill_box, self.fill_box.setCurrentIndex, FILL_MODES.index(e.fill_by))):
            widget.blockSignals(True)
            setter(value)
            widget.blockSignals(False)
        self.state_label.setText(e.state_text())

    def refresh_worth(self) -> None:
        s, by = self.session, str(self.rank_box.currentData())
        labelled = s.truth.labelled_indices if s.truth is not None else ()
        picks = frames_worth_correcting(s.signals, by=by, disagreement=self.editor.disagreement, labelled=labelled)
        self.worth_list.clear()
        for pick in picks:
            item = QListWidgetItem(f"Frame {pick.index}: {by} {pick.value * 100:.1f}%")
            item.setData(FRAME_ROLE, pick.index)
            self.worth_list.addItem(item)
        if not picks:
            hint = ("Compare a second model to rank by disagreement" if by == "disagreement"
                    else "Play the source (with this dock or the metrics shown) to rank its frames")
            item = QListWidgetItem(hint)
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.worth_list.addItem(item)

    def worth_frames(self) -> list[int]:
        return [int(self.worth_list.item(i).data(FRAME_ROLE)) for i in range(self.worth_list.count())
                if self.worth_list.item(i).data(FRAME_ROLE) is not None]
