"""The legend dock: one row per class with its colour and a show/hide checkbox."""

from __future__ import annotations

__all__ = ["LegendDock"]

from PyQt6.QtGui import QColor, QIcon, QPixmap
from PyQt6.QtWidgets import QCheckBox, QDockWidget, QVBoxLayout, QWidget

from camvid_viewer.session import ViewerSession


def _swatch(bgr) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(int(bgr[2]), int(bgr[1]), int(bgr[0])))
    return QIcon(pixmap)


class LegendDock(QDockWidget):
    """A view of ``session.hidden``: unticking a class lets the frame show through its pixels.

    One row per class of ``session.label_set`` (the model's; the truth's without one)."""

    def __init__(self, session: ViewerSession, parent=None) -> None:
        super().__init__("Legend", parent)
        self.setObjectName("legend_dock")
        self.session = session
        self.checkboxes: list[QCheckBox] = []
        self._body = QWidget()
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(6, 4, 6, 4)
        self._layout.setSpacing(2)
        self.setWidget(self._body)
        for event in (session.events.model, session.events.truth):  # either may change the classes
            event.connect(self._rebuild)
        session.events.display.connect(self._sync)
        self._rebuild()

    def _rebuild(self) -> None:
        while self._layout.count():  # checkboxes and the trailing stretch
            item = self._layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.checkboxes = []
        classes = self.session.label_set
        palette = classes.palette_bgr
        for index, name in enumerate(classes.names):
            box = QCheckBox(name + (" (not scored)" if index == classes.void_index else ""))
            box.setIcon(_swatch(palette[index]))
            box.setChecked(index not in self.session.hidden)
            box.toggled.connect(lambda checked, i=index: self.session.set_class_hidden(i, not checked))
            self._layout.addWidget(box)
            self.checkboxes.append(box)
        self._layout.addStretch(1)

    def _sync(self) -> None:
        for index, box in enumerate(self.checkboxes):
            shown = index not in self.session.hidden
            if box.isChecked() != shown:
                box.blockSignals(True)
                box.setChecked(shown)
                box.blockSignals(False)
