"""A non-modal notice bar above the canvas: one line saying what went wrong, optional action button."""

from __future__ import annotations

__all__ = ["NoticeBar"]

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


class NoticeBar(QWidget):
    """Shows a message (and e.g. a Retry button) without blocking the window, unlike a message box."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("notice_bar")
        # A plain QWidget paints a style-sheet background only with WA_StyledBackground.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("#notice_bar { background: #fff3cd; border-bottom: 1px solid #d6b656; } "
                           "#notice_bar QLabel { color: #3d2e00; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        layout.addWidget(self.label, 1)
        self.action_button = QPushButton()
        self.action_button.clicked.connect(self._run_action)
        layout.addWidget(self.action_button)
        close = QPushButton("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self._callback = None
        self.hide()

    def show_message(self, text: str, *, action: str | None = None, callback=None) -> None:
        self.label.setText(text)
        self._callback = callback
        self.action_button.setVisible(bool(action and callback))
        self.action_button.setText(action or "")
        self.show()

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()

    def _run_action(self) -> None:
        callback = self._callback
        self.hide()
        if callback is not None:
            callback()
