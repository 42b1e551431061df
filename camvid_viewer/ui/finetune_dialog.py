"""The training dialog in its fine-tune mode: start from a model, train on the user's labelled frames.

Model > Fine-tune on my labels... (:mod:`camvid_viewer.ui.finetune_menu`) opens it prefilled from the
window. It runs ``main.py train --init MODEL --data FRAMES --annotations LABELS [--replay CAMVID_ROOT]``
in the same child process, with the same progress, plots and log as :class:`TrainDialog`; at
the end it shows the parent's and the new model's scores on the held-out labelled frames, per class.
"""

from __future__ import annotations

__all__ = ["FinetuneDialog"]

from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from camvid_viewer import training as job
from camvid_viewer.training import finetune_job
from camvid_viewer.ui.form_widgets import titled_group
from camvid_viewer.ui.train_dialog import TrainDialog
from model.classes import LabelSet

BETTER, WORSE = QColor("#1b7a2e"), QColor("#b00020")


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


class FinetuneDialog(TrainDialog):
    """Fine-tune a model on labelled frames; ``model_chosen``/``compare_chosen`` as in :class:`TrainDialog`."""

    def __init__(self, parent: QWidget | None = None, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self.setWindowTitle("Fine-tune on my labels")
        self.resume_last_button.hide()  # a fine-tune is short: run it again rather than resume it
        self.best_label.setText("No fine-tuned model yet.")
        self.best_label.parentWidget().setTitle("The fine-tuned model")  # TrainDialog's "Best checkpoint" box

    # ----- layout
    def _build(self) -> None:
        super()._build()
        self.result_table = QTableWidget(0, 4)
        self.result_table.setHorizontalHeaderLabels(["Class", "Before (IoU)", "After (IoU)", "Change"])
        self.result_table.verticalHeader().hide()
        self.result_table.verticalHeader().setDefaultSectionSize(22)  # the means and 11 classes in view
        self.result_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.result_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.result_caption = QLabel("When the run ends: the model before and after, on the held-out labelled frames.",
                                     wordWrap=True)
        box = QGroupBox("Before / after on the held-out labelled frames")
        layout = QVBoxLayout(box)
        layout.addWidget(self.result_caption)
        layout.addWidget(self.result_table)
        splitter: QSplitter = self.plots.parentWidget()  # the plots over the log (TrainDialog._build)
        splitter.insertWidget(1, box)
        splitter.setSizes([360, 380, 100])

    def _build_settings(self) -> QGroupBox:
        """Start from, frames, labels (their count), replay, hold-out share, schedule, output."""
        form = QFormLayout()
        self.init_edit = QLineEdit(placeholderText="the model to start from (.safetensors)")
        form.addRow("Start from", self._with_browse(self.init_edit, self._browse_init))
        self.data_edit = QLineEdit(placeholderText="the frame folder or video you labelled")
        form.addRow("Frames", self._with_browse(self.data_edit, self._browse_frames))
        self.annotations_edit = QLineEdit(placeholderText="its annotation folder (label PNGs saved in edit mode)")
        form.addRow("Labels", self._with_browse(self.annotations_edit, self._browse_annotations))
        self.labels_info = QLabel("No labels chosen.", wordWrap=True)
        form.addRow("", self.labels_info)
        self.replay_edit = QLineEdit(placeholderText="optional: a CamVid root, mixed in so the model does not forget it")
        form.addRow("Replay CamVid", self._with_browse(self.replay_edit, self._browse_replay))
        self.holdout_edit = QLineEdit("0.2")
        self.holdout_edit.setToolTip("share of the labelled frames never trained on, scored before and after")
        form.addRow("Hold out", self.holdout_edit)
        self._add_schedule_rows(form, epochs="2", lr="0.0003", photometric="basic")  # train --init's defaults
        self.out_edit = QLineEdit(placeholderText="the new model (.safetensors); the parent is never replaced")
        form.addRow("Output file", self._with_browse(self.out_edit, self._browse_out))
        self.resume_edit = QLineEdit()  # the plain dialog's; a fine-tune never resumes
        for edit in (self.init_edit, self.data_edit, self.annotations_edit, self.replay_edit, self.out_edit):
            edit.textChanged.connect(edit.setToolTip)  # long paths do not fit: show them whole
        for edit in (self.init_edit, self.data_edit, self.annotations_edit, self.holdout_edit):
            edit.editingFinished.connect(self._dataset_changed)
        return titled_group("Fine-tune settings", form)

    # ----- form
    def prefill(self, *, init: str | Path, data: str | Path | None, annotations: str | Path | None,
                replay: str | Path | None) -> None:
        """Fill the form from the window: its model, its source, its annotation folder, CamVid."""
        for edit, value in ((self.init_edit, init), (self.data_edit, data), (self.annotations_edit, annotations),
                            (self.replay_edit, replay)):
            edit.setText("" if value is None else str(value))
        self.out_edit.setText("")
        self._dataset_changed()

    def _browse_init(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Start from", self.init_edit.text(), "Checkpoints (*.safetensors)")
        if path:
            self.init_edit.setText(path)
            self._dataset_changed()

    def _browse_frames(self) -> None:
        current = self.data_edit.text().strip()
        if current and Path(current).is_file():
            path, _ = QFileDialog.getOpenFileName(self, "Video", current)
        else:
            path = QFileDialog.getExistingDirectory(self, "Frame folder", current)
        if path:
            self.data_edit.setText(path)
            self._dataset_changed()

    def _browse_annotations(self) -> None:
        self._browse_folder(self.annotations_edit, "Annotation folder", then=self._dataset_changed)

    def _browse_replay(self) -> None:
        self._browse_folder(self.replay_edit, "CamVid root")

    def labelled(self) -> finetune_job.LabelCount:
        """The labelled frames of the form's frames and labels."""
        try:
            share = float(self.holdout_edit.text())
        except ValueError:
            share = 0.2
        return finetune_job.count_labels(data=self.data_edit.text().strip(),
                                         annotations=self.annotations_edit.text().strip(), holdout=share)

    def _dataset_changed(self) -> None:
        try:  # the per-class bars: the classes of the model the run starts from
            self.plots.set_classes(LabelSet.from_card(job.read_checkpoint_card(path=self.init_edit.text().strip())))
        except (ValueError, TypeError):
            pass  # no model chosen yet, or not a checkpoint: Start says so
        if not (self.data_edit.text().strip() and self.annotations_edit.text().strip()):
            self.labels_info.setText("No labels chosen.")
        else:
            count = self.labelled()
            self.labels_info.setText(count.text())
            self.labels_info.setStyleSheet("color: #b00020;" if count.problem else "")
        self._refresh_default_out()

    def _refresh_default_out(self) -> None:
        """Propose a new file beside the user's models unless the user typed their own."""
        init = self.init_edit.text().strip()
        if init and self.out_edit.text() in ("", self._auto_out):
            self._auto_out = str(finetune_job.default_finetune_output(init=init, models_dir=self._models_dir))
            self.out_edit.setText(self._auto_out)

    # ----- running
    def _build_request(self) -> job.TrainRequest:
        return finetune_job.build_finetune_request(
            init=self.init_edit.text(), data=self.data_edit.text(), annotations=self.annotations_edit.text(),
            replay=self.replay_edit.text(), out=self.out_edit.text(), epochs=self.epochs_edit.text(),
            batch_size=self.batch_edit.text(), lr=self.lr_edit.text(), crop=self.crop_edit.text(),
            augment=self.augment_check.isChecked(), device=self.device_box.currentText(),
            holdout=self.holdout_edit.text(), max_steps_per_epoch=self._max_steps,
            photometric=self.photometric_box.currentText(),
        )

    def _locked_while_running(self) -> tuple[QWidget, ...]:
        return (self.init_edit, self.data_edit, self.annotations_edit, self.replay_edit, self.holdout_edit,
                self.out_edit)

    def start(self) -> bool:
        self.result_table.setRowCount(0)
        self.result_caption.setText("Training...")
        return super().start()

    def _show_checkpoints(self, request: job.TrainRequest) -> None:
        super()._show_checkpoints(request)
        try:
            result = finetune_job.before_after(card=job.read_checkpoint_card(path=request.out))
        except ValueError:
            result = None  # no model was saved: the label above says so
        if result is None:
            self.result_caption.setText("No held-out scores: the run held no labelled frame out, or saved no model.")
            return
        self.best_label.setText(f"{request.out}\nClose keeps this file without loading it; "
                                "Use this model loads it in the window.")
        self.result_caption.setText(f"{result.parent} before, the fine-tuned model after, on the same "
                                    f"{result.frames} held-out labelled frame{'' if result.frames == 1 else 's'}.")
        self.result_table.setRowCount(len(result.rows))
        for r, (name, before, after) in enumerate(result.rows):
            change = None if before is None or after is None else after - before
            cells = (name, _score(before), _score(after), "n/a" if change is None else f"{change:+.3f}")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignVCenter | (Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight))
                if c == 3 and change:
                    item.setForeground(BETTER if change > 0 else WORSE)
                if name in finetune_job.SUMMARY_ROWS.values():
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.result_table.setItem(r, c, item)

    def table_rows(self) -> list[tuple[str, ...]]:
        """The before/after table as text, row by row (what the user reads)."""
        t = self.result_table
        return [tuple(t.item(r, c).text() for c in range(t.columnCount())) for r in range(t.rowCount())]
