"""The training dialog's form: dataset, backbone, schedule, augmentation, device, files, progress.

A mixin of :class:`~camvid_viewer.ui.train_dialog.TrainDialog` (and so of the fine-tune dialog),
kept apart from the child process it starts and watches.
"""

from __future__ import annotations

__all__ = ["PHOTOMETRIC_CHOICES", "TrainForm"]

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer import training as job
from camvid_viewer.ui.form_widgets import button, row, titled_group
from camvid_viewer.ui.train_plots import TrainingPlots

PHOTOMETRIC_CHOICES = ("strong", "basic")  #: ``train --photometric``, the measured best first


class TrainForm:
    """Builds the widgets (``data_edit``, ``epochs_edit``, ...) the dialog reads when it starts a run."""

    # ----- layout
    def _build(self) -> None:
        left = QVBoxLayout()
        settings, buttons = self._build_settings(), self._build_buttons()
        for w in (settings, self.message_label, buttons, *self._build_progress()):
            left.addWidget(w)
        left.addStretch(1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setFixedWidth(440)

        self.log_view = QPlainTextEdit(readOnly=True, maximumBlockCount=5000)
        self.log_view.setPlaceholderText("Training log")
        self.plots = TrainingPlots()
        p = self.plots  # its curves and bars, also reachable from the dialog
        self.loss_curve, self.acc_curve, self.miou_curve, self.class_bars = p.loss_curve, p.acc_curve, p.miou_curve, p.class_bars
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plots)
        splitter.addWidget(self.log_view)
        splitter.setSizes([620, 180])
        layout = QHBoxLayout(self)
        layout.addWidget(left_widget)
        layout.addWidget(splitter, 1)

    def _build_settings(self) -> QGroupBox:
        """The run settings form: dataset, backbone, schedule, device, output and resume files."""
        form = QFormLayout()
        self.data_edit = QLineEdit(placeholderText="folder with train/ + trainannot/ (and val/ + valannot/)")
        self.data_edit.editingFinished.connect(self._dataset_changed)
        form.addRow("Dataset", self._with_browse(self.data_edit, self._browse_data))
        self.dataset_info = QLabel("No dataset chosen.", wordWrap=True)
        form.addRow("", self.dataset_info)
        self.backbone_box = QComboBox()
        self.backbone_box.addItems(job.BACKBONES)
        self.backbone_box.currentTextChanged.connect(lambda _: self._refresh_default_out())
        form.addRow("Backbone", self.backbone_box)
        self._add_schedule_rows(form, epochs="40", lr="0.001")
        self.out_edit = QLineEdit(placeholderText="where the best model is saved (.safetensors)")
        form.addRow("Output file", self._with_browse(self.out_edit, self._browse_out))
        self.resume_edit = QLineEdit(placeholderText="optional: a .last.safetensors file to continue")
        for edit in (self.data_edit, self.out_edit, self.resume_edit):  # long paths do not fit: show them whole
            edit.textChanged.connect(edit.setToolTip)
        form.addRow("Resume from", self._with_browse(self.resume_edit, self._browse_resume))
        return titled_group("Run settings", form)

    def _add_schedule_rows(self, form: QFormLayout, *, epochs: str, lr: str, photometric: str = "strong") -> None:
        """Epochs, batch size, learning rate, crop, augmentation and device (the fine-tune dialog's too)."""
        self.epochs_edit, self.batch_edit = QLineEdit(epochs), QLineEdit("8")
        self.lr_edit, self.crop_edit = QLineEdit(lr), QLineEdit("288x384")
        self.crop_edit.setToolTip("training crop, HEIGHTxWIDTH in pixels")
        for label, edit in (("Epochs", self.epochs_edit), ("Batch size", self.batch_edit),
                            ("Learning rate", self.lr_edit), ("Crop (HxW)", self.crop_edit)):
            form.addRow(label, edit)
        self.augment_check = QCheckBox("scale jitter, flips, colour jitter", checked=True)
        form.addRow("Augmentation", self.augment_check)
        self.photometric_box = QComboBox()
        self.photometric_box.addItems(PHOTOMETRIC_CHOICES)
        self.photometric_box.setCurrentText(photometric)
        self.photometric_box.setToolTip("strong: also gamma, white balance, hue, blur and noise, so other light and "
                                        "weather look familiar (+11.6 mIoU points on a drive the model never saw)")
        self.augment_check.toggled.connect(self.photometric_box.setEnabled)
        form.addRow("Light and colour", self.photometric_box)
        self.device_box = QComboBox()
        self.device_box.addItems(job.DEVICES)
        form.addRow("Device", self.device_box)

    def _build_buttons(self) -> QWidget:
        """Start / Stop on the left, Close on the right; the form's message label above them."""
        self.message_label = QLabel(wordWrap=True, styleSheet="color: #b00020;")
        self.start_button = QPushButton("Start", clicked=self.start, default=True)
        self.stop_button = QPushButton("Stop", clicked=self.stop, enabled=False)
        self.close_button = QPushButton("Close", clicked=self.close)
        return row(self.start_button, self.stop_button, None, self.close_button)

    def _build_progress(self) -> list[QWidget]:
        """The epoch and run bars, the clock, and the best checkpoint with its buttons."""
        self.epoch_bar, self.run_bar = QProgressBar(), QProgressBar()
        self.epoch_bar.setFormat("epoch: %p%")
        self.run_bar.setFormat("run: %p%")
        self.time_label = QLabel("elapsed --:--   ETA --:--")
        self.best_label = QLabel("No checkpoint yet.", wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_button = QPushButton("Use this model", clicked=self._use_best, enabled=False)
        self.compare_button = QPushButton("Compare with the current model", clicked=self._compare_best, enabled=False)
        self.compare_button.setToolTip("Keep the window's model as A and show this checkpoint beside it as B")
        self.resume_last_button = QPushButton("Resume last run", clicked=self._resume_last, enabled=False)
        best_box = QGroupBox("Best checkpoint")
        best_layout = QVBoxLayout(best_box)
        best_layout.addWidget(self.best_label)
        best_layout.addWidget(row(self.use_button, self.compare_button, self.resume_last_button))
        return [self.epoch_bar, self.run_bar, self.time_label, best_box]

    @staticmethod
    def _with_browse(edit: QLineEdit, slot) -> QWidget:
        return row(edit, button("Browse...", slot))

    # ----- form
    def _browse_folder(self, edit: QLineEdit, title: str, *, then=None) -> None:
        """Ask for a folder into ``edit``; ``then()`` after a choice (not after Cancel)."""
        folder = QFileDialog.getExistingDirectory(self, title, edit.text())
        if folder:
            edit.setText(folder)
            if then is not None:
                then()

    def _browse_data(self) -> None:
        self._browse_folder(self.data_edit, "Dataset folder", then=self._dataset_changed)

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the model as", self.out_edit.text(), "Checkpoints (*.safetensors)")
        if path:
            self.out_edit.setText(path if path.endswith(".safetensors") else path + ".safetensors")

    def _browse_resume(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Resume from", self.resume_edit.text(), "Checkpoints (*.safetensors)")
        if path:
            self.resume_edit.setText(path)

    def _dataset_changed(self) -> None:
        text = self.data_edit.text().strip()
        summary = job.describe_dataset(root=text) if text else None
        self.dataset_info.setText(summary.text() if summary else "No dataset chosen.")
        if summary is not None and summary.label_set is not None:
            self.plots.set_classes(summary.label_set)  # the per-class bars: the dataset's classes
        self._refresh_default_out()

    def _refresh_default_out(self) -> None:
        """Propose a new output file unless the user typed their own."""
        if self.data_edit.text().strip() and self.out_edit.text() in ("", self._auto_out):
            self._auto_out = str(job.default_output_path(data_root=self.data_edit.text().strip(),
                                                         backbone=self.backbone_box.currentText(), models_dir=self._models_dir))
            self.out_edit.setText(self._auto_out)
