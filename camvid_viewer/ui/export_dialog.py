"""File > Export overlay video: the ``export`` command's options in a dialog, then a progress bar.

The window opens it with ``ExportDialog(window.session, parent=window)``; every default comes
from that session (source, truth folder, view, opacity, legend, hidden classes, model path,
device, backend and precision). The export runs :func:`camvid_viewer.export.export_video` on a
:class:`~camvid_viewer.ui.pipeline.BackgroundCall` thread with its own copy of the model (loaded
by ``camvid_viewer.loaders.load_segmenter``), so playback and export never share one model object and the
viewer stays usable. If the window shows the dialog with ``exec()``, the dialog drops its
modality when the export starts. Cancel, an error or quitting leaves no file behind
(``export_video`` writes to temp files and renames them only on success).
"""

from __future__ import annotations

__all__ = ["ExportDialog", "QUALITY_TITLES", "BAD_FRAME_TITLES"]

import functools
import threading
from pathlib import Path

from PyQt6.QtCore import Qt, QUrl, pyqtSignal
from PyQt6.QtGui import QDesktopServices
from PyQt6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
)

from camvid_viewer.export import EXPORT_VIEWS, ExportOptions, output_plan
from camvid_viewer.export.dialog_backend import (
    default_output,
    existing_outputs,
    format_progress,
    output_problem,
    probe_source,
    run_export,
    window_wording,
)
from camvid_viewer.loaders import load_segmenter, model_files
from camvid_viewer.messages import one_line
from camvid_viewer.ui.background import BackgroundCall
from camvid_viewer.ui.form_widgets import button, choices, row, titled_group

QUALITY_TITLES = {"draft": "Draft (smaller file)", "standard": "Standard", "high": "High (encodes ~10x slower)"}
BAD_FRAME_TITLES = {"stop": "Stop with an error", "repeat": "Repeat the previous frame"}


