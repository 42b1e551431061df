"""The window's file choosers: each asks for a path, remembers its folder, and calls one window method."""

from __future__ import annotations

__all__ = ["FileDialogs"]

from pathlib import Path

from PyQt6.QtWidgets import QFileDialog, QInputDialog

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mkv *.mov *.webm *.m4v *.mpg *.mpeg *.wmv);;All files (*)"


class FileDialogs:
    """Mixed into ``MainWindow``: needs ``settings``, ``open_path``, ``set_annotations``,
    ``load_model`` and ``save_view_png``. Tests call those methods directly instead."""

    def _ask_path(self, kind: str, title: str, *, folder: bool = False, filter: str = "") -> str | None:
        start = self.settings.last_folder(kind)
        if folder:
            path = QFileDialog.getExistingDirectory(self, title, start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, title, start, filter)
        if path:
            self.settings.set_last_folder(kind, str(Path(path) if folder else Path(path).parent))
        return path or None

    def open_video_dialog(self) -> None:
        if path := self._ask_path("video", "Open video", filter=VIDEO_FILTER):
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        if path := self._ask_path("folder", "Open a folder of frames", folder=True):
            self.open_path(path)

    def open_stream_dialog(self) -> None:
        text, ok = QInputDialog.getText(self, "Open stream", "Camera index (0, 1, ...) or stream URL (rtsp://, http://):")
        if ok and text.strip():
            self.open_path(text.strip())

    def open_annotations_dialog(self) -> None:
        if path := self._ask_path("annotations", "Open annotations folder (label PNGs)", folder=True):
            self.set_annotations(path)

    def open_model_dialog(self) -> None:
        if path := self._ask_path("model", "Open model", filter="Models (*.safetensors *.onnx);;Checkpoints (*.safetensors);;"
                                  "ONNX models with a .json card (*.onnx);;All files (*)"):
            self.session.mapping_choice = None  # another model: its own default mapping
            self.load_model(path)

    def save_view_dialog(self) -> None:
        start = str(Path(self.settings.last_folder("png") or ".") / "view.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save view as PNG", start, "PNG images (*.png)")
        if path:
            path = path if path.lower().endswith(".png") else path + ".png"
            self.settings.set_last_folder("png", str(Path(path).parent))
            self.save_view_png(path)
