"""The playback bar: transport buttons, a seek slider marking labelled frames, index/time/total, opacity.

During playback the slider and the counter follow the frame at display rate (``ui/throttle.py``):
repainting the slider and its labelled-frame ticks for every model frame costs the model time.
"""

from __future__ import annotations

__all__ = ["PlaybackBar", "LabelledSlider"]

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPen
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.session import ViewerSession, format_time
from camvid_viewer.ui.throttle import DisplayRefresh


class LabelledSlider(QSlider):
    """A horizontal slider that draws a tick above every frame that has ground truth."""

    def __init__(self, parent=None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.labelled: list[int] = []
        self.setMinimumHeight(26)

    def set_labelled(self, indices) -> None:
        self.labelled = list(indices)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().paintEvent(event)
        if not self.labelled or self.maximum() <= self.minimum():
            return
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderHandle, self)
        left = groove.left() + handle.width() // 2
        span = max(1, groove.width() - handle.width())
        painter = QPainter(self)
        painter.setPen(QPen(QColor(230, 160, 20), 2))
        lo, hi = self.minimum(), self.maximum()
        for index in self.labelled:
            x = left + round((index - lo) / (hi - lo) * span)
            painter.drawLine(x, 0, x, 5)


class PlaybackBar(QWidget):
    """A view of the session's position; asks the window to seek through ``seek_requested``."""

    seek_requested = pyqtSignal(int)
    opacity_changed = pyqtSignal(float)

    def __init__(self, session: ViewerSession, actions, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        rows = QVBoxLayout(self)
        rows.setContentsMargins(6, 2, 6, 2)
        rows.setSpacing(0)
        self.slider = LabelledSlider()
        self.slider.setToolTip("Seek; orange ticks mark frames with ground truth")
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows/Home/End belong to the window's shortcuts
        self.slider.valueChanged.connect(self._slider_moved)
        rows.addWidget(self.slider)
        layout = QHBoxLayout()
        rows.addLayout(layout)
        icons = QStyle.StandardPixmap
        for action, text, icon in (
            (actions.first, "", icons.SP_MediaSkipBackward),
            (actions.step_back, "", icons.SP_MediaSeekBackward),
            (actions.play, None, None),
            (actions.step_forward, "", icons.SP_MediaSeekForward),
            (actions.last, "", icons.SP_MediaSkipForward),
            (actions.previous_labelled, "< Labelled", None),
            (actions.next_labelled, "Labelled >", None),
        ):
            layout.addWidget(self._button(action, text, icon))
        layout.addStretch(1)
        self.counter = QLabel()
        layout.addWidget(self.counter)
        layout.addSpacing(12)
        layout.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setFixedWidth(110)
        self.opacity.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.opacity.setValue(round(session.opacity * 100))
        self.opacity.valueChanged.connect(lambda v: session.set_opacity(v / 100))
        layout.addWidget(self.opacity)
        session.events.source.connect(self._source_changed)
        session.events.truth.connect(self._truth_changed)
        self._position = DisplayRefresh(self._show_position, session, self)
        session.events.index.connect(self._index_changed)
        session.events.display.connect(self._display_changed)
        self._source_changed()

    def _button(self, action, text: str | None, icon) -> QToolButton:
        """A compact button for ``action`` (the menus keep the long names and list the shortcuts)."""
        button = QToolButton()
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        if text is None:  # follows the action (Play/Pause)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setMinimumWidth(56)
            return button
        button.setText(text)
        if icon is not None:
            button.setIcon(self.style().standardIcon(icon))
        shortcut = action.shortcut().toString()
        button.setToolTip(action.text().replace("&", "") + (f" ({shortcut})" if shortcut else ""))
        button.clicked.connect(action.trigger)
        return button

    def _slider_moved(self, value: int) -> None:
        if value != self.session.index:
            self.seek_requested.emit(value)

    def _source_changed(self) -> None:
        count = self.session.frame_count
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, (count or 1) - 1))
        self.slider.setEnabled(bool(count))
        self.slider.setValue(self.session.index)
        self.slider.blockSignals(False)
        self._truth_changed()
        self._show_position()

    def _truth_changed(self) -> None:
        truth = self.session.truth
        self.slider.set_labelled(truth.labelled_indices if truth is not None else [])

    def _index_changed(self, _index: int) -> None:
        self._position.request()

    def _show_position(self) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self.session.index)
        self.slider.blockSignals(False)
        self.counter.setText(self.position_text())

    def _display_changed(self) -> None:
        value = round(self.session.opacity * 100)
        if self.opacity.value() != value:
            self.opacity.blockSignals(True)
            self.opacity.setValue(value)
            self.opacity.blockSignals(False)

    def position_text(self) -> str:
        """``frame 12 / 101  0:00.40 / 0:03.37`` (index is 0-based, as in exports and the CLI)."""
        s = self.session
        if s.source is None:
            return "no source"
        fps = s.fps
        count = s.frame_count
        if count is None:
            return f"frame {s.index}  {format_time(s.index / fps)}  (live)"
        return f"frame {s.index} / {count - 1}  {format_time(s.index / fps)} / {format_time(count / fps)}"