# -- the dialog ------------------------------------------------------------------------------
class ExportDialog(QDialog):
    """Export options defaulting to ``session``'s state, then progress, Cancel, summary.

    Args:
        session: the window's ``ViewerSession``.
        parent: the window.
        segmenter_factory: a callable returning the model to export with (called on the worker
            thread); default: ``load_segmenter(session.model_path, device=..., backend=..., precision=...)``.

    Signals: ``export_started(str output)``, ``progress_changed(int done, int total)``,
    ``export_finished(str outcome)`` with outcome ``"done"``, ``"cancelled"`` or ``"failed"``
    (then ``result`` holds the ``ExportResult`` or ``message_label`` the one-line reason).
    """

    export_started = pyqtSignal(str)
    progress_changed = pyqtSignal(int, int)
    export_finished = pyqtSignal(str)

    def __init__(self, session, parent=None, *, segmenter_factory=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export overlay video")
        self.session = session
        self._make_segmenter = segmenter_factory or functools.partial(
            load_segmenter, session.model_path, device=session.device_choice, backend=session.backend_choice,
            precision=session.precision_choice, mode=session.inference_choice,
            **model_files(session, session.model_path))  # card, mapping as chosen
        self._call: BackgroundCall | None = None
        self._job_done = threading.Event()
        self._job_done.set()
        self._shown_running = False  # the form shows progress and Cancel
        self._probe_id = 0
        self._probed_path = ""
        self._confirmed_output: str | None = None  # confirmed in the save dialog
        self.result = None
        self._build()
        self._load_defaults()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.progress_bar = QProgressBar(visible=False)
        self.progress_label = QLabel(visible=False)
        self.message_label = QLabel(wordWrap=True, visible=False)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_folder_button = button("Open folder", self.open_output_folder, visible=False)
        self.export_button = button("Export", self.start, default=True)
        self.cancel_button = button("Cancel export", self.cancel, visible=False)
        self.close_button = button("Close", self.close)
        buttons = row(self.open_folder_button, None, self.export_button, self.cancel_button, self.close_button)

        layout = QVBoxLayout(self)
        self.form_groups = [titled_group("Input", self._build_inputs()), titled_group("Output", self._build_outputs()),
                            titled_group("Drawing", self._build_drawing())]
        for group in self.form_groups:
            layout.addWidget(group)
        for widget in (self.progress_bar, self.progress_label, self.message_label, buttons):
            layout.addWidget(widget)
        self.setMinimumWidth(640)

    def _build_inputs(self) -> QFormLayout:
        """Source, annotations and the frame range."""
        self.input_edit = QLineEdit(placeholderText="a video file or a folder of frames")
        self.input_edit.editingFinished.connect(lambda: self._input_changed(self.input_edit.text()))
        self.input_info = QLabel()
        self.input_info.setStyleSheet("color: palette(mid);")
        self.annotations_edit = QLineEdit(placeholderText="found beside the input (val -> valannot), if any")
        self.first_spin, self.last_spin = QSpinBox(), QSpinBox()
        self.fps_spin = QDoubleSpinBox(minimum=0.1, maximum=1000.0, value=15.0, decimals=2, suffix=" fps")
        frames = row(QLabel("from"), self.first_spin, QLabel("to"), self.last_spin, QLabel("at"), self.fps_spin, None)
        inputs = QFormLayout()
        inputs.addRow("Source:", row(self.input_edit, button("File...", self._browse_input_file),
                                     button("Folder...", self._browse_input_folder)))
        inputs.addRow("", self.input_info)
        inputs.addRow("Annotations:", row(self.annotations_edit, button(
            "Browse...", lambda: self._ask(self.annotations_edit, "Annotations folder (label PNGs)"))))
        inputs.addRow("Frames:", frames)
        return inputs

    def _build_outputs(self) -> QFormLayout:
        """The video, and the optional metrics CSV and masks folder."""
        self.output_edit = QLineEdit(placeholderText="the MP4 video to write")
        self.output_edit.textEdited.connect(lambda _: setattr(self, "_confirmed_output", None))
        self.csv_edit = QLineEdit(placeholderText="none (scores where annotated; confidence and flicker always)")
        self.masks_edit = QLineEdit(placeholderText="none")
        outputs = QFormLayout()
        outputs.addRow("Video (MP4):", row(self.output_edit, button("Save as...", self._browse_output)))
        outputs.addRow("Metrics CSV:", row(self.csv_edit, button(
            "Browse...", lambda: self._ask(self.csv_edit, "Per-frame metrics CSV", save="CSV (*.csv)"))))
        outputs.addRow("Masks folder:", row(self.masks_edit, button(
            "Browse...", lambda: self._ask(self.masks_edit, "Folder for the label PNGs"))))
        return outputs

    def _build_drawing(self) -> QFormLayout:
        """View, opacity, legend, hidden classes, quality, smoothing and the model's name."""
        self.view_box = QComboBox()
        for view in EXPORT_VIEWS:
            self.view_box.addItem(view.replace("-", " ").capitalize(), view)
        self.opacity_spin = QSpinBox(minimum=0, maximum=100, singleStep=5, suffix=" %")
        self.legend_check = QCheckBox("Class legend")
        self.hidden_check = QCheckBox()
        self.quality_box = choices(QUALITY_TITLES, "standard")
        self.bad_frame_box = choices(BAD_FRAME_TITLES, "stop")
        self.smoothing_check = QCheckBox("Temporal smoothing (average class probabilities over frames)")
        self.model_label = QLabel()
        drawing = QFormLayout()
        drawing.addRow("View:", row(self.view_box, QLabel("Opacity:"), self.opacity_spin, self.legend_check, None))
        drawing.addRow("", self.hidden_check)
        drawing.addRow("Quality:", row(self.quality_box, QLabel("Unreadable frame:"), self.bad_frame_box, None))
        drawing.addRow("", self.smoothing_check)
        drawing.addRow("Model:", self.model_label)
        return drawing

    # -- defaults from the window -------------------------------------------------------------
    def _load_defaults(self) -> None:
        s = self.session
        source = s.source
        if source is not None and not source.is_live:
            self.input_edit.setText(str(source.path))
            truth_dir = getattr(s.truth, "annotations_dir", None)
            self.annotations_edit.setText(str(truth_dir) if truth_dir else "")
            self.output_edit.setText(str(default_output(source.path)))
            self._show_input_info(source.kind, source.frame_count, source.fps, source.size)
        else:
            self.input_info.setText("Live streams cannot be exported; record them to a file first."
                                    if source is not None else "Choose a video or a folder of frames.")
        self.view_box.setCurrentIndex(max(0, self.view_box.findData(s.view)))
        self.opacity_spin.setValue(round(100 * s.opacity))
        self.legend_check.setChecked(bool(s.legend))
        names = [s.class_names[i] for i in sorted(s.hidden) if i < len(s.class_names)]
        self.hidden_check.setText(f"Leave out the classes hidden in the viewer: {', '.join(names)}")
        self.hidden_check.setChecked(bool(names))
        self.hidden_check.setVisible(bool(names))
        model = getattr(s.model, "name", None) or (Path(s.model_path).name if s.model_path else "the shipped model")
        self.model_label.setText(f"{model} (a second copy is loaded for the export)")

    def _input_changed(self, path: str) -> None:
        path = path.strip()
        current = self.session.source
        if current is not None and path == str(current.path):
            self._show_input_info(current.kind, current.frame_count, current.fps, current.size)
            return
        if not path or path == self._probed_path:
            return
        self._probed_path = path
        self._probe_id += 1
        probe_id = self._probe_id
        self.input_info.setText("Reading the input...")
        call = BackgroundCall(probe_source, path)
        call.done.connect(lambda info: probe_id == self._probe_id and self._show_input_info(*info))
        call.failed.connect(lambda text: probe_id == self._probe_id and self.input_info.setText(text))
        call.start()

    def _show_input_info(self, kind: str, count: int | None, fps: float, size) -> None:
        count = count or 0
        what = "frame folder" if kind == "folder" else kind
        self.input_info.setText(f"{count} frames, {size[0]}x{size[1]}, {what}" + (f" at {fps:g} fps" if kind == "video" else ""))
        self.fps_spin.setEnabled(kind == "folder")  # a video keeps its own rate (shown, greyed out)
        self.fps_spin.setValue(fps or 15.0)
        last = max(0, count - 1)
        for spin in (self.first_spin, self.last_spin):
            spin.setRange(0, last)
        self.first_spin.setValue(0)
        self.last_spin.setValue(last)

    # -- file choosers ------------------------------------------------------------------------
    def _browse_input_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Export which video?", self.input_edit.text(),
                                              "Videos (*.mp4 *.avi *.mkv *.mov *.webm *.m4v);;All files (*)")
        self._set_input(path)

    def _browse_input_folder(self) -> None:
        self._set_input(QFileDialog.getExistingDirectory(self, "Export which folder of frames?", self.input_edit.text()))

    def _set_input(self, path: str) -> None:
        if path:
            self.input_edit.setText(path)
            self.output_edit.setText(str(default_output(path)))
            self._confirmed_output = None
            self._input_changed(path)

    def _ask(self, edit: QLineEdit, title: str, *, save: str = "") -> None:
        """A folder (or, with ``save``, a file name) for ``edit``."""
        if save:
            path, _ = QFileDialog.getSaveFileName(self, title, edit.text(), save)
        else:
            path = QFileDialog.getExistingDirectory(self, title, edit.text())
        if path:
            edit.setText(path)

    def _browse_output(self) -> None:
        # Qt's save dialog asks before overwriting; a confirmed name is not asked about again.
        path, _ = QFileDialog.getSaveFileName(self, "Export video as", self.output_edit.text(), "MP4 video (*.mp4)")
        if path:
            path = path if path.lower().endswith(".mp4") else path + ".mp4"
            self.output_edit.setText(path)
            self._confirmed_output = path

    # -- running ------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return not self._job_done.is_set()

    def options(self, *, overwrite: bool = False) -> ExportOptions:
        """The export options the form shows."""
        def path(edit: QLineEdit) -> Path | None:
            return Path(edit.text().strip()) if edit.text().strip() else None

        return ExportOptions(
            view=self.view_box.currentData(), opacity=self.opacity_spin.value() / 100, legend=self.legend_check.isChecked(),
            hidden=frozenset(self.session.hidden) if self.hidden_check.isChecked() else frozenset(),
            start=self.first_spin.value(), stop=max(self.first_spin.value(), self.last_spin.value()) + 1,
            fps=self.fps_spin.value(), quality=self.quality_box.currentData(), annotations=path(self.annotations_edit),
            metrics_csv=path(self.csv_edit), masks_dir=path(self.masks_edit), overwrite=overwrite,
            on_bad_frame=self.bad_frame_box.currentData(),
        )

    def start(self) -> bool:
        """Check the form, confirm replacing files, start the export; False when it did not start."""
        if self.is_running():
            return False
        source, out = self.input_edit.text().strip(), self.output_edit.text().strip()
        if not source or not out:
            return self._fail("Choose a source and an output video first", emit=False)
        try:
            output = output_plan([source], out)[0][1]
        except Exception as exc:  # noqa: BLE001 - ExportError: one line naming the file
            return self._fail(window_wording(one_line(exc)), emit=False)
        if problem := output_problem(output):
            return self._fail(problem, emit=False)
        options = self.options()
        existing = existing_outputs(output=output, metrics_csv=options.metrics_csv, masks_dir=options.masks_dir)
        if existing and not (existing == [output] and self._confirmed_output == str(output)):
            names = "\n".join(str(p) for p in existing)
            answer = QMessageBox.question(self, "Replace existing files?", f"These already exist:\n{names}\n\nReplace them?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        options.overwrite = bool(existing)
        self.result = None
        self._job_done.clear()
        call = BackgroundCall(run_export, source, output, options=options, make_segmenter=self._make_segmenter,
                              smoothing=self.smoothing_check.isChecked())
        call.progress.connect(self._on_progress)
        call.done.connect(self._on_done)
        call.failed.connect(lambda text: self._fail(window_wording(text)))
        # Set on the worker thread itself, so shutdown() can wait for the clean-up without an event loop.
        call.finished.connect(self._job_done.set, Qt.ConnectionType.DirectConnection)
        self._call = call
        self._set_running(True)
        self.progress_bar.setRange(0, 0)  # busy until the first frame
        self.progress_label.setText("Starting...")
        self._release_modality()
        call.start()
        self.export_started.emit(str(output))
        return True

    def cancel(self) -> None:
        """Stop the export; ``export_finished("cancelled")`` follows once the temp files are gone."""
        if self._call is not None and self.is_running():
            self._call.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Cancelling...")

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Cancel a running export and wait until it has cleaned up (window or app closing)."""
        self.cancel()
        self._job_done.wait(timeout_s)

    def open_output_folder(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.result.output).parent)))

    def _release_modality(self) -> None:
        """Shown with ``exec()``? Go non-modal (ending ``exec``) so the viewer stays usable."""
        if self.isModal() and self.isVisible():
            self.hide()  # ends a running exec() loop
            self.setModal(False)
            self.setWindowModality(Qt.WindowModality.NonModal)
            self.show()

    def _on_progress(self, args: tuple) -> None:
        if len(args) == 1:
            self.progress_label.setText(str(args[0]))
            return
        done, total, fps = args
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)
        self.progress_label.setText(format_progress(done=done, total=total, fps=fps))
        self.progress_changed.emit(done, total)

    def _on_done(self, result) -> None:
        self.result = result
        self._set_running(False)
        if result is None:
            self._show_message("Export cancelled; nothing was written.")
            self.export_finished.emit("cancelled")
            return
        self.progress_bar.setRange(0, max(1, result.frames))
        self.progress_bar.setValue(self.progress_bar.maximum())
        self._show_message("; ".join(result.summary().splitlines()))
        self.open_folder_button.setVisible(True)
        self.export_finished.emit("done")

    def _fail(self, text: str, *, emit: bool = True) -> bool:
        self._set_running(False)
        self._show_message(text, error=True)
        if emit:
            self.export_finished.emit("failed")
        return False

    def _show_message(self, text: str, *, error: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet("color: #b00020;" if error else "")
        self.message_label.setVisible(True)

    def _set_running(self, running: bool) -> None:
        self._shown_running = running
        for group in self.form_groups:
            group.setEnabled(not running)
        self.export_button.setVisible(not running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.progress_bar.setVisible(running or self.result is not None)
        self.progress_label.setVisible(running)
        if running:
            self.message_label.setVisible(False)
            self.open_folder_button.setVisible(False)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        # Ask only while the form shows a running export: once its result is shown, the worker
        # thread may still be finishing for a moment, and there is nothing left to stop.
        if self._shown_running and self.is_running():
            answer = QMessageBox.question(self, "Stop the export?", "Stop the export? Nothing will be written.")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.cancel()
        # Accepted here, not by QDialog.closeEvent: that calls reject(), which closes again.
        event.accept()

    def reject(self) -> None:  # Esc: close the same way as the window's close button
        self.close()
