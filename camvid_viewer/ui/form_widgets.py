"""Small builders for dialog forms: a row of widgets, a button wired to a slot, a titled group,
a combo box of (value, title) choices. Plain functions, so every dialog lays out the same way."""

from __future__ import annotations

__all__ = ["button", "choices", "row", "titled_group"]

from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)


def row(*widgets: QWidget | None) -> QWidget:
    """Widgets side by side; ``None`` is a stretch, and line edits take the spare width."""
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        if widget is None:
            layout.addStretch(1)
        else:
            layout.addWidget(widget, 1 if isinstance(widget, QLineEdit) else 0)
    return box


def button(text: str, slot, **kwargs) -> QPushButton:
    """A push button calling ``slot()`` (without Qt's ``checked`` argument) when clicked."""
    widget = QPushButton(text, **kwargs)
    widget.clicked.connect(lambda _=False: slot())
    return widget


def titled_group(title: str, form: QFormLayout) -> QGroupBox:
    """``form`` in a titled box."""
    box = QGroupBox(title)
    box.setLayout(form)
    return box


def choices(titles: dict[str, str], current: str) -> QComboBox:
    """A combo box showing ``titles`` values, carrying their keys as item data, ``current`` selected."""
    box = QComboBox()
    for value, title in titles.items():
        box.addItem(title, value)
    box.setCurrentIndex(box.findData(current))
    return box
